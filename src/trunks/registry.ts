/**
 * Health of every outbound gateway of a config snapshot, fed by the prober, read by the
 * router (`HealthView`) and by the API/metrics (`snapshot()`). `apply(config)` on reload
 * keeps the history of gateways that still exist and drops the others.
 */
import type { PatchbayConfig } from '../config/index.js';
import type { Clock } from '../util/index.js';
import { GatewayHealth, type HealthSnapshot, type WindowTotals } from './health.js';
import type { OptionsProber, ProbeTransition } from './probe.js';
import { gatewayId, type HealthView } from './router.js';

export class HealthRegistry implements HealthView {
  readonly #gateways = new Map<string, GatewayHealth>();
  /** Per gateway: the health and probing settings it was set up with, to notice changes. */
  readonly #settings = new Map<string, { health: string; probing: string }>();
  readonly #onTransition = (t: ProbeTransition) => this.#gateways.get(t.gatewayId)?.setLiveness(t.to);

  readonly #clock: Clock;
  readonly #prober: OptionsProber | undefined;

  constructor(clock: Clock, prober?: OptionsProber) {
    this.#clock = clock;
    this.#prober = prober;
    prober?.on('transition', this.#onTransition);
  }

  apply(config: PatchbayConfig): void {
    const wanted = new Set<string>();
    for (const trunk of config.trunks.values()) {
      for (const gateway of trunk.outbound?.gateways ?? []) {
        const id = gatewayId(trunk.name, gateway);
        wanted.add(id);
        const next = {
          health: JSON.stringify(trunk.health),
          probing: JSON.stringify([gateway, trunk.probing]),
        };
        const previous = this.#settings.get(id);
        this.#settings.set(id, next);
        // History and probe state survive a reload unless their own settings changed.
        if (previous?.health !== next.health) {
          const health = new GatewayHealth(id, trunk.health, this.#clock);
          health.setLiveness(this.#prober?.state(id) ?? 'unknown');
          this.#gateways.set(id, health);
        }
        if (previous?.probing !== next.probing) {
          this.#prober?.add(id, gateway, trunk.probing);
          this.#gateways.get(id)?.setLiveness('unknown');
        }
      }
    }
    for (const id of [...this.#gateways.keys()]) {
      if (wanted.has(id)) continue;
      this.#gateways.delete(id);
      this.#settings.delete(id);
      this.#prober?.remove(id);
    }
  }

  get(id: string): GatewayHealth | undefined {
    return this.#gateways.get(id);
  }

  health(id: string): { score: number; available: boolean } {
    const gateway = this.#gateways.get(id);
    if (!gateway) return { score: 1, available: true };
    const snapshot = gateway.snapshot();
    return { score: snapshot.score, available: snapshot.available };
  }

  /** Each gateway's own window sums, for the other nodes of a cluster. */
  ownTotals(): Array<{ gatewayId: string; totals: WindowTotals }> {
    return [...this.#gateways.values()].map((g) => ({ gatewayId: g.gatewayId, totals: g.ownTotals() }));
  }

  /** The other nodes' sums for one gateway (unknown gateways are ignored). */
  setPeerTotals(gatewayId: string, totals: readonly WindowTotals[]): void {
    this.#gateways.get(gatewayId)?.setPeerTotals(totals);
  }

  snapshot(): HealthSnapshot[] {
    return [...this.#gateways.values()].map((g) => g.snapshot());
  }

  close(): void {
    this.#prober?.off('transition', this.#onTransition);
    this.#prober?.stop();
  }
}
