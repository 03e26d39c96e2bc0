/**
 * Outbound routing with serial failover. Candidates are ordered by priority (lower first),
 * then within one priority by a weighted random draw without replacement, weight × health
 * score. Gateways marked down by probing are skipped. Failover happens only on the trunk's
 * failover codes, timeouts and transport errors, never after early media, never on
 * 404/486/603 (the schema refuses those), and stops after maxAttempts.
 */
import type { OutboundGatewayConfig, TrunkConfig } from '../config/index.js';
import type { Clock } from '../util/index.js';

/** `<trunk>/<name>`, or `<trunk>/<host>[:<port>]` for a gateway without a name. */
export function gatewayId(trunk: string, gateway: OutboundGatewayConfig): string {
  const written = gateway.port === undefined ? gateway.host : `${gateway.host}:${gateway.port}`;
  return `${trunk}/${gateway.name ?? written}`;
}

/** How an attempt ended, as reported by the SIP layer. */
export type AttemptOutcome =
  | {
      status: number;
      /** 183 with SDP or 180 with media already flowing: the caller heard something, so no failover. */
      earlyMedia?: boolean;
    }
  | 'timeout'
  | 'transport_error'
  /** The caller hung up (CANCEL) or the call was stopped by us. */
  | 'cancelled';

/**
 * How an attempt counts for the gateway's health (qrouting's definitions): answered = 2xx;
 * a network failure (CCR) = timeout, transport error, 408 or any 5xx. Answers about the
 * callee (404, 486, 603...) and cancellations are the carrier doing its job.
 */
export function attemptHealth(outcome: AttemptOutcome): { answered: boolean; networkFailure: boolean } {
  if (outcome === 'timeout' || outcome === 'transport_error')
    return { answered: false, networkFailure: true };
  if (outcome === 'cancelled') return { answered: false, networkFailure: false };
  const { status } = outcome;
  return {
    answered: status >= 200 && status < 300,
    networkFailure: status === 408 || (status >= 500 && status < 600),
  };
}

export interface AttemptRecord {
  index: number;
  gatewayId: string;
  gateway: OutboundGatewayConfig;
  startedAtMs: number;
  endedAtMs: number | undefined;
  outcome: string | undefined;
  /** Why the plan continued or stopped after this attempt. */
  reason: string | undefined;
}

export type PlanResult = 'pending' | 'answered' | 'failed' | 'exhausted';

export interface HealthView {
  /** Score in [0, 1] and availability for a gateway id (unknown gateways: score 1, available). */
  health(gatewayId: string): { score: number; available: boolean };
}

export interface Attempt {
  gatewayId: string;
  gateway: OutboundGatewayConfig;
  timeoutMs: number;
  index: number;
}

/** One call's walk through its candidates. */
export class AttemptPlan {
  readonly attempts: AttemptRecord[] = [];
  #cursor = 0;
  #state: PlanResult = 'pending';

  readonly #clock: Clock;

  constructor(
    readonly trunk: TrunkConfig,
    readonly candidates: ReadonlyArray<{ gatewayId: string; gateway: OutboundGatewayConfig }>,
    clock: Clock,
  ) {
    this.#clock = clock;
  }

  get result(): PlanResult {
    return this.#state;
  }

  /**
   * First call: no outcome, returns the first attempt. Later calls: the outcome of the
   * previous attempt; returns the next attempt, or undefined when the plan is over.
   */
  next(lastOutcome?: AttemptOutcome): Attempt | undefined {
    if (this.#state !== 'pending') return undefined;
    const previous = this.attempts.at(-1);
    if (previous) {
      if (lastOutcome === undefined) throw new TypeError('next() needs the outcome of the previous attempt');
      const decision = this.#decide(lastOutcome);
      previous.endedAtMs = this.#clock.now();
      previous.outcome = typeof lastOutcome === 'string' ? lastOutcome : String(lastOutcome.status);
      previous.reason = decision.reason;
      if (decision.stop) {
        this.#state = decision.stop;
        return undefined;
      }
    }
    const outbound = this.trunk.outbound;
    const candidate = this.candidates[this.#cursor];
    if (!outbound || !candidate || this.attempts.length >= outbound.maxAttempts) {
      this.#state = 'exhausted';
      if (previous) previous.reason = `${previous.reason}; no attempts left`;
      return undefined;
    }
    this.#cursor++;
    const index = this.attempts.length;
    this.attempts.push({
      index,
      ...candidate,
      startedAtMs: this.#clock.now(),
      endedAtMs: undefined,
      outcome: undefined,
      reason: undefined,
    });
    return { ...candidate, timeoutMs: outbound.attemptTimeoutMs, index };
  }

  /** Ends the plan early (the caller's deadline passed, or the call ended), logging why. */
  stop(lastOutcome: AttemptOutcome, reason: string): void {
    if (this.#state !== 'pending') return;
    const previous = this.attempts.at(-1);
    if (previous && previous.endedAtMs === undefined) {
      previous.endedAtMs = this.#clock.now();
      previous.outcome = typeof lastOutcome === 'string' ? lastOutcome : String(lastOutcome.status);
      previous.reason = reason;
    }
    this.#state = 'failed';
  }

  #decide(outcome: AttemptOutcome): { stop?: PlanResult; reason: string } {
    if (outcome === 'timeout' || outcome === 'transport_error') return { reason: `${outcome}: failover` };
    if (outcome === 'cancelled') return { stop: 'failed', reason: 'cancelled' };
    const { status, earlyMedia } = outcome;
    if (status >= 200 && status < 300) return { stop: 'answered', reason: 'answered' };
    if (earlyMedia) return { stop: 'failed', reason: `${status} after early media: no failover` };
    if (this.trunk.outbound?.failoverCodes.includes(status))
      return { reason: `${status} is a failover code` };
    return { stop: 'failed', reason: `${status} is final (not a failover code)` };
  }
}

export class OutboundRouter {
  readonly #healthView: HealthView;
  readonly #clock: Clock;

  readonly #random: () => number;

  constructor(healthView: HealthView, clock: Clock, random: () => number = Math.random) {
    this.#random = random;
    this.#healthView = healthView;
    this.#clock = clock;
  }

  /** Orders the trunk's available gateways; an empty plan ends at once as 'exhausted'. */
  plan(trunk: TrunkConfig): AttemptPlan {
    return new AttemptPlan(trunk, this.order(trunk), this.#clock);
  }

  order(trunk: TrunkConfig): Array<{ gatewayId: string; gateway: OutboundGatewayConfig }> {
    const byPriority = new Map<
      number,
      Array<{ gatewayId: string; gateway: OutboundGatewayConfig; weight: number }>
    >();
    for (const gateway of trunk.outbound?.gateways ?? []) {
      const id = gatewayId(trunk.name, gateway);
      const { score, available } = this.#healthView.health(id);
      if (!available) continue;
      const group = byPriority.get(gateway.priority) ?? [];
      group.push({ gatewayId: id, gateway, weight: gateway.weight * Math.max(0, score) });
      byPriority.set(gateway.priority, group);
    }
    const priorities = [...byPriority.keys()].sort((a, b) => a - b);
    return priorities.flatMap((priority) => this.#weightedShuffle(byPriority.get(priority) ?? []));
  }

  /** Weighted draw without replacement; when every remaining weight is 0, equal chances. */
  #weightedShuffle<T extends { weight: number }>(items: T[]): Array<Omit<T, 'weight'>> {
    const remaining = [...items];
    const ordered: Array<Omit<T, 'weight'>> = [];
    while (remaining.length > 0) {
      const total = remaining.reduce((sum, item) => sum + item.weight, 0);
      let pick = remaining.length - 1;
      if (total > 0) {
        let target = this.#random() * total;
        pick = remaining.findIndex((item) => {
          target -= item.weight;
          return target < 0;
        });
        if (pick < 0) pick = remaining.length - 1;
      } else {
        pick = Math.min(remaining.length - 1, Math.floor(this.#random() * remaining.length));
      }
      const [chosen] = remaining.splice(pick, 1);
      if (chosen) {
        const { weight: _weight, ...rest } = chosen;
        ordered.push(rest);
      }
    }
    return ordered;
  }
}
