/**
 * One node's membership of a patchbay cluster: the shared Redis link, the CPS store, the
 * concurrency leases, the call registry and the trunk-health sharing, kept alive by one
 * heartbeat every `heartbeatMs` (one round trip for liveness, every lease and every registry
 * entry, one more for trunk health and Retry-After holds).
 *
 * Redis lost: the node logs it once, decides on local state (its share of each limit, N the
 * live nodes last counted) and calls in progress go on untouched. Redis back: the next
 * heartbeat, run at once, re-registers the leases and registry entries of every live call and
 * sends the releases that failed meanwhile. Scripts that fail while Redis is connected (error
 * replies, missed deadlines) fall back the same way, logged once per streak.
 */
import type { ClusterConfig } from '../config/index.js';
import { type CpsStore, MemoryCpsStore } from '../trunks/index.js';
import type { Clock, Logger, TimerHandle } from '../util/index.js';
import { CallSnapshots } from './call-snapshots.js';
import { ClusterCalls } from './calls.js';
import { ClusterLeases } from './leases.js';
import { LocalShareCpsStore } from './local-share.js';
import { RedisCpsStore } from './redis-cps-store.js';
import { type RedisErrorKind, RedisLink } from './redis-link.js';
import { HEARTBEAT, keys, LEAVE } from './scripts.js';
import { type ShareableHealth, SharedHealth } from './shared-health.js';

/** What a node tells the others about itself at each heartbeat. */
interface NodeInfo {
  apiUrl: string;
  calls: number;
  maxCalls: number;
  draining: boolean;
}

interface ClusterOptions {
  config: ClusterConfig;
  /** `config.nodeId`, or the default the gateway derives (host name and SIP port). */
  nodeId: string;
  /** `config.apiUrl`, or the default the gateway derives from `api.host` and `api.port`. */
  apiUrl: string;
  /** The control API's bearer token, for forwarded requests. */
  apiToken: string | undefined;
  clock: Clock;
  logger: Logger;
  health: ShareableHealth;
  /** This node's load for its info record. */
  load(): Omit<NodeInfo, 'apiUrl'>;
  /** A link already made (tests); by default one is connected to `config.redis`. */
  link?: RedisLink;
}

export class Cluster {
  readonly nodeId: string;
  readonly apiUrl: string;
  readonly cps: CpsStore;
  readonly leases: ClusterLeases;
  readonly calls: ClusterCalls;
  /** Call takeover's store (`cluster.takeover.enabled`); undefined when off. */
  readonly snapshots: CallSnapshots | undefined;
  readonly #options: ClusterOptions;
  readonly #link: RedisLink;
  readonly #health: SharedHealth;
  #liveNodes = 1;
  #timer: TimerHandle | undefined;
  /** The heartbeat in flight: a second request waits for it rather than sending another. */
  #beating: Promise<void> | undefined;
  #left = false;
  #closed = false;

  constructor(options: ClusterOptions) {
    const { config, nodeId, logger } = options;
    this.#options = options;
    this.nodeId = nodeId;
    this.apiUrl = options.apiUrl;
    this.#link = options.link ?? RedisLink.connect(config.redis);
    const link = this.#link;
    link.defineScript('patchbayHeartbeat', HEARTBEAT);
    link.defineScript('patchbayLeave', LEAVE);
    link.on('down', (reason) =>
      logger.warn({ err: reason, liveNodes: this.#liveNodes }, 'redis unreachable: deciding on local state'),
    );
    link.on('up', () => {
      logger.info({}, 'redis reachable again: re-registering live calls');
      void this.heartbeat();
    });
    link.on('failing', (kind, reason) =>
      logger.warn({ kind, err: reason }, 'redis scripts failing: deciding on local state'),
    );
    link.on('recovered', (failures) => logger.info({ failures }, 'redis scripts answering again'));
    const liveNodes = () => this.#liveNodes;
    this.cps = new RedisCpsStore(link, {
      failurePolicy: 'failOpen',
      localFallback:
        config.localCpsShare === 'full' ? new MemoryCpsStore() : new LocalShareCpsStore('divide', liveNodes),
    });
    this.leases = new ClusterLeases({
      link,
      nodeId,
      leaseTtlMs: config.leaseTtlMs,
      clusterMax: config.maxCalls,
      localShare: config.localCpsShare,
      liveNodes,
      logger,
    });
    this.calls = new ClusterCalls({ link, nodeId, token: options.apiToken });
    this.snapshots = config.takeover?.enabled
      ? new CallSnapshots({ link, nodeId, deadAfterMs: config.takeover.deadAfterMs })
      : undefined;
    this.#health = new SharedHealth(link, options.health, nodeId, config.leaseTtlMs);
  }

  get redisUp(): boolean {
    return this.#link.up;
  }

  /** Failed Redis scripts since start, by kind. */
  get redisErrors(): Readonly<Record<RedisErrorKind, number>> {
    return this.#link.errors;
  }

  /** Live nodes at the last heartbeat that reached Redis (this one included; 1 before any). */
  get liveNodes(): number {
    return this.#liveNodes;
  }

  /** Joins at once, then beats every `heartbeatMs`. */
  start(): void {
    void this.heartbeat();
    this.#schedule();
  }

  /** One heartbeat now; resolves when done (a failure only means Redis is away). */
  heartbeat(): Promise<void> {
    if (this.#left || this.#closed) return Promise.resolve();
    this.#beating ??= (async () => {
      try {
        await this.#beat();
        await this.#health.share();
      } finally {
        this.#beating = undefined;
      }
    })();
    return this.#beating;
  }

  /**
   * After drain or at stop: stops the heartbeat and removes this node from the live set (once).
   * Leases were released by each call as it ended; any still owed to Redis go with a last
   * heartbeat.
   */
  async leave(): Promise<void> {
    if (this.#left || this.#closed) return;
    this.#timer?.cancel();
    await this.heartbeat();
    this.#left = true;
    await this.#link.run('patchbayLeave', [keys.nodes, keys.nodeInfo], [this.nodeId]).catch(() => undefined);
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.cancel();
    this.#health.close();
    this.#link.close();
  }

  #schedule(): void {
    this.#timer = this.#options.clock.setTimer(this.#options.config.heartbeatMs, () => {
      void this.heartbeat();
      this.#schedule();
    });
  }

  async #beat(): Promise<void> {
    const { held, released } = this.leases.heartbeatWork();
    const info: NodeInfo = { apiUrl: this.apiUrl, ...this.#options.load() };
    const heartbeatKeys = [keys.nodes, keys.nodeInfo, keys.allLeases, keys.calls];
    const args: Array<string | number> = [
      this.nodeId,
      this.#options.config.leaseTtlMs,
      JSON.stringify(info),
      held.length,
      released.length,
    ];
    for (const call of held) {
      heartbeatKeys.push(keys.trunkLeases(call.trunk));
      args.push(call.callId, this.leases.entry(call));
    }
    for (const ref of released) {
      heartbeatKeys.push(keys.trunkLeases(ref.trunk));
      args.push(ref.callId);
    }
    try {
      const [liveNodes, lost] = (await this.#link.run('patchbayHeartbeat', heartbeatKeys, args)) as [
        number,
        string[],
      ];
      this.#liveNodes = Math.max(1, Number(liveNodes));
      this.leases.releasesSent(released);
      this.leases.ownedElsewhere(lost);
    } catch {
      // Redis away: the link has said so once; the next heartbeat after `up` resynchronises.
    }
  }
}

/** `cluster.nodeId` when unset: the host name and the node's first SIP port. */
export function defaultNodeId(hostName: string, sipPort: number): string {
  return `${hostName}:${sipPort}`.replace(/[^A-Za-z0-9._:-]/g, '-').slice(0, 64);
}

/** `cluster.apiUrl` when unset: the control API's own address (the schema refuses a wildcard). */
export function defaultApiUrl(api: { host: string; port: number }): string {
  const host = api.host.includes(':') ? `[${api.host}]` : api.host;
  return `http://${host}:${api.port}`;
}
