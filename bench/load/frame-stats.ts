/**
 * One direction of the load bench's audio as its receiver sees it: tagged frames (one in a few
 * of a caller's speech, see talker.ts) whose send time falls in the measured window are counted
 * once each (a frame concealment repeated is not counted twice), with their one-way latency in
 * a fixed histogram (bounded memory at any call count) and the frames that came late: later
 * after the call's previous tagged frame than they were sent after it, by more than a gap of
 * LATE_GAP_MS between two 20 ms frames would make them.
 */

/** A frame arriving this long after the call's previous frame is a gap the listener hears. */
export const LATE_GAP_MS = 60;
/** How much a frame's latency may exceed its predecessor's before it is late (a 60 ms gap). */
const LATE_RISE_US = (LATE_GAP_MS - 20) * 1000;
/** Frames slower than this make the tail whose spread over the calls the figures give. */
export const TAIL_MS = 100;
const TAIL_US = TAIL_MS * 1000;
const BIN_US = 100;
const BINS = 50_000; // 0.1 ms bins up to 5 s; slower frames land in the last bin

/** What a receiver measured over the window's tagged frames (the sender's count gives the missing ones). */
export interface ReceivedFigures {
  received: number;
  late: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Frames slower than TAIL_MS, and how many calls they came from (a few stalled calls, or all). */
  tailFrames: number;
  tailCalls: number;
}

export class FrameStats {
  readonly #histogram = new Uint32Array(BINS);
  /** Per call: the latest tagged frame seen (by its caller send time) and when it arrived. */
  readonly #lastFrame = new Map<number, number>();
  readonly #lastArrivalUs = new Map<number, number>();
  /** Per call: its frames in the window slower than TAIL_MS. */
  readonly #tailByCall = new Map<number, number>();
  #windowStartUs = Number.POSITIVE_INFINITY;
  #windowEndUs = Number.POSITIVE_INFINITY;
  #received = 0;
  #late = 0;
  #maxUs = 0;

  /** Counts frames sent in [startUs, endUs) from now on; forgets the previous window and calls. */
  setWindow(startUs: number, endUs: number): void {
    this.#lastFrame.clear();
    this.#lastArrivalUs.clear();
    this.#tailByCall.clear();
    this.#windowStartUs = startUs;
    this.#windowEndUs = endUs;
    this.#histogram.fill(0);
    this.#received = 0;
    this.#late = 0;
    this.#maxUs = 0;
  }

  inWindow(sentUs: number): boolean {
    return sentUs >= this.#windowStartUs && sentUs < this.#windowEndUs;
  }

  /**
   * Records a frame, named by its caller send time `frameUs` and measured from `sentUs` (the
   * send time of this direction); false if the call already had this frame or a later one, or
   * if its times are impossible (sent after it arrived: a garbled tag that passed its checksum).
   */
  observe(call: number, frameUs: number, sentUs: number, arrivalUs: number): boolean {
    const last = this.#lastFrame.get(call);
    if ((last !== undefined && frameUs <= last) || frameUs > sentUs || sentUs > arrivalUs) return false;
    const previousArrival = this.#lastArrivalUs.get(call);
    this.#lastFrame.set(call, frameUs);
    this.#lastArrivalUs.set(call, arrivalUs);
    if (!this.inWindow(sentUs)) return true;
    this.#received++;
    // Tagged frames are sent 80 ms or more apart: what counts is how much later than that.
    if (
      last !== undefined &&
      previousArrival !== undefined &&
      arrivalUs - previousArrival - (frameUs - last) > LATE_RISE_US
    )
      this.#late++;
    const latencyUs = Math.max(0, arrivalUs - sentUs);
    this.#maxUs = Math.max(this.#maxUs, latencyUs);
    if (latencyUs > TAIL_US) this.#tailByCall.set(call, (this.#tailByCall.get(call) ?? 0) + 1);
    this.#histogram[Math.min(BINS - 1, Math.floor(latencyUs / BIN_US))]!++;
    return true;
  }

  figures(): ReceivedFigures {
    return {
      received: this.#received,
      late: this.#late,
      p50Ms: this.#percentileMs(0.5),
      p99Ms: this.#percentileMs(0.99),
      maxMs: this.#received > 0 ? this.#maxUs / 1000 : Number.NaN,
      tailFrames: [...this.#tailByCall.values()].reduce((sum, frames) => sum + frames, 0),
      tailCalls: this.#tailByCall.size,
    };
  }

  /** The upper edge of the bin holding the p-quantile; NaN without frames. */
  #percentileMs(p: number): number {
    if (this.#received === 0) return Number.NaN;
    const rank = Math.ceil(p * this.#received);
    let seen = 0;
    for (let bin = 0; bin < BINS; bin++) {
      seen += this.#histogram[bin] ?? 0;
      if (seen >= rank) return ((bin + 1) * BIN_US) / 1000;
    }
    return this.#maxUs / 1000;
  }
}
