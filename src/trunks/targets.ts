/**
 * The targets of every configured outbound gateway, so health and OPTIONS probing are kept
 * per target: a fixed gateway (an address, a port, localhost) is its own target at once; a
 * DNS name's SRV targets are looked up when the config is applied and again each time the
 * answer expires. A failed lookup keeps the targets known before: probing marks them down if
 * they are really gone.
 */
import type { OutboundGatewayConfig, PatchbayConfig } from '../config/index.js';
import { type Clock, type TimerHandle, TypedEmitter } from '../util/index.js';
import { fixedTarget, type GatewayTransport, type ServerLocator, targetId } from './locate.js';
import { gatewayId } from './router.js';

export interface GatewayTarget {
  /** The health and probing key (`targetId`). */
  id: string;
  host: string;
  port: number;
  transport: GatewayTransport;
  /** The gateway's host as configured: over TLS, the name its certificate must carry (RFC 5922 §4). */
  domain: string;
}

interface Watch {
  /** The gateway as configured, to notice a reload that changes it. */
  settings: string;
  gateway: OutboundGatewayConfig;
  targets: GatewayTarget[];
  timer: TimerHandle | undefined;
  stopped: boolean;
}

export class GatewayTargets extends TypedEmitter<{ changed: [] }> {
  readonly #locator: ServerLocator;
  readonly #clock: Clock;
  /** Gateways looked up in DNS, by gateway id. */
  readonly #watches = new Map<string, Watch>();

  constructor(locator: ServerLocator, clock: Clock) {
    super();
    this.#locator = locator;
    this.#clock = clock;
  }

  /** Looks up the gateways of `config` that need DNS; forgets the ones no longer there. */
  apply(config: PatchbayConfig): void {
    const wanted = new Set<string>();
    for (const trunk of config.trunks.values()) {
      for (const gateway of trunk.outbound?.gateways ?? []) {
        if (fixedTarget(gateway)) continue;
        const id = gatewayId(trunk.name, gateway);
        const settings = JSON.stringify(gateway);
        wanted.add(id);
        if (this.#watches.get(id)?.settings === settings) continue;
        this.#stop(id);
        const watch: Watch = { settings, gateway, targets: [], timer: undefined, stopped: false };
        this.#watches.set(id, watch);
        void this.#lookUp(id, watch);
      }
    }
    for (const id of [...this.#watches.keys()]) if (!wanted.has(id)) this.#stop(id);
  }

  /** The gateway's targets as last looked up; a fixed gateway's at once. */
  of(id: string, gateway: OutboundGatewayConfig): GatewayTarget[] {
    const fixed = fixedTarget(gateway);
    if (fixed)
      return [{ id, host: fixed.host, port: fixed.port, transport: gateway.transport, domain: gateway.host }];
    return this.#watches.get(id)?.targets ?? [];
  }

  close(): void {
    for (const id of [...this.#watches.keys()]) this.#stop(id);
  }

  #stop(id: string): void {
    const watch = this.#watches.get(id);
    if (!watch) return;
    watch.stopped = true;
    watch.timer?.cancel();
    this.#watches.delete(id);
  }

  async #lookUp(id: string, watch: Watch): Promise<void> {
    const answer = await this.#locator.targets(watch.gateway);
    if (watch.stopped) return;
    if (answer.ok) {
      const targets = answer.targets
        .map((target) => ({
          id: targetId(id, watch.gateway, target),
          host: target.host,
          port: target.port,
          transport: watch.gateway.transport,
          domain: watch.gateway.host,
        }))
        .sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
      if (JSON.stringify(targets) !== JSON.stringify(watch.targets)) {
        watch.targets = targets;
        this.safeEmit('changed');
      }
    }
    const delayMs = answer.expiresAtMs - this.#clock.now();
    watch.timer = this.#clock.setTimer(delayMs, () => void this.#lookUp(id, watch));
  }
}
