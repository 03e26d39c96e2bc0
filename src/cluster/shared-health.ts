/**
 * Trunk health across the cluster: at each heartbeat a node stores its window sums per outbound
 * gateway and reads every other live node's (one round trip for all gateways), and its router
 * then scores each gateway on the calls of every node. Samples of a node that stopped sharing
 * expire after `leaseTtlMs`; while Redis is unreachable each node scores on its own calls.
 *
 * A target's 503 with Retry-After (RFC 3261 §21.5.4) holds it off on every node: the node that
 * got it writes the hold at once (a key that expires with it, on Redis's clock), sends what is
 * left of it again at each heartbeat (so a hold got while Redis was away is shared once it is
 * back), and every node reads the cluster's hold per target in the same round trip. Nothing
 * waits on Redis: a failed write or read leaves each node with the holds it already knows.
 */
import { MAX_RETRY_AFTER_MS, type WindowTotals } from '../trunks/index.js';
import type { RedisLink } from './redis-link.js';
import { HOLD_TARGET, keys, SHARE_HEALTH } from './scripts.js';

type HoldListener = (gatewayId: string, holdMs: number) => void;

/** What the trunks' HealthRegistry offers for sharing. */
export interface ShareableHealth {
  /** Per target: this node's window sums and what is left of its own Retry-After hold. */
  ownTotals(): Array<{ gatewayId: string; totals: WindowTotals; holdMs: number }>;
  setPeerTotals(gatewayId: string, totals: readonly WindowTotals[]): void;
  /** What is left of the cluster's hold on a target (0: none known in Redis). */
  setSharedHold(gatewayId: string, holdMs: number): void;
  /** Each new hold this node gets. */
  on(event: 'holdOff', listener: HoldListener): unknown;
  off(event: 'holdOff', listener: HoldListener): unknown;
}

export class SharedHealth {
  readonly #link: Pick<RedisLink, 'defineScript' | 'run'>;
  readonly #health: ShareableHealth;
  readonly #nodeId: string;
  readonly #ttlMs: number;
  readonly #onHoldOff: HoldListener = (gatewayId, holdMs) => {
    // Fire and forget: the call that got the 503 fails over now; the heartbeat sends it again.
    this.#link
      .run('patchbayHoldTarget', [keys.hold(gatewayId)], [holdMs, MAX_RETRY_AFTER_MS])
      .catch(() => undefined);
  };

  constructor(
    link: Pick<RedisLink, 'defineScript' | 'run'>,
    health: ShareableHealth,
    nodeId: string,
    ttlMs: number,
  ) {
    this.#link = link;
    this.#health = health;
    this.#nodeId = nodeId;
    this.#ttlMs = ttlMs;
    link.defineScript('patchbayShareHealth', SHARE_HEALTH);
    link.defineScript('patchbayHoldTarget', HOLD_TARGET);
    health.on('holdOff', this.#onHoldOff);
  }

  /**
   * Publishes this node's sums and holds and takes in the others'; on failure, forgets the
   * others' sums and keeps the holds it knows (each ends by itself).
   */
  async share(): Promise<void> {
    const own = this.#health.ownTotals();
    if (own.length === 0) return;
    let reply: unknown[];
    try {
      reply = (await this.#link.run(
        'patchbayShareHealth',
        [...own.map((gateway) => keys.health(gateway.gatewayId)), ...own.map((g) => keys.hold(g.gatewayId))],
        [
          this.#nodeId,
          this.#ttlMs,
          MAX_RETRY_AFTER_MS,
          ...own.flatMap((gateway) => [JSON.stringify(gateway.totals), gateway.holdMs]),
        ],
      )) as unknown[];
    } catch {
      // Stale peer sums would keep judging a carrier on calls long gone.
      for (const gateway of own) this.#health.setPeerTotals(gateway.gatewayId, []);
      return;
    }
    own.forEach((gateway, index) => {
      const [texts, holdMs] = Array.isArray(reply[index]) ? (reply[index] as unknown[]) : [];
      const peers = (Array.isArray(texts) ? texts : []).flatMap((text) => parseTotals(text));
      this.#health.setPeerTotals(gateway.gatewayId, peers);
      if (typeof holdMs === 'number') this.#health.setSharedHold(gateway.gatewayId, holdMs);
    });
  }

  /** Stops sharing new holds at once. */
  close(): void {
    this.#health.off('holdOff', this.#onHoldOff);
  }
}

function parseTotals(text: unknown): WindowTotals[] {
  if (typeof text !== 'string') return [];
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? [value as WindowTotals] : [];
  } catch {
    return [];
  }
}
