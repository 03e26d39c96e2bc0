/**
 * Values binned by fixed upper bounds the way a Prometheus histogram counts them (a value goes
 * to the first bound it is at or below, else above every bound), plus their sum. A media
 * worker bins its frames' latencies here and sends the main thread the counts instead of every
 * value; the main thread's histogram keeps its totals the same way.
 */

/**
 * Upper bounds (seconds) of `patchbay_rtp_to_websocket_seconds`, shared by the metric and the
 * media workers that bin for it: 10 ms steps around the usual jitter-buffer delays, so a p50
 * can be read off to a frame, and up to a second (the largest jitter-buffer delay a trunk may set).
 */
export const RTP_TO_WEBSOCKET_BOUNDS: readonly number[] = Object.freeze([
  0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.1, 0.12, 0.16, 0.24, 0.32, 0.5, 0.75, 1,
]);

/**
 * Counts taken from a BucketCounts: `counts[i]` values above `bounds[i - 1]` and at or below
 * `bounds[i]`, the last slot those above every bound (one more slot than bounds); `sum` of them all.
 */
export interface BinnedValues {
  counts: Float64Array;
  sum: number;
}

export class BucketCounts {
  readonly bounds: readonly number[];
  /** The bounds again as a typed array: the per-value search reads it (faster than a frozen array). */
  readonly #bounds: Float64Array;
  readonly #counts: Float64Array;
  #sum = 0;

  constructor(bounds: readonly number[]) {
    if (bounds.some((bound, index) => index > 0 && bound <= (bounds[index - 1] as number)))
      throw new RangeError('bucket bounds must be strictly ascending');
    this.bounds = bounds;
    this.#bounds = Float64Array.from(bounds);
    this.#counts = new Float64Array(bounds.length + 1);
  }

  /** A value that is not a finite number is not counted: it would make the sum NaN for good. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.#bounds;
    let slot = 0;
    while (slot < bounds.length && value > (bounds[slot] as number)) slot++;
    this.#counts[slot] = (this.#counts[slot] as number) + 1;
    this.#sum += value;
  }

  /** Adds counts binned by the same bounds (a worker's report) in one pass over the slots. */
  add(binned: BinnedValues): void {
    if (binned.counts.length !== this.#counts.length)
      throw new RangeError(`expected ${this.#counts.length} bucket counts, got ${binned.counts.length}`);
    for (let slot = 0; slot < this.#counts.length; slot++)
      this.#counts[slot] = (this.#counts[slot] as number) + (binned.counts[slot] as number);
    this.#sum += binned.sum;
  }

  /** Values in each slot (not cumulative), the last one above every bound. */
  get counts(): ArrayLike<number> {
    return this.#counts;
  }

  get sum(): number {
    return this.#sum;
  }

  get count(): number {
    let count = 0;
    for (const slotCount of this.#counts) count += slotCount;
    return count;
  }

  /** The counts since the previous take, as a copy of their own (this starts over). */
  take(): BinnedValues {
    const taken = { counts: this.#counts.slice(), sum: this.#sum };
    this.reset();
    return taken;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#sum = 0;
  }
}
