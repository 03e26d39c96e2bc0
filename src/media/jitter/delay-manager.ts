/**
 * Target buffer level from the relative arrival delay of packets (NetEQ DelayManager):
 * each packet's delay is measured against the fastest packet of a recent window and binned
 * into a histogram with exponential forgetting. A playout delay D (from the fastest packet)
 * makes late exactly the packets with a relative delay above D, so D is a quantile of the
 * histogram; the quantile itself follows the late rate actually seen (after NetEQ's
 * UnderrunOptimizer). What the receiver can steer is its buffer level, and at a steady D
 * the buffer holds D − E[min(d, D)] of audio (every packet waits D minus its own delay), so
 * the target level is the quantile minus the mean relative delay. No one-packet floor: the
 * receiver counts the newest packet only for as long as it has waited, so a stream played
 * just in time reads a level near zero whatever its packet duration.
 */

const BUCKET_MS = 5;
/**
 * Margin on top of the delay quantile: packets arrive anywhere within a playout tick, so
 * on average half a frame passes between a packet's arrival and the pull that needs it.
 */
const TICK_MARGIN_FRAMES = 0.5;
/** Window over which the fastest packet is the reference ("relative delay"). */
const REFERENCE_WINDOW_MS = 2000;
/** Bound on the reference window's entries (2 s of 10 ms packets, with margin). */
const MAX_REFERENCE_ENTRIES = 512;
/**
 * The first n observations are averaged (weight START_WEIGHT / (n + 1)) until that is less
 * than the forget factor's, so a stream start is learned at once and then held steady
 * (NetEQ's start forget weight).
 */
const START_WEIGHT = 1;
/** Per-packet forgetting of the late-rate estimate (~10 s of 20 ms packets). */
const LATE_FORGET = 0.998;
/** Per-packet factor on the quantile's miss probability (1 − quantile) while late packets exceed the goal. */
const MISS_DOWN = 0.99;
/** Per-packet factor back while late packets are below half the goal: slower than going up. */
const MISS_UP = 1.002;

export interface DelayManagerOptions {
  frameMs: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Quantile of the relative delay covered while the late rate is at or below its goal. */
  targetQuantile: number;
  /** Highest quantile the late-rate feedback may raise the target quantile to. */
  maxTargetQuantile: number;
  /** Fraction of packets allowed to arrive after their playout time. */
  lateRateGoal: number;
  /** Per-packet decay of old observations in the histogram. */
  forgetFactor: number;
}

/**
 * The fastest transit among the packets of the reference window (a sliding-window minimum): a
 * deque of candidates increasing in transit time, the fastest at the front, in a ring of
 * typed arrays, so a packet costs O(1) amortised and allocates nothing. It holds at most
 * MAX_REFERENCE_ENTRIES packets, the window's bound.
 */
class FastestTransit {
  readonly #index = new Float64Array(MAX_REFERENCE_ENTRIES);
  readonly #arrivalMs = new Float64Array(MAX_REFERENCE_ENTRIES);
  readonly #transitMs = new Float64Array(MAX_REFERENCE_ENTRIES);
  #front = 0;
  #length = 0;

  clear(): void {
    this.#front = 0;
    this.#length = 0;
  }

  /** The window's fastest transit as of `arrivalMs` (what left the window dropped), if any. */
  peek(arrivalMs: number): number | undefined {
    this.#expire(arrivalMs);
    return this.#length > 0 ? (this.#transitMs[this.#front] as number) : undefined;
  }

  /** Adds packet `index`, drops what left the window, and returns the window's fastest transit. */
  add(index: number, arrivalMs: number, transitMs: number): number {
    // A slower candidate behind a faster, newer one can never be the fastest again.
    while (this.#length > 0 && (this.#transitMs[this.#slot(this.#length - 1)] as number) >= transitMs)
      this.#length--;
    const back = this.#slot(this.#length);
    this.#index[back] = index;
    this.#arrivalMs[back] = arrivalMs;
    this.#transitMs[back] = transitMs;
    this.#length++;
    this.#expire(arrivalMs, index);
    return this.#transitMs[this.#front] as number;
  }

  /** Drops from the front what left the window by `arrivalMs`, and by count once `index` is given. */
  #expire(arrivalMs: number, index = Number.NEGATIVE_INFINITY): void {
    while (
      this.#length > 0 &&
      (arrivalMs - (this.#arrivalMs[this.#front] as number) > REFERENCE_WINDOW_MS ||
        index - (this.#index[this.#front] as number) >= MAX_REFERENCE_ENTRIES)
    ) {
      this.#front = (this.#front + 1) % MAX_REFERENCE_ENTRIES;
      this.#length--;
    }
  }

  #slot(offset: number): number {
    return (this.#front + offset) % MAX_REFERENCE_ENTRIES;
  }
}

/** Below this the lazily applied decay is folded into the weights (far from underflow). */
const RESCALE_BELOW = 1e-100;

export class DelayManager {
  readonly #histogram: Float64Array;
  /** Observations since the last reset: the forget factor ramps up over the first ones. */
  /**
   * Forgetting is applied lazily: the true weight of bucket i is histogram[i] * decay, and a
   * new observation is added divided by decay, so an update costs O(1) instead of touching
   * every bucket (the histogram spans maxDelayMs in 5 ms buckets).
   */
  #decay = 1;
  /** Sum of the stored (undecayed) weights. */
  #storedTotal = 1;
  #observed = 0;
  readonly #fastest = new FastestTransit();
  /** Target level from the histogram, before the clamp. */
  #histogramTarget: number;
  #target: number;
  /** Recent fraction of late packets, exponentially forgotten. */
  #lateRate = 0;
  /** Quantile in use: targetQuantile, raised while the late rate is above the goal. */
  #quantile: number;

  readonly #options: DelayManagerOptions;

  constructor(options: DelayManagerOptions) {
    this.#options = options;
    this.#histogram = new Float64Array(Math.ceil(options.maxDelayMs / BUCKET_MS) + 1);
    this.#quantile = options.targetQuantile;
    this.#histogramTarget = options.minDelayMs;
    this.#target = options.minDelayMs;
    this.reset();
  }

  /** Forgets the history, e.g. on a new stream (SSRC change, timestamp jump). */
  reset(): void {
    this.#histogram.fill(0);
    this.#histogram[0] = 1;
    this.#decay = 1;
    this.#storedTotal = 1;
    this.#observed = 0;
    this.#fastest.clear();
    this.#lateRate = 0;
    this.#quantile = this.#options.targetQuantile;
    this.#histogramTarget = this.#options.frameMs;
    this.#updateTarget();
  }

  /**
   * Records one arrival, late ones included (they are the delays the target failed to
   * cover); `mediaMs` is the packet's RTP timestamp in milliseconds (unwrapped). A packet
   * whose delay relative to the window's fastest is above maxDelayMs, or below minus a frame,
   * is a timestamp jump (a stray packet, a source switch), not jitter: it is left out of both
   * the reference window and the histogram, or one packet seconds ahead would become the
   * reference and every packet after it would look seconds late for as long as the
   * histogram remembers (RFC 3550 §A.8 measures jitter from timestamp and arrival differences
   * of one stream; NetEQ resets its delay manager on such a jump).
   */
  update(arrivalMs: number, mediaMs: number, late: boolean): number {
    const transitMs = arrivalMs - mediaMs;
    const fastestMs = this.#fastest.peek(arrivalMs);
    if (fastestMs !== undefined) {
      const offsetMs = transitMs - fastestMs;
      if (offsetMs > this.#options.maxDelayMs || offsetMs < -this.#options.frameMs) return offsetMs;
    }
    const relativeDelayMs = transitMs - this.#fastest.add(this.#observed, arrivalMs, transitMs);
    this.#followLateRate(late);
    this.#observe(relativeDelayMs);
    this.#updateTarget();
    return relativeDelayMs;
  }

  /** The quantile of the relative delay the target currently covers. */
  targetQuantile(): number {
    return this.#quantile;
  }

  targetDelayMs(): number {
    return this.#target;
  }

  /**
   * Late-rate feedback: a fixed quantile of a histogram under-covers a heavy tail (its top
   * is estimated from a handful of samples) and the start of a stream, so while more than
   * lateRateGoal of the packets come late the quantile rises, and it falls back once they
   * are well below the goal.
   */
  #followLateRate(late: boolean): void {
    this.#lateRate = LATE_FORGET * this.#lateRate + (1 - LATE_FORGET) * (late ? 1 : 0);
    let miss = 1 - this.#quantile;
    if (this.#lateRate > this.#options.lateRateGoal) miss *= MISS_DOWN;
    else if (this.#lateRate < this.#options.lateRateGoal / 2) miss *= MISS_UP;
    const minMiss = 1 - this.#options.maxTargetQuantile;
    const maxMiss = 1 - this.#options.targetQuantile;
    this.#quantile = 1 - Math.min(maxMiss, Math.max(minMiss, miss));
  }

  #observe(relativeDelayMs: number): void {
    const bucket = Math.min(this.#histogram.length - 1, Math.max(0, Math.ceil(relativeDelayMs / BUCKET_MS)));
    this.#observed++;
    const forget = Math.min(this.#options.forgetFactor, 1 - START_WEIGHT / (this.#observed + 1));
    this.#decay *= forget;
    const added = (1 - forget) / this.#decay;
    this.#histogram[bucket] = (this.#histogram[bucket] ?? 0) + added;
    this.#storedTotal += added;
    if (this.#decay < RESCALE_BELOW) this.#rescale();
    this.#histogramTarget = this.#playoutLessMeanWait() + this.#options.frameMs * TICK_MARGIN_FRAMES;
  }

  #rescale(): void {
    for (let i = 0; i < this.#histogram.length; i++)
      this.#histogram[i] = (this.#histogram[i] ?? 0) * this.#decay;
    this.#storedTotal *= this.#decay;
    this.#decay = 1;
  }

  #updateTarget(): void {
    this.#target = this.#clamp(this.#histogramTarget);
  }

  /**
   * The quantile bucket's delay D less E[min(d, D)] (how long, on average, packets took of a
   * playout delay D), both in one pass; the lazy decay cancels out of both.
   */
  #playoutLessMeanWait(): number {
    const total = this.#storedTotal;
    const threshold = this.#quantile * total;
    let cumulative = 0;
    let weightedBuckets = 0;
    let k = this.#histogram.length - 1;
    for (let i = 0; i < this.#histogram.length; i++) {
      const weight = this.#histogram[i] ?? 0;
      cumulative += weight;
      weightedBuckets += weight * i;
      if (cumulative >= threshold) {
        k = i;
        break;
      }
    }
    const playoutMs = k * BUCKET_MS;
    const meanWaitedMs =
      total > 0 ? (weightedBuckets * BUCKET_MS + playoutMs * Math.max(0, total - cumulative)) / total : 0;
    return playoutMs - meanWaitedMs;
  }

  #clamp(delayMs: number): number {
    return Math.min(this.#options.maxDelayMs, Math.max(this.#options.minDelayMs, delayMs));
  }
}
