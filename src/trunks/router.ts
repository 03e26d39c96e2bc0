/**
 * Outbound routing with serial failover. Gateways are ordered by priority (lower first),
 * then within one priority by a weighted random draw without replacement, weight × health
 * score. A gateway given by DNS name without a port is expanded, when the plan reaches it,
 * into its SRV targets, ordered the same way by SRV priority and weight × the target's score
 * (RFC 2782's selection); each target is one attempt, and so is each further address of its
 * name after a timeout, transport error or 503 (RFC 3263 §4.2, §4.3). Gateways and targets
 * marked down by probing, or held off by a 503's Retry-After (RFC 3261 §21.5.4), are skipped.
 * Failover happens only on the trunk's failover codes, timeouts, transport errors and DNS
 * failures, never after early media, never on 404, 486 or 6xx (the schema refuses those), and
 * stops after maxAttempts.
 */
import type { OutboundGatewayConfig, TrunkConfig } from '../config/index.js';
import type { Clock } from '../util/index.js';
import { type AddressesAnswer, type ServerLocator, targetId } from './locate.js';
import { priorityWeightedOrder } from './weighted-order.js';

/**
 * A gateway's name within its trunk, from its configuration alone: its `name`, else its
 * `host[:port]` as written. Never an SRV target's: the `gateway` label of every gateway metric.
 */
export function gatewayName(gateway: OutboundGatewayConfig): string {
  return gateway.name ?? (gateway.port === undefined ? gateway.host : `${gateway.host}:${gateway.port}`);
}

/** `<trunk>/<gatewayName>`. */
export function gatewayId(trunk: string, gateway: OutboundGatewayConfig): string {
  return `${trunk}/${gatewayName(gateway)}`;
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
  /** The gateway's name, or its target's, did not resolve (RFC 3263): nothing was sent. */
  | 'dns_failure'
  /** The caller hung up (CANCEL) or the call was stopped by us. */
  | 'cancelled';

/**
 * How an attempt counts for the gateway's health (qrouting's definitions): answered = 2xx;
 * a network failure (CCR) = timeout, transport error, DNS failure, 408 or any 5xx. Answers about the
 * callee (404, 486, 603...) and cancellations are the carrier doing its job.
 */
export function attemptHealth(outcome: AttemptOutcome): { answered: boolean; networkFailure: boolean } {
  if (outcome === 'timeout' || outcome === 'transport_error' || outcome === 'dns_failure')
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
  /** The target's id: the gateway's, or `<gatewayId>/<host>:<port>` for an SRV target. */
  gatewayId: string;
  gateway: OutboundGatewayConfig;
  startedAtMs: number;
  endedAtMs: number | undefined;
  outcome: string | undefined;
  /** Why the plan continued or stopped after this attempt. */
  reason: string | undefined;
  /** The number a 3xx redirected this attempt to (RFC 3261 §8.1.3.4), if one did. */
  redirectedTo?: string;
}

type PlanResult = 'pending' | 'answered' | 'failed' | 'exhausted';

export interface HealthView {
  /** Score in [0, 1] and availability for a gateway or target id (unknown ids: score 1, available). */
  health(gatewayId: string): { score: number; available: boolean };
}

/** Where an attempt goes: the target's host and port and the address to send to. */
export interface AttemptDestination {
  host: string;
  port: number;
  address: string;
}

export interface Attempt {
  gatewayId: string;
  gateway: OutboundGatewayConfig;
  timeoutMs: number;
  index: number;
  /** The destination, or why DNS could not give one (then the attempt ends as 'dns_failure'). */
  destination: { ok: true; to: AttemptDestination } | { ok: false; detail: string };
}

interface Candidate {
  gatewayId: string;
  gateway: OutboundGatewayConfig;
}

/**
 * A target to try (`address`: one of its name's further addresses, already looked up), or a
 * gateway whose lookup failed (one 'dns_failure' attempt).
 */
type PlannedTarget = Candidate & ({ host: string; port: number; address?: string } | { failure: string });

/** What a plan asks as it goes: a gateway's ordered targets, a target's addresses. */
interface TargetSource {
  targets(candidate: Candidate): Promise<PlannedTarget[]>;
  addresses(host: string, port: number): Promise<AddressesAnswer>;
  /** An address that failed as RFC 3263 §4.3 says (timeout, transport error, 503). */
  failed(address: string, port: number): void;
}

/** RFC 3263 §4.3: the failures after which the same target's next address is tried. */
function serverFailed(outcome: AttemptOutcome): boolean {
  return (
    outcome === 'timeout' ||
    outcome === 'transport_error' ||
    (typeof outcome === 'object' && outcome.status === 503)
  );
}

/** One call's walk through its gateways and their targets. */
export class AttemptPlan {
  readonly attempts: AttemptRecord[] = [];
  readonly #trunk: TrunkConfig;
  readonly #gateways: Candidate[];
  readonly #source: TargetSource;
  readonly #clock: Clock;
  /** The targets of the gateway being tried, in order. */
  #queued: PlannedTarget[] = [];
  #state: PlanResult = 'pending';
  /** Why the attempt in flight found no address, for its record. */
  #dnsDetail: string | undefined;
  /** Where the attempt in flight went. */
  #sentTo: AttemptDestination | undefined;

  constructor(trunk: TrunkConfig, gateways: readonly Candidate[], source: TargetSource, clock: Clock) {
    this.#trunk = trunk;
    this.#gateways = [...gateways];
    this.#source = source;
    this.#clock = clock;
  }

  get result(): PlanResult {
    return this.#state;
  }

  /**
   * First call: no outcome, returns the first attempt. Later calls: the outcome of the
   * previous attempt, and the number a 3xx redirected it to if one did, whatever its outcome;
   * returns the next attempt, or undefined when the plan is over.
   */
  async next(lastOutcome?: AttemptOutcome, redirectedTo?: string): Promise<Attempt | undefined> {
    if (this.#state !== 'pending') return undefined;
    const previous = this.attempts.at(-1);
    if (previous) {
      if (lastOutcome === undefined) throw new TypeError('next() needs the outcome of the previous attempt');
      const decision = this.#decide(lastOutcome);
      endAttempt(previous, this.#clock.now(), lastOutcome, decision.reason, redirectedTo);
      if (decision.stop) {
        this.#state = decision.stop;
        return undefined;
      }
      this.#afterFailure(previous.gatewayId, lastOutcome);
    }
    const outbound = this.#trunk.outbound;
    const startedAtMs = this.#clock.now();
    const planned =
      outbound && this.attempts.length < outbound.maxAttempts ? await this.#nextTarget() : undefined;
    if (!outbound || !planned) {
      this.#state = 'exhausted';
      if (previous) previous.reason = `${previous.reason}; no attempts left`;
      return undefined;
    }
    const destination = await this.#destination(planned);
    this.#dnsDetail = destination.ok ? undefined : destination.detail;
    this.#sentTo = destination.ok ? destination.to : undefined;
    const index = this.attempts.length;
    const { gatewayId, gateway } = planned;
    this.attempts.push({
      index,
      gatewayId,
      gateway,
      startedAtMs,
      endedAtMs: undefined,
      outcome: undefined,
      reason: undefined,
    });
    return { gatewayId, gateway, timeoutMs: outbound.attemptTimeoutMs, index, destination };
  }

  /** Ends the plan early (the caller's deadline passed, or the call ended), logging why. */
  stop(lastOutcome: AttemptOutcome, reason: string, redirectedTo?: string): void {
    if (this.#state !== 'pending') return;
    const previous = this.attempts.at(-1);
    if (previous && previous.endedAtMs === undefined)
      endAttempt(previous, this.#clock.now(), lastOutcome, reason, redirectedTo);
    this.#state = 'failed';
  }

  async #nextTarget(): Promise<PlannedTarget | undefined> {
    while (this.#queued.length === 0) {
      const gateway = this.#gateways.shift();
      if (!gateway) return undefined;
      this.#queued = await this.#source.targets(gateway);
    }
    return this.#queued.shift();
  }

  async #destination(planned: PlannedTarget): Promise<Attempt['destination']> {
    if ('failure' in planned) return { ok: false, detail: planned.failure };
    const { host, port } = planned;
    if (planned.address !== undefined) return { ok: true, to: { host, port, address: planned.address } };
    const answer = await this.#source.addresses(host, port);
    if (!answer.ok) return answer;
    const [address, ...others] = answer.addresses;
    // RFC 3263 §4.2: should this address fail, the name's next one is tried before the next target.
    this.#queued.unshift(...others.map((other) => ({ ...planned, address: other })));
    return { ok: true, to: { host, port, address } };
  }

  /**
   * A failed attempt the plan goes on from: an address that failed as a server is tried after
   * its siblings from now on; any other failover answer is the server's, whatever its address,
   * so the target's other addresses are skipped.
   */
  #afterFailure(gatewayId: string, outcome: AttemptOutcome): void {
    if (serverFailed(outcome)) {
      if (this.#sentTo) this.#source.failed(this.#sentTo.address, this.#sentTo.port);
      return;
    }
    while (this.#queued[0]?.gatewayId === gatewayId && 'address' in this.#queued[0]) this.#queued.shift();
  }

  #decide(outcome: AttemptOutcome): { stop?: PlanResult; reason: string } {
    if (outcome === 'timeout' || outcome === 'transport_error') return { reason: `${outcome}: failover` };
    if (outcome === 'dns_failure') return { reason: `dns_failure (${this.#dnsDetail}): failover` };
    if (outcome === 'cancelled') return { stop: 'failed', reason: 'cancelled' };
    const { status, earlyMedia } = outcome;
    if (status >= 200 && status < 300) return { stop: 'answered', reason: 'answered' };
    if (earlyMedia) return { stop: 'failed', reason: `${status} after early media: no failover` };
    if (this.#trunk.outbound?.failoverCodes.includes(status))
      return { reason: `${status} is a failover code` };
    return { stop: 'failed', reason: `${status} is final (not a failover code)` };
  }
}

function outcomeLabel(outcome: AttemptOutcome): string {
  return typeof outcome === 'string' ? outcome : String(outcome.status);
}

function endAttempt(
  attempt: AttemptRecord,
  nowMs: number,
  outcome: AttemptOutcome,
  reason: string,
  redirectedTo: string | undefined,
): void {
  attempt.endedAtMs = nowMs;
  attempt.outcome = outcomeLabel(outcome);
  attempt.reason = reason;
  if (redirectedTo !== undefined) attempt.redirectedTo = redirectedTo;
}

export class OutboundRouter {
  readonly #healthView: HealthView;
  readonly #locator: ServerLocator;
  readonly #clock: Clock;
  readonly #random: () => number;

  constructor(
    healthView: HealthView,
    locator: ServerLocator,
    clock: Clock,
    random: () => number = Math.random,
  ) {
    this.#healthView = healthView;
    this.#locator = locator;
    this.#clock = clock;
    this.#random = random;
  }

  /** Orders the trunk's available gateways; an empty plan ends at once as 'exhausted'. */
  plan(trunk: TrunkConfig): AttemptPlan {
    return new AttemptPlan(
      trunk,
      this.order(trunk),
      {
        targets: (candidate) => this.#targets(candidate),
        addresses: (host, port) => this.#locator.addresses(host, port),
        failed: (address, port) => this.#locator.failed(address, port),
      },
      this.#clock,
    );
  }

  order(trunk: TrunkConfig): Candidate[] {
    const gateways = (trunk.outbound?.gateways ?? []).map((gateway) => ({
      gatewayId: gatewayId(trunk.name, gateway),
      gateway,
      priority: gateway.priority,
      weight: gateway.weight,
    }));
    return this.#orderAvailable(gateways).map(({ gatewayId, gateway }) => ({ gatewayId, gateway }));
  }

  /** The gateway's available targets in the order to try them, or its DNS failure. */
  async #targets(candidate: Candidate): Promise<PlannedTarget[]> {
    const answer = await this.#locator.targets(candidate.gateway);
    if (!answer.ok) return [{ ...candidate, failure: answer.detail }];
    const targets = answer.targets.map((target) => ({
      gatewayId: targetId(candidate.gatewayId, candidate.gateway, target),
      gateway: candidate.gateway,
      host: target.host,
      port: target.port,
      priority: target.priority,
      weight: target.weight,
    }));
    return this.#orderAvailable(targets).map(({ priority: _p, weight: _w, ...target }) => target);
  }

  /** Drops what is marked down; orders by priority, then weight × score draws within one. */
  #orderAvailable<T extends { gatewayId: string; priority: number; weight: number }>(items: T[]): T[] {
    const available: T[] = [];
    for (const item of items) {
      const { score, available: up } = this.#healthView.health(item.gatewayId);
      if (up) available.push({ ...item, weight: item.weight * Math.max(0, score) });
    }
    return priorityWeightedOrder(available, this.#random);
  }
}
