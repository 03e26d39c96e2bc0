/**
 * Health of every outbound gateway target of a config snapshot, fed by the prober, read by the
 * router (`HealthView`), the API (`snapshot()`, per target) and metrics (`gateways()`, per
 * configured gateway, so no label comes from DNS). A gateway given by DNS name
 * without a port has one entry per SRV target (`GatewayTargets`), so a dead target is marked
 * down while its siblings carry the calls. `apply(config)` on reload keeps the history of
 * targets that still exist and drops the others, as does a changed DNS answer. Each hold a
 * target's 503 Retry-After puts on it is told (`holdOff`) for a cluster to share.
 */
import type { PatchbayConfig } from '../config/index.js';
import { type Clock, TypedEmitter } from '../util/index.js';
import { GatewayHealth, type HealthSnapshot, type WindowTotals } from './health.js';
import type { ServerLocator } from './locate.js';
import type { OptionsProber, ProbeTransition } from './probe.js';
import { gatewayId, gatewayName, type HealthView } from './router.js';
import { GatewayTargets } from './targets.js';

interface ConfiguredGateway {
  trunk: string;
  /** `gatewayName`. */
  gateway: string;
  /** Its targets' ids: its own when it is its only target, else one per SRV target. */
  targets: string[];
}

/** A configured gateway's health as `gateways()` gives it. */
export interface GatewayHealthSummary {
  trunk: string;
  gateway: string;
  score: number;
  targets: HealthSnapshot[];
}

/** Several targets of one gateway: the best one's score, available while one is. */
function bestOf(snapshots: readonly HealthSnapshot[]): { score: number; available: boolean } {
  return {
    score: Math.max(...snapshots.map((snapshot) => snapshot.score)),
    available: snapshots.some((snapshot) => snapshot.available),
  };
}

interface HealthRegistryEvents {
  /** A target's 503 asked for no new requests for `holdMs` (bounded), RFC 3261 §21.5.4. */
  holdOff: [gatewayId: string, holdMs: number];
}

export class HealthRegistry extends TypedEmitter<HealthRegistryEvents> implements HealthView {
  /** By target id. */
  readonly #targets = new Map<string, GatewayHealth>();
  /** Per target: the health and probing settings it was set up with, to notice changes. */
  readonly #settings = new Map<string, { health: string; probing: string }>();
  /** Each configured gateway by gateway id: its trunk, its name and its targets' ids (a fixed one's, its own). */
  readonly #gateways = new Map<string, ConfiguredGateway>();
  readonly #clock: Clock;
  readonly #prober: OptionsProber | undefined;
  readonly #gatewayTargets: GatewayTargets;
  #config: PatchbayConfig | undefined;
  readonly #onTransition = (t: ProbeTransition) => this.#targets.get(t.gatewayId)?.setLiveness(t.to);
  readonly #onTargetsChanged = () => {
    if (this.#config) this.#sync(this.#config);
  };

  readonly #onHoldOff = (gatewayId: string, holdMs: number) => this.safeEmit('holdOff', gatewayId, holdMs);

  constructor(clock: Clock, locator: ServerLocator, prober?: OptionsProber) {
    super();
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
    const snapshots = this.#snapshotsOf(
      this.#targets.has(id) ? [id] : (this.#gateways.get(id)?.targets ?? []),
    );
    return snapshots.length === 0 ? { score: 1, available: true } : bestOf(snapshots);
  }

  /**
   * Each configured gateway with a target known, named as in the config (never by a DNS
   * answer): the score the router ranks it by (`health`) and each of its targets' snapshot.
   */
  gateways(): GatewayHealthSummary[] {
    return [...this.#gateways.values()].flatMap(({ trunk, gateway, targets: ids }) => {
      const targets = this.#snapshotsOf(ids);
      return targets.length === 0 ? [] : [{ trunk, gateway, score: bestOf(targets).score, targets }];
    });
  }

  /** Each target's own window sums and what is left of its own hold, for the other nodes of a cluster. */
  ownTotals(): Array<{ gatewayId: string; totals: WindowTotals; holdMs: number }> {
    return [...this.#targets.values()].map((t) => ({
      gatewayId: t.gatewayId,
      totals: t.ownTotals(),
      holdMs: t.ownHoldMs(),
    }));
  }

  /** What is left of the cluster's hold on one target (unknown targets are ignored). */
  setSharedHold(gatewayId: string, holdMs: number): void {
    this.#targets.get(gatewayId)?.setSharedHold(holdMs);
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

  #snapshotsOf(ids: readonly string[]): HealthSnapshot[] {
    return ids.flatMap((id) => this.#targets.get(id)?.snapshot() ?? []);
  }

  #sync(config: PatchbayConfig): void {
    const wanted = new Set<string>();
    this.#gateways.clear();
    for (const trunk of config.trunks.values()) {
      for (const gateway of trunk.outbound?.gateways ?? []) {
        const ownerId = gatewayId(trunk.name, gateway);
        const targets = this.#gatewayTargets.of(ownerId, gateway);
        this.#gateways.set(ownerId, {
          trunk: trunk.name,
          gateway: gatewayName(gateway),
          targets: targets.map((target) => target.id),
        });
        for (const target of targets) {
          const id = target.id;
          wanted.add(id);
          const next = {
            health: JSON.stringify(trunk.health),
            probing: JSON.stringify([target, trunk.probing]),
          };
          const previous = this.#settings.get(id);
          this.#settings.set(id, next);
          // History and probe state survive a reload unless their own settings changed; a
          // Retry-After hold survives it always.
          if (previous?.health !== next.health) {
            const health = new GatewayHealth(id, trunk.health, this.#clock, this.#onHoldOff);
            health.setLiveness(this.#prober?.state(id) ?? 'unknown');
            const before = this.#targets.get(id);
            if (before) health.keepHoldsOf(before);
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
