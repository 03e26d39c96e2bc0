/**
 * This node's side of call takeover in Redis: it writes its answered calls' snapshots (opaque
 * JSON, by SIP Call-ID) and their RTP positions, renews its takeover heartbeat, and claims the
 * calls of dead nodes, each call by exactly one node (takeover-scripts.ts). What a snapshot
 * holds, and how a call is resumed from it, is the gateway's business.
 *
 * Calls are owned by the process, not the node id: a node restarted within `deadAfterMs` would
 * otherwise beat as its crashed self, and the crashed process's calls would never be claimed.
 */
import { randomBytes } from 'node:crypto';
import type { RedisLink } from './redis-link.js';
import {
  CLAIM_CALL,
  GIVE_BACK,
  REMOVE_SNAPSHOT,
  TAKEOVER_BEAT,
  takeoverKeys,
  WRITE_SNAPSHOTS,
} from './takeover-scripts.js';

/**
 * One call's entry in a write: `snapshot` undefined when unchanged since the last write;
 * `generation`: the one this node carries the call at (FIRST_GENERATION where it was answered,
 * a claim's otherwise); `mayBeTakenOver`: this node wrote the call before and may have been
 * taken for dead since, so no owner in a Redis that kept its data does not make the call its
 * own again (another node may have taken it over and ended it, and the tombstone expired).
 */
interface SnapshotWrite {
  sipCallId: string;
  snapshot: string | undefined;
  position: string;
  generation: number;
  mayBeTakenOver?: boolean;
}

/**
 * What a write found: calls this node lost (another node owns them at a higher generation, or
 * they ended there), calls whose snapshot Redis lacks (to be sent whole), marked calls no node
 * owns (not this node's again), and whether Redis lost its data since this node's last write
 * (then every call was written again, marked or not).
 */
interface WriteResult {
  lost: string[];
  missing: string[];
  unowned: string[];
  dataLost: boolean;
}

/** A call's generation where it was answered; each claim adds one. */
export const FIRST_GENERATION = 1;

/**
 * A call claimed from a dead node (or owned here already: `mine`, `unconfirmed`), with the
 * generation this node now carries it at.
 */
export interface ClaimedCall {
  sipCallId: string;
  snapshot: string;
  position: string;
  generation: number;
}

type ClaimResult =
  | { kind: 'claimed'; call: ClaimedCall }
  | { kind: 'mine'; call?: ClaimedCall }
  | { kind: 'alive'; node: string }
  | { kind: 'unknown' };

interface CallSnapshotsOptions {
  link: RedisLink;
  nodeId: string;
  deadAfterMs: number;
  /** This process's owner name; default: the node id and a random suffix. */
  owner?: string;
}

/** The floor of the snapshots' retention (the fixed 60 s they always had). */
const MIN_RETENTION_MS = 60_000;
/** Past `2 x deadAfterMs`: a claim, a late last write and a slow beat. */
const RETENTION_MARGIN_MS = 10_000;

/**
 * How long a node's snapshots outlive its last write: longer than it takes to count it dead and
 * claim its calls, however large `deadAfterMs` is.
 */
export function snapshotRetentionMs(deadAfterMs: number): number {
  return Math.max(MIN_RETENTION_MS, 2 * deadAfterMs + RETENTION_MARGIN_MS);
}

/** A process's owner name: `nodeId~` and 8 random hex digits, new at each start. */
export function incarnationOf(nodeId: string): string {
  return `${nodeId}~${randomBytes(4).toString('hex')}`;
}

export class CallSnapshots {
  /** The node's stable id (records, logs). */
  readonly nodeId: string;
  /** This process's name as the owner of its calls in Redis. */
  readonly owner: string;
  readonly #options: CallSnapshotsOptions;
  readonly #retentionMs: number;
  /** The epoch Redis had at this node's last write (see WRITE_SNAPSHOTS); '' before the first. */
  #epoch = '';

  constructor(options: CallSnapshotsOptions) {
    this.#options = options;
    this.nodeId = options.nodeId;
    this.owner = options.owner ?? incarnationOf(options.nodeId);
    this.#retentionMs = snapshotRetentionMs(options.deadAfterMs);
    const { link } = options;
    link.defineScript('patchbayWriteSnapshots', WRITE_SNAPSHOTS);
    link.defineScript('patchbayRemoveSnapshot', REMOVE_SNAPSHOT);
    link.defineScript('patchbayTakeoverBeat', TAKEOVER_BEAT);
    link.defineScript('patchbayClaimCall', CLAIM_CALL);
    link.defineScript('patchbayGiveBack', GIVE_BACK);
  }

  /** Redis is connected: a write sent now may run even if its reply is lost. */
  get reachable(): boolean {
    return this.#options.link.up;
  }

  /** One round trip for every call (see WRITE_SNAPSHOTS); rejects while Redis is unreachable. */
  async write(writes: readonly SnapshotWrite[]): Promise<WriteResult> {
    const fresh = randomBytes(8).toString('hex');
    const { link, deadAfterMs } = this.#options;
    const args: Array<string | number> = [
      this.owner,
      this.#retentionMs,
      deadAfterMs,
      this.#epoch,
      fresh,
      writes.length,
    ];
    for (const write of writes)
      args.push(
        write.sipCallId,
        write.snapshot ?? '',
        write.position,
        write.generation,
        write.mayBeTakenOver ? 1 : 0,
      );
    const [lost, missing, unowned, epoch, forgot] = (await link.run(
      'patchbayWriteSnapshots',
      [...this.#ownKeys(), takeoverKeys.epoch, takeoverKeys.alive],
      args,
    )) as [string[], string[], string[], string, number];
    this.#epoch = epoch;
    return { lost, missing, unowned, dataLost: forgot === 1 };
  }

  /**
   * The call ended here: its snapshot goes (unless another node owns it now), and a tombstone
   * outlives what a node taken for dead may still write of it.
   */
  async remove(sipCallId: string, generation: number): Promise<void> {
    const tombstoneMs = this.#options.deadAfterMs + this.#retentionMs + RETENTION_MARGIN_MS;
    await this.#options.link.run(
      'patchbayRemoveSnapshot',
      [...this.#ownKeys(), takeoverKeys.ended(sipCallId)],
      [this.owner, sipCallId, tombstoneMs, generation],
    );
  }

  /**
   * Renews this node's heartbeat and claims at most `maxClaims` calls of dead nodes; with
   * `takesNone` (draining, or full) the others share the dead nodes' calls without it.
   * `unconfirmed`: calls this process claimed before and no write has carried since (being
   * resumed, or claimed by a script whose reply was lost).
   */
  async beat(
    maxClaims: number,
    takesNone: boolean,
  ): Promise<{ claimed: ClaimedCall[]; unconfirmed: ClaimedCall[] }> {
    const { link, deadAfterMs } = this.#options;
    const [claimed, unconfirmed] = (await link.run(
      'patchbayTakeoverBeat',
      [takeoverKeys.alive, takeoverKeys.draining, takeoverKeys.owner],
      [this.owner, deadAfterMs, maxClaims, takesNone ? 1 : 0, this.#retentionMs],
    )) as [string[], string[]];
    return { claimed: callsOf(claimed), unconfirmed: callsOf(unconfirmed) };
  }

  /**
   * Calls this process owns but cannot take now go back to the others (a node counted dead at
   * once, see GIVE_BACK); resolves to how many moved.
   */
  async giveBack(sipCallIds: readonly string[]): Promise<number> {
    return (await this.#options.link.run(
      'patchbayGiveBack',
      [takeoverKeys.alive, takeoverKeys.owner],
      [this.owner, this.#retentionMs, ...sipCallIds],
    )) as number;
  }

  /** Claims one call now if its owner is dead (an in-dialog request for it reached this node). */
  async claim(sipCallId: string): Promise<ClaimResult> {
    const reply = (await this.#options.link.run(
      'patchbayClaimCall',
      [takeoverKeys.alive, takeoverKeys.owner],
      [this.owner, sipCallId, this.#retentionMs, this.#options.deadAfterMs],
    )) as string[];
    const [kind, first, second, third] = reply;
    const call =
      first === undefined
        ? undefined
        : { sipCallId, snapshot: first, position: second ?? '', generation: generationOf(third) };
    if (kind === 'claimed' && call) return { kind, call };
    if (kind === 'alive' && first !== undefined) return { kind, node: first };
    if (kind === 'mine') return call ? { kind, call } : { kind };
    return { kind: 'unknown' };
  }

  #ownKeys(): string[] {
    const node = this.owner;
    return [
      takeoverKeys.owner,
      takeoverKeys.snapshots(node),
      takeoverKeys.positions(node),
      takeoverKeys.claimed(node),
    ];
  }
}

/** A script's flat (Call-ID, snapshot, position, generation) list. */
function callsOf(flat: readonly string[]): ClaimedCall[] {
  const calls: ClaimedCall[] = [];
  for (let i = 0; i + 3 < flat.length; i += 4)
    calls.push({
      sipCallId: flat[i] as string,
      snapshot: flat[i + 1] as string,
      position: flat[i + 2] as string,
      generation: generationOf(flat[i + 3]),
    });
  return calls;
}

/** A generation as a script returns it (a decimal string). */
function generationOf(text: string | undefined): number {
  const generation = Number(text);
  return Number.isSafeInteger(generation) && generation >= FIRST_GENERATION ? generation : FIRST_GENERATION;
}
