/**
 * OPTIONS liveness probing (RFC 3261 §11): one probe in flight per gateway, the next one
 * scheduled a jittered interval after the previous finished, on the injected clock.
 * `failuresToMarkDown` consecutive failures mark a gateway down, `successesToMarkUp`
 * consecutive successes bring it back; the first success of an unknown gateway marks it up.
 */
import type { ProbingConfig } from '../config/index.js';
import { type Clock, type TimerHandle, TypedEmitter } from '../util/index.js';
import type { Liveness } from './health.js';
import type { GatewayTarget } from './targets.js';

/** `dns_failure`: the target's name has no address (RFC 3263 §4.2). */
export type OptionsResult = { status: number } | 'timeout' | 'transport_error' | 'dns_failure';

/** Provided by the SIP layer: send one OPTIONS to the target and report how it ended. */
type SendOptions = (target: GatewayTarget) => Promise<OptionsResult>;

export interface ProbeTransition {
  gatewayId: string;
  from: Liveness;
  to: Liveness;
  atMs: number;
  /** The result that caused the transition, e.g. `503` or `timeout`. */
  lastResult: string;
}

interface ProbeSnapshot {
  gatewayId: string;
  state: Liveness;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  lastResult: string | undefined;
  lastProbeAtMs: number | undefined;
  probes: number;
}

interface Probed {
  target: GatewayTarget;
  config: ProbingConfig;
  snapshot: ProbeSnapshot;
  timer: TimerHandle | undefined;
  inFlight: boolean;
  removed: boolean;
}

export class OptionsProber extends TypedEmitter<{ transition: [ProbeTransition] }> {
  readonly #gateways = new Map<string, Probed>();
  readonly #clock: Clock;
  readonly #sendOptions: SendOptions;
  readonly #random: () => number;

  constructor(clock: Clock, sendOptions: SendOptions, random: () => number = Math.random) {
    super();
    this.#clock = clock;
    this.#sendOptions = sendOptions;
    this.#random = random;
  }

  /** Starts probing (first probe after a jittered fraction of the interval, to spread load). */
  add(gatewayId: string, target: GatewayTarget, config: ProbingConfig): void {
    this.remove(gatewayId);
    const snapshot: ProbeSnapshot = {
      gatewayId,
      state: 'unknown',
      consecutiveFailures: 0,
      consecutiveSuccesses: 0,
      lastResult: undefined,
      lastProbeAtMs: undefined,
      probes: 0,
    };
    const probed: Probed = { target, config, snapshot, timer: undefined, inFlight: false, removed: false };
    this.#gateways.set(gatewayId, probed);
    if (config.enabled) this.#schedule(probed, this.#random() * config.intervalMs);
  }

  remove(gatewayId: string): void {
    const probed = this.#gateways.get(gatewayId);
    if (!probed) return;
    probed.removed = true;
    probed.timer?.cancel();
    this.#gateways.delete(gatewayId);
  }

  state(gatewayId: string): Liveness | undefined {
    return this.#gateways.get(gatewayId)?.snapshot.state;
  }

  snapshot(): ProbeSnapshot[] {
    return [...this.#gateways.values()].map((p) => ({ ...p.snapshot }));
  }

  stop(): void {
    for (const id of [...this.#gateways.keys()]) this.remove(id);
  }

  /** Interval ± jitter·interval. */
  #nextDelay(config: ProbingConfig): number {
    return config.intervalMs * (1 + config.jitter * (2 * this.#random() - 1));
  }

  #schedule(probed: Probed, delayMs: number): void {
    probed.timer = this.#clock.setTimer(delayMs, () => void this.#probe(probed));
  }

  async #probe(probed: Probed): Promise<void> {
    if (probed.removed || probed.inFlight) return;
    probed.inFlight = true;
    const result = await this.#sendWithTimeout(probed);
    probed.inFlight = false;
    if (probed.removed) return;
    this.#apply(probed, result);
    this.#schedule(probed, this.#nextDelay(probed.config));
  }

  /**
   * A silent gateway must be marked down in failuresToMarkDown × (interval + timeout), not in
   * multiples of Timer F (64·T1 = 32 s, RFC 3261 §17.1.2.2), so the probe gets its own deadline.
   */
  async #sendWithTimeout(probed: Probed): Promise<OptionsResult> {
    let timer: TimerHandle | undefined;
    const deadline = new Promise<OptionsResult>((resolve) => {
      timer = this.#clock.setTimer(probed.config.timeoutMs, () => resolve('timeout'));
    });
    try {
      // A throwing sender must not stop probing.
      const sent = Promise.resolve()
        .then(() => this.#sendOptions(probed.target))
        .catch((): OptionsResult => 'transport_error');
      return await Promise.race([sent, deadline]);
    } finally {
      timer?.cancel();
    }
  }

  #apply(probed: Probed, result: OptionsResult): void {
    const { snapshot, config } = probed;
    const label = typeof result === 'string' ? result : String(result.status);
    const success = typeof result !== 'string' && config.acceptedCodes.includes(result.status);
    snapshot.probes++;
    snapshot.lastResult = label;
    snapshot.lastProbeAtMs = this.#clock.now();
    if (success) {
      snapshot.consecutiveSuccesses++;
      snapshot.consecutiveFailures = 0;
    } else {
      snapshot.consecutiveFailures++;
      snapshot.consecutiveSuccesses = 0;
    }
    const from = snapshot.state;
    let to = from;
    if (
      success &&
      (from === 'unknown' || (from === 'down' && snapshot.consecutiveSuccesses >= config.successesToMarkUp))
    ) {
      to = 'up';
    } else if (!success && from !== 'down' && snapshot.consecutiveFailures >= config.failuresToMarkDown) {
      to = 'down';
    }
    if (to === from) return;
    snapshot.state = to;
    this.safeEmit('transition', {
      gatewayId: snapshot.gatewayId,
      from,
      to,
      atMs: snapshot.lastProbeAtMs,
      lastResult: label,
    });
  }
}
