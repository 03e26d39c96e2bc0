/**
 * Gateway health over a sliding window of time buckets on the injected clock: the OpenSIPS
 * qrouting set (ASR, CCR, PDD, AST, ACD) plus RTCP media quality (loss, jitter, RTT → MOS)
 * and OPTIONS liveness. Each metric counts only with enough samples; a metric past its warn
 * or critical threshold multiplies the score by that penalty (qrouting's dynamic weights).
 */
import { HEALTH_HIGHER_IS_BETTER, type HealthConfig, type HealthMetricName } from '../config/index.js';
import type { Clock } from '../util/index.js';
import { estimateMos } from './mos.js';

/** The outcome of one outbound attempt on this gateway. */
export interface AttemptSample {
  /** 2xx final answer (ASR numerator). */
  answered: boolean;
  /** Failed by the network or carrier (timeout, transport error, 408/5xx) — CCR's failures. */
  networkFailure: boolean;
  /** INVITE → first 18x (post-dial delay). */
  pddMs?: number | undefined;
  /** INVITE → 200 OK (setup time). */
  setupMs?: number | undefined;
}

/** One call's (or one RTCP interval's) receive quality. */
export interface MediaSample {
  lossFraction: number;
  jitterMs: number;
  rttMs: number;
}

interface Bucket {
  epoch: number;
  seized: number;
  answered: number;
  completed: number;
  pddSum: number;
  pddCount: number;
  setupSum: number;
  setupCount: number;
  durationSum: number;
  durationCount: number;
  lossSum: number;
  jitterSum: number;
  rttSum: number;
  mediaCount: number;
}

/**
 * A window's sums, without its position in time: what a node shares with the other nodes of a
 * cluster, which add it to their own window (the score then judges every node's calls).
 */
export type WindowTotals = Omit<Bucket, 'epoch'>;

/** A window with no calls in it. */
export function emptyWindowTotals(): WindowTotals {
  return {
    seized: 0,
    answered: 0,
    completed: 0,
    pddSum: 0,
    pddCount: 0,
    setupSum: 0,
    setupCount: 0,
    durationSum: 0,
    durationCount: 0,
    lossSum: 0,
    jitterSum: 0,
    rttSum: 0,
    mediaCount: 0,
  };
}

function emptyBucket(epoch: number): Bucket {
  return { epoch, ...emptyWindowTotals() };
}

export type MetricName = HealthMetricName;
type MetricLevel = 'ok' | 'warn' | 'critical' | 'insufficient';

interface MetricScore {
  /** undefined when no samples at all. */
  value: number | undefined;
  samples: number;
  minSamples: number;
  level: MetricLevel;
  /** Multiplier applied to the score (1 when ok or insufficient). */
  penalty: number;
}

export type Liveness = 'unknown' | 'up' | 'down';

/** The longest a Retry-After holds a gateway off: a carrier's typo must not take it out for days. */
export const MAX_RETRY_AFTER_MS = 300_000;

export interface HealthSnapshot {
  gatewayId: string;
  /** False while OPTIONS probing marks the gateway down, or a Retry-After holds it off: the router skips it. */
  available: boolean;
  liveness: Liveness;
  /** What is left of the last 503's Retry-After (0: none): no new calls go to it meanwhile. */
  retryAfterMs: number;
  /** Product of the penalties, in [0, 1]; 0 when unavailable. */
  score: number;
  metrics: Record<MetricName, MetricScore>;
  media: { lossFraction: number | undefined; jitterMs: number | undefined; rttMs: number | undefined };
  window: { ms: number; calls: number; answered: number; completed: number };
}

export class GatewayHealth {
  readonly #buckets: Bucket[];
  #latestEpoch = Number.NEGATIVE_INFINITY;
  #liveness: Liveness = 'unknown';
  #heldOffUntilMs = Number.NEGATIVE_INFINITY;
  /** The end of a hold another node got (or this one, read back), on this node's clock. */
  #sharedHoldUntilMs = Number.NEGATIVE_INFINITY;
  #peerTotals: readonly WindowTotals[] = [];

  readonly #config: HealthConfig;
  readonly #clock: Clock;
  readonly #onHoldOff: ((gatewayId: string, holdMs: number) => void) | undefined;

  /** `onHoldOff`: told of each hold this node gets (a cluster shares it). */
  constructor(
    readonly gatewayId: string,
    config: HealthConfig,
    clock: Clock,
    onHoldOff?: (gatewayId: string, holdMs: number) => void,
  ) {
    this.#config = config;
    this.#clock = clock;
    this.#onHoldOff = onHoldOff;
    const count = Math.max(1, Math.ceil(config.windowMs / config.bucketMs));
    this.#buckets = Array.from({ length: count }, () => emptyBucket(Number.NEGATIVE_INFINITY));
  }

  recordAttempt(sample: AttemptSample): void {
    const bucket = this.#currentBucket();
    bucket.seized++;
    if (sample.answered) bucket.answered++;
    if (!sample.networkFailure) bucket.completed++;
    if (sample.pddMs !== undefined && sample.pddMs >= 0) {
      bucket.pddSum += sample.pddMs;
      bucket.pddCount++;
    }
    if (sample.answered && sample.setupMs !== undefined && sample.setupMs >= 0) {
      bucket.setupSum += sample.setupMs;
      bucket.setupCount++;
    }
  }

  /** An answered call ended after `durationSec` (ACD). */
  recordCallEnded(durationSec: number): void {
    if (!(durationSec >= 0)) return;
    const bucket = this.#currentBucket();
    bucket.durationSum += durationSec;
    bucket.durationCount++;
  }

  recordMedia(sample: MediaSample): void {
    if (![sample.lossFraction, sample.jitterMs, sample.rttMs].every(Number.isFinite)) return;
    const bucket = this.#currentBucket();
    bucket.lossSum += Math.min(1, Math.max(0, sample.lossFraction));
    bucket.jitterSum += Math.max(0, sample.jitterMs);
    bucket.rttSum += Math.max(0, sample.rttMs);
    bucket.mediaCount++;
  }

  /** This node's own sums over the window ending now (for sharing). */
  ownTotals(): WindowTotals {
    const { epoch: _epoch, ...totals } = this.#windowTotals();
    return totals;
  }

  /** Other nodes' latest window sums, added to this node's own in every snapshot; [] alone. */
  setPeerTotals(totals: readonly WindowTotals[]): void {
    this.#peerTotals = totals;
  }

  /** Fed by the OPTIONS prober. */
  setLiveness(liveness: Liveness): void {
    this.#liveness = liveness;
  }

  /**
   * A 503 with Retry-After: no new requests go to the gateway for that long (RFC 3261 §21.5.4),
   * at most MAX_RETRY_AFTER_MS, beyond which its probes and health window judge it again.
   */
  holdOff(retryAfterMs: number): void {
    const holdMs = boundedHoldMs(retryAfterMs);
    this.#heldOffUntilMs = Math.max(this.#heldOffUntilMs, this.#clock.now() + holdMs);
    if (holdMs > 0) this.#onHoldOff?.(this.gatewayId, holdMs);
  }

  /** What is left of this node's own hold (0: none), to share with the other nodes. */
  ownHoldMs(): number {
    return Math.max(0, this.#heldOffUntilMs - this.#clock.now());
  }

  /**
   * What is left of the cluster's hold, as Redis counts it: it ends that long from now on this
   * node's clock (only durations cross nodes, so their clocks need not agree). A hold only grows
   * until it ends: a Redis that lost it, or a read that failed, does not end it early.
   */
  setSharedHold(holdMs: number): void {
    const until = this.#clock.now() + boundedHoldMs(holdMs);
    this.#sharedHoldUntilMs = Math.max(this.#sharedHoldUntilMs, until);
  }

  /**
   * A reload that rebuilt this gateway's health with new settings keeps the holds of the old
   * one: a Retry-After is the carrier's word, not one of our settings.
   */
  keepHoldsOf(previous: GatewayHealth): void {
    this.#heldOffUntilMs = Math.max(this.#heldOffUntilMs, previous.#heldOffUntilMs);
    this.#sharedHoldUntilMs = Math.max(this.#sharedHoldUntilMs, previous.#sharedHoldUntilMs);
  }

  get available(): boolean {
    return this.#liveness !== 'down' && this.#retryAfterMs() === 0;
  }

  #retryAfterMs(): number {
    const until = Math.max(this.#heldOffUntilMs, this.#sharedHoldUntilMs);
    return Math.max(0, until - this.#clock.now());
  }

  score(): number {
    return this.snapshot().score;
  }

  snapshot(): HealthSnapshot {
    const total = this.#windowTotals();
    for (const peer of this.#peerTotals) addTotals(total, peer);
    const { minCalls, minMediaSamples } = this.#config;
    const mean = (sum: number, count: number) => (count > 0 ? sum / count : undefined);
    const media = {
      lossFraction: mean(total.lossSum, total.mediaCount),
      jitterMs: mean(total.jitterSum, total.mediaCount),
      rttMs: mean(total.rttSum, total.mediaCount),
    };
    const mos =
      media.lossFraction === undefined
        ? undefined
        : estimateMos({
            lossFraction: media.lossFraction,
            jitterMs: media.jitterMs ?? 0,
            rttMs: media.rttMs ?? 0,
          });
    const metrics: Record<MetricName, MetricScore> = {
      asr: this.#judge('asr', mean(total.answered, total.seized), total.seized, minCalls),
      ccr: this.#judge('ccr', mean(total.completed, total.seized), total.seized, minCalls),
      pddMs: this.#judge('pddMs', mean(total.pddSum, total.pddCount), total.pddCount, minCalls),
      astMs: this.#judge('astMs', mean(total.setupSum, total.setupCount), total.setupCount, minCalls),
      acdSec: this.#judge(
        'acdSec',
        mean(total.durationSum, total.durationCount),
        total.durationCount,
        minCalls,
      ),
      mos: this.#judge('mos', mos, total.mediaCount, minMediaSamples),
    };
    const penalties = Object.values(metrics).reduce((product, metric) => product * metric.penalty, 1);
    return {
      gatewayId: this.gatewayId,
      available: this.available,
      liveness: this.#liveness,
      retryAfterMs: this.#retryAfterMs(),
      score: this.available ? penalties : 0,
      metrics,
      media,
      window: {
        ms: this.#config.windowMs,
        calls: total.seized,
        answered: total.answered,
        completed: total.completed,
      },
    };
  }

  #judge(name: MetricName, value: number | undefined, samples: number, minSamples: number): MetricScore {
    if (value === undefined || samples < minSamples) {
      return { value, samples, minSamples, level: 'insufficient', penalty: 1 };
    }
    const threshold = this.#config[name];
    const worse = (limit: number) => (HEALTH_HIGHER_IS_BETTER[name] ? value < limit : value > limit);
    if (worse(threshold.critical))
      return { value, samples, minSamples, level: 'critical', penalty: threshold.criticalPenalty };
    if (worse(threshold.warn))
      return { value, samples, minSamples, level: 'warn', penalty: threshold.warnPenalty };
    return { value, samples, minSamples, level: 'ok', penalty: 1 };
  }

  #epochNow(): number {
    // A monotonic clock never goes back; if one does, keep recording into the latest bucket.
    return Math.max(Math.floor(this.#clock.now() / this.#config.bucketMs), this.#latestEpoch);
  }

  #currentBucket(): Bucket {
    const epoch = this.#epochNow();
    this.#latestEpoch = epoch;
    const index = ((epoch % this.#buckets.length) + this.#buckets.length) % this.#buckets.length;
    let bucket = this.#buckets[index]!;
    if (bucket.epoch !== epoch) {
      bucket = emptyBucket(epoch);
      this.#buckets[index] = bucket;
    }
    return bucket;
  }

  /** Sums the buckets inside the window ending now (the current, partial bucket included). */
  #windowTotals(): Bucket {
    const epoch = this.#epochNow();
    const oldest = epoch - this.#buckets.length + 1;
    const total = emptyBucket(epoch);
    for (const bucket of this.#buckets) {
      if (bucket.epoch < oldest || bucket.epoch > epoch) continue;
      addTotals(total, bucket);
    }
    return total;
  }
}

/** A Retry-After hold in whole ms, within [0, MAX_RETRY_AFTER_MS] (NaN holds nothing). */
function boundedHoldMs(ms: number): number {
  return ms > 0 ? Math.floor(Math.min(ms, MAX_RETRY_AFTER_MS)) : 0;
}

/** Adds `from`'s sums into `into` (a bucket's `epoch`, when `into` is one, is not a sum). */
function addTotals(into: WindowTotals, from: WindowTotals): void {
  for (const key of Object.keys(into) as Array<keyof WindowTotals | 'epoch'>) {
    if (key === 'epoch') continue;
    const value = from[key];
    // Peer totals come from other processes: a missing or non-numeric field adds nothing.
    if (typeof value === 'number' && Number.isFinite(value)) into[key] += value;
  }
}
