/**
 * Per-frame latencies a media worker collects between two reports, for the main thread's
 * `patchbay_rtp_to_websocket_seconds` histogram: written into one preallocated array (nothing
 * allocated per frame), handed over as one copy per report.
 */

/**
 * Frames kept per report: 50 frames/s over a 500 ms report is 25 per call, so this covers
 * about 2600 calls per worker; beyond it the rest of the interval's frames are not observed.
 */
const CAPACITY = 65_536;

export class LatencyBatch {
  readonly #values = new Float64Array(CAPACITY);
  #count = 0;

  observe(seconds: number): void {
    if (this.#count < CAPACITY) this.#values[this.#count++] = seconds;
  }

  /** The values observed since the previous take, as a copy (the batch starts over). */
  take(): Float64Array {
    const taken = this.#values.slice(0, this.#count);
    this.#count = 0;
    return taken;
  }
}
