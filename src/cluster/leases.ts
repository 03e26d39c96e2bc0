/**
 * Concurrency across the cluster as leases: each admitted call holds a lease on its trunk and
 * one gateway-wide, with an expiry that the owning node's heartbeat pushes forward. A node that
 * dies stops renewing, so its slots free themselves within `leaseTtlMs` with no one cleaning up.
 *
 * This node keeps its own leases in memory too: they are what it decides on while Redis is
 * unreachable (its share of each cap), and what its heartbeat re-registers once Redis is back,
 * so calls in progress are counted again without being touched.
 */
import type { CallSummary } from '../control/index.js';
import type { Logger } from '../util/index.js';
import { type LocalShare, shareOfCount } from './local-share.js';
import type { RedisLink } from './redis-link.js';
import { ACQUIRE, keys, RELEASE } from './scripts.js';

/** A call as the registry lists it: its summary and the node that owns it. */
export interface ClusterCallEntry {
  node: string;
  call: CallSummary;
}

export interface LeaseRequest {
  callId: string;
  trunk: string;
  /** The trunk's `maxConcurrentCalls`. */
  trunkMax: number;
  /** The call's current summary; read again at every heartbeat. */
  summary(): CallSummary;
}

export type ClusterSlot = { ok: true; release(): void } | { ok: false; scope: 'trunk' | 'cluster' };

/** One lease renewal or release as the heartbeat sends it. */
export interface LeaseRef {
  callId: string;
  trunk: string;
}

export interface ClusterLeasesOptions {
  link: RedisLink;
  nodeId: string;
  leaseTtlMs: number;
  /** `cluster.maxCalls`: calls across every node, undefined for no cap. */
  clusterMax: number | undefined;
  localShare: LocalShare;
  liveNodes(): number;
  logger: Logger;
}

/** Releases that failed while Redis was away, sent with the next heartbeat; beyond this, expiry frees them. */
const MAX_PENDING_RELEASES = 10_000;

export class ClusterLeases {
  readonly #options: ClusterLeasesOptions;
  /** This node's calls holding leases, by call id. */
  readonly #held = new Map<string, LeaseRequest>();
  readonly #pendingReleases = new Map<string, LeaseRef>();

  constructor(options: ClusterLeasesOptions) {
    this.#options = options;
    options.link.defineScript('patchbayLeaseAcquire', ACQUIRE);
    options.link.defineScript('patchbayLeaseRelease', RELEASE);
  }

  /** Calls on this node holding a lease. */
  get size(): number {
    return this.#held.size;
  }

  /** One round trip: the trunk's and the gateway-wide lease together, or neither. */
  async acquire(request: LeaseRequest): Promise<ClusterSlot> {
    const { link, leaseTtlMs, clusterMax } = this.#options;
    let reply: unknown;
    try {
      reply = await link.run(
        'patchbayLeaseAcquire',
        [keys.trunkLeases(request.trunk), keys.allLeases, keys.calls],
        [request.callId, request.trunkMax, clusterMax ?? 0, leaseTtlMs, this.entry(request)],
      );
    } catch {
      return this.#acquireLocally(request);
    }
    const [granted, scope] = reply as [number, 'trunk' | 'cluster' | undefined];
    if (granted !== 1) return { ok: false, scope: scope ?? 'trunk' };
    return this.#hold(request);
  }

  /** The registry entry of a held call, as JSON. */
  entry(request: LeaseRequest): string {
    const entry: ClusterCallEntry = { node: this.#options.nodeId, call: request.summary() };
    return JSON.stringify(entry);
  }

  /** Held calls to renew, and releases still owed to Redis, for the heartbeat. */
  heartbeatWork(): { held: LeaseRequest[]; released: LeaseRef[] } {
    return { held: [...this.#held.values()], released: [...this.#pendingReleases.values()] };
  }

  /** The heartbeat carried these releases. */
  releasesSent(released: readonly LeaseRef[]): void {
    for (const ref of released) this.#pendingReleases.delete(ref.callId);
  }

  /** The heartbeat found these calls' entries naming another node (it took them over): not renewed again. */
  ownedElsewhere(callIds: readonly string[]): void {
    for (const callId of callIds) this.#held.delete(callId);
  }

  /** While Redis is unreachable: this node's share of each cap, over its own calls. */
  #acquireLocally(request: LeaseRequest): ClusterSlot {
    const { localShare, liveNodes, clusterMax } = this.#options;
    const nodes = liveNodes();
    let onTrunk = 0;
    for (const held of this.#held.values()) if (held.trunk === request.trunk) onTrunk++;
    if (onTrunk >= shareOfCount(request.trunkMax, localShare, nodes)) return { ok: false, scope: 'trunk' };
    if (clusterMax !== undefined && this.#held.size >= shareOfCount(clusterMax, localShare, nodes))
      return { ok: false, scope: 'cluster' };
    return this.#hold(request);
  }

  #hold(request: LeaseRequest): ClusterSlot {
    this.#held.set(request.callId, request);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        // The id may be held again since (a call taken back over): that lease is not this one.
        if (this.#held.get(request.callId) === request) this.#held.delete(request.callId);
        void this.#release({ callId: request.callId, trunk: request.trunk });
      },
    };
  }

  async #release(ref: LeaseRef): Promise<void> {
    try {
      await this.#options.link.run(
        'patchbayLeaseRelease',
        [keys.trunkLeases(ref.trunk), keys.allLeases, keys.calls],
        [ref.callId, this.#options.nodeId],
      );
    } catch {
      if (this.#pendingReleases.size >= MAX_PENDING_RELEASES) {
        this.#options.logger.debug({ callId: ref.callId }, 'lease release left to expiry');
        return;
      }
      this.#pendingReleases.set(ref.callId, ref);
    }
  }
}
