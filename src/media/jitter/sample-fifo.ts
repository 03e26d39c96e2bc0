/**
 * Decoded samples waiting to be played, in one buffer reused from frame to frame: a write
 * compacts the unread samples to the front when the tail has no room and grows the buffer
 * only when they still do not fit, so a steady stream of packets allocates nothing.
 */
export class SampleFifo {
  #buffer: Int16Array;
  #start = 0;
  #length = 0;

  constructor(initialCapacity: number) {
    this.#buffer = new Int16Array(initialCapacity);
  }

  /** Samples written and not yet read. */
  get length(): number {
    return this.#length;
  }

  write(samples: Int16Array): void {
    const at = this.#reserve(samples.length); // before reading #buffer: reserving may replace it
    this.#buffer.set(samples, at);
    this.#length += samples.length;
  }

  writeSilence(count: number): void {
    const at = this.#reserve(count);
    this.#buffer.fill(0, at, at + count);
    this.#length += count;
  }

  /** Moves the oldest `out.length` samples (there must be that many) into `out`. */
  read(out: Int16Array): Int16Array {
    if (out.length > this.#length) throw new RangeError('sample FIFO holds fewer samples than asked');
    const buffer = this.#buffer;
    const start = this.#start;
    // A loop rather than set(subarray): a view would be an allocation per frame.
    for (let i = 0; i < out.length; i++) out[i] = buffer[start + i] as number;
    this.#start += out.length;
    this.#length -= out.length;
    if (this.#length === 0) this.#start = 0;
    return out;
  }

  /** The index where `count` more samples go, after compacting or growing as needed. */
  #reserve(count: number): number {
    const needed = this.#length + count;
    if (this.#start + needed <= this.#buffer.length) return this.#start + this.#length;
    const end = this.#start + this.#length;
    if (needed <= this.#buffer.length) this.#buffer.copyWithin(0, this.#start, end);
    else {
      const grown = new Int16Array(Math.max(needed, 2 * this.#buffer.length));
      grown.set(this.#buffer.subarray(this.#start, end));
      this.#buffer = grown;
    }
    this.#start = 0;
    return this.#length;
  }
}
