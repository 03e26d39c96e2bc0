/**
 * Target playout delay from the relative arrival delay of packets (NetEQ DelayManager):
 * each packet's delay is measured against the fastest packet of a recent window, binned
 * into a histogram with exponential forgetting, and the target is a quantile of it.
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

export interface DelayManagerOptions {
  frameMs: number;
  minDelayMs: number;
  maxDelayMs: number;
  targetQuantile: number;
  /** Per-packet decay of old observations when delays are falling (slow adaptation down). */
  forgetFactor: number;
}

interface ArrivalSample {
  arrivalMs: number;
  transitMs: number;
}

export class DelayManager {
  private readonly histogram: Float64Array;
  private readonly recent: ArrivalSample[] = [];
  private target: number;

  constructor(private readonly options: DelayManagerOptions) {
    this.histogram = new Float64Array(Math.ceil(options.maxDelayMs / BUCKET_MS) + 1);
    this.target = options.minDelayMs;
    this.reset();
  }

  /** Forgets the history, e.g. on a new stream (SSRC change, timestamp jump). */
  reset(): void {
    this.histogram.fill(0);
    this.histogram[0] = 1;
    this.recent.length = 0;
    this.target = this.clamp(this.options.frameMs);
  }

  /** Records one arrival; `mediaMs` is the packet's RTP timestamp in milliseconds (unwrapped). */
  update(arrivalMs: number, mediaMs: number): number {
    const transitMs = arrivalMs - mediaMs;
    while (this.recent.length > 0) {
      const oldest = this.recent[0];
      if (
        !oldest ||
        (arrivalMs - oldest.arrivalMs <= REFERENCE_WINDOW_MS && this.recent.length < MAX_REFERENCE_ENTRIES)
      )
        break;
      this.recent.shift();
    }
    this.recent.push({ arrivalMs, transitMs });
    let fastest = transitMs;
    for (const sample of this.recent) fastest = Math.min(fastest, sample.transitMs);
    const relativeDelayMs = transitMs - fastest;
    this.observe(relativeDelayMs);
    return relativeDelayMs;
  }

  targetDelayMs(): number {
    return this.target;
  }

  private observe(relativeDelayMs: number): void {
    const bucket = Math.min(this.histogram.length - 1, Math.max(0, Math.ceil(relativeDelayMs / BUCKET_MS)));
    // Adapt upward quickly: a delay above the current target gets a larger weight,
    // so one spike lifts the quantile within a few packets (NetEQ's faster attack).
    const rising = bucket * BUCKET_MS + this.options.frameMs > this.target;
    const forget = rising ? Math.min(this.options.forgetFactor, 0.97) : this.options.forgetFactor;
    for (let i = 0; i < this.histogram.length; i++) this.histogram[i] = (this.histogram[i] ?? 0) * forget;
    this.histogram[bucket] = (this.histogram[bucket] ?? 0) + (1 - forget);
    this.target = this.clamp(this.quantileMs() + this.options.frameMs * TICK_MARGIN_FRAMES);
  }

  private quantileMs(): number {
    let total = 0;
    for (const weight of this.histogram) total += weight;
    let cumulative = 0;
    for (let i = 0; i < this.histogram.length; i++) {
      cumulative += this.histogram[i] ?? 0;
      if (cumulative >= this.options.targetQuantile * total) return i * BUCKET_MS;
    }
    return (this.histogram.length - 1) * BUCKET_MS;
  }

  private clamp(delayMs: number): number {
    return Math.min(this.options.maxDelayMs, Math.max(this.options.minDelayMs, delayMs));
  }
}
