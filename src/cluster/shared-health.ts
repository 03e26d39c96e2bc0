/**
 * Trunk health across the cluster: at each heartbeat a node stores its window sums per outbound
 * gateway and reads every other live node's (one round trip for all gateways), and its router
 * then scores each gateway on the calls of every node. Samples of a node that stopped sharing
 * expire after `leaseTtlMs`; while Redis is unreachable each node scores on its own calls.
 */
import type { WindowTotals } from '../trunks/index.js';
import type { RedisLink } from './redis-link.js';
import { keys, SHARE_HEALTH } from './scripts.js';

/** What the trunks' HealthRegistry offers for sharing. */
export interface ShareableHealth {
  ownTotals(): Array<{ gatewayId: string; totals: WindowTotals }>;
  setPeerTotals(gatewayId: string, totals: readonly WindowTotals[]): void;
}

export class SharedHealth {
  readonly #link: RedisLink;
  readonly #health: ShareableHealth;
  readonly #nodeId: string;
  readonly #ttlMs: number;

  constructor(link: RedisLink, health: ShareableHealth, nodeId: string, ttlMs: number) {
    this.#link = link;
    this.#health = health;
    this.#nodeId = nodeId;
    this.#ttlMs = ttlMs;
    link.defineScript('patchbayShareHealth', SHARE_HEALTH);
  }

  /** Publishes this node's sums and takes in the others'; on failure, forgets the others'. */
  async share(): Promise<void> {
    const own = this.#health.ownTotals();
    if (own.length === 0) return;
    let reply: string[][];
    try {
      reply = (await this.#link.run(
        'patchbayShareHealth',
        own.map((gateway) => keys.health(gateway.gatewayId)),
        [this.#nodeId, this.#ttlMs, ...own.map((gateway) => JSON.stringify(gateway.totals))],
      )) as string[][];
    } catch {
      // Stale peer sums would keep judging a carrier on calls long gone.
      for (const gateway of own) this.#health.setPeerTotals(gateway.gatewayId, []);
      return;
    }
    own.forEach((gateway, index) => {
      const peers = (reply[index] ?? []).flatMap((text) => parseTotals(text));
      this.#health.setPeerTotals(gateway.gatewayId, peers);
    });
  }
}

function parseTotals(text: string): WindowTotals[] {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? [value as WindowTotals] : [];
  } catch {
    return [];
  }
}
