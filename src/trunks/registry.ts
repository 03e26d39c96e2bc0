/**
 * Health of every outbound gateway target of a config snapshot, fed by the prober, read by the
 * router (`HealthView`) and by the API/metrics (`snapshot()`). A gateway given by DNS name
 * without a port has one entry per SRV target (`GatewayTargets`), so a dead target is marked
 * down while its siblings carry the calls. `apply(config)` on reload keeps the history of
 * targets that still exist and drops the others, as does a changed DNS answer.
 */
import type { PatchbayConfig } from '../config/index.js';
import type { Clock } from '../util/index.js';
import { GatewayHealth, type HealthSnapshot, type WindowTotals } from './health.js';
import { fixedTarget, type ServerLocator } from './locate.js';
import type { OptionsProber, ProbeTransition } from './probe.js';
import { gatewayId, type HealthView } from './router.js';
import { GatewayTargets } from './targets.js';

export class HealthRegistry implements HealthView {
  /** By target id. */
  readonly #targets = new Map<string, GatewayHealth>();
  /** Per target: the health and probing settings it was set up with, to notice changes. */
  readonly #settings = new Map<string, { health: string; probing: string }>();
  /** The target ids of each gateway resolved through SRV, by gateway id. */
  readonly #members = new Map<string, string[]>();
  readonly #clock: Clock;
  readonly #prober: OptionsProber | undefined;
  readonly #gatewayTargets: GatewayTargets;
  #config: PatchbayConfig | undefined;
  readonly #onTransition = (t: ProbeTransition) => this.#targets.get(t.gatewayId)?.setLiveness(t.to);
  readonly #onTargetsChanged = () => {
    if (this.#config) this.#sync(this.#config);
  };

  constructor(clock: Clock, locator: ServerLocator, prober?: OptionsProber) {
    this.#clock = clock;
    this.#prober = prober;
    this.#gatewayTargets = new GatewayTargets(locator, clock);
    this.#gatewayTargets.on('changed', this.#onTargetsChanged);
    prober?.on('transition', this.#onTransition);
  }

  apply(config: PatchbayConfig): void {
    this.#config = config;
    this.#gatewayTargets.apply(config);
    this.#sync(config);
  }

  /** The health of one target (for a gateway that is its own target, of the gateway). */
  get(id: string): GatewayHealth | undefined {
    return this.#targets.get(id);
  }

  /** A target's health; an SRV gateway's is its best target's (available while one is). */
  health(id: string): { score: number; available: boolean } {
    const members = this.#members.get(id);
    const own = this.#targets.get(id);
    const snapshots = (own ? [own] : (members ?? []).flatMap((m) => this.#targets.get(m) ?? [])).map(
      (target) => target.snapshot(),
    );
    if (snapshots.length === 0) return { score: 1, available: true };
    return {
      score: Math.max(...snapshots.map((snapshot) => snapshot.score)),
      available: snapshots.some((snapshot) => snapshot.available),
    };
  }

  /** Each target's own window sums, for the other nodes of a cluster. */
  ownTotals(): Array<{ gatewayId: string; totals: WindowTotals }> {
    return [...this.#targets.values()].map((t) => ({ gatewayId: t.gatewayId, totals: t.ownTotals() }));
  }

  /** The other nodes' sums for one target (unknown targets are ignored). */
  setPeerTotals(gatewayId: string, totals: readonly WindowTotals[]): void {
    this.#targets.get(gatewayId)?.setPeerTotals(totals);
  }

  snapshot(): HealthSnapshot[] {
    return [...this.#targets.values()].map((target) => target.snapshot());
  }

  close(): void {
    this.#gatewayTargets.off('changed', this.#onTargetsChanged);
    this.#gatewayTargets.close();
    this.#prober?.off('transition', this.#onTransition);
    this.#prober?.stop();
  }

  #sync(config: PatchbayConfig): void {
    const wanted = new Set<string>();
    this.#members.clear();
    for (const trunk of config.trunks.values()) {
      for (const gateway of trunk.outbound?.gateways ?? []) {
        const ownerId = gatewayId(trunk.name, gateway);
        const targets = this.#gatewayTargets.of(ownerId, gateway);
        if (!fixedTarget(gateway))
          this.#members.set(
            ownerId,
            targets.map((target) => target.id),
          );
        for (const target of targets) {
          const id = target.id;
          wanted.add(id);
          const next = {
            health: JSON.stringify(trunk.health),
            probing: JSON.stringify([target, trunk.probing]),
          };
          const previous = this.#settings.get(id);
          this.#settings.set(id, next);
          // History and probe state survive a reload unless their own settings changed.
          if (previous?.health !== next.health) {
            const health = new GatewayHealth(id, trunk.health, this.#clock);
            health.setLiveness(this.#prober?.state(id) ?? 'unknown');
            this.#targets.set(id, health);
          }
          if (previous?.probing !== next.probing) {
            this.#prober?.add(id, target, trunk.probing);
            this.#targets.get(id)?.setLiveness('unknown');
          }
        }
      }
    }
    for (const id of [...this.#targets.keys()]) {
      if (wanted.has(id)) continue;
      this.#targets.delete(id);
      this.#settings.delete(id);
      this.#prober?.remove(id);
    }
  }
}
