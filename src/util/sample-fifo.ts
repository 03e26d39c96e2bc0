/**
 * Audio samples waiting to be played, in one buffer reused from frame to frame: a write
 * compacts the unread samples to the front when the tail has no room and grows the buffer
 * only when they still do not fit, so a steady stream allocates nothing. Once a burst that
 * grew it has been read out, the buffer goes back to its first size at the next write: a
 * call that once queued a minute of a bot's audio does not keep the room for the rest of it.
 */
export class SampleFifo {
  readonly #initialCapacity: number;
  #buffer: Int16Array;
  #start = 0;
  #length = 0;

  constructor(initialCapacity: number) {
    this.#initialCapacity = initialCapacity;
    this.#buffer = new Int16Array(initialCapacity);
  }

  /** Samples written and not yet read. */
  get length(): number {
    return this.#length;
  }

  /** Samples the buffer has room for: the memory it keeps. */
  get capacity(): number {
    return this.#buffer.length;
  }

  /** Appends the first `count` samples of `samples` (all of them by default). */
  write(samples: Int16Array, count = samples.length): void {
    const at = this.#reserve(count); // before reading #buffer: reserving may replace it
    const buffer = this.#buffer;
    if (count === samples.length) buffer.set(samples, at);
    // A loop rather than set(subarray): a view would be an allocation per frame.
    else for (let i = 0; i < count; i++) buffer[at + i] = samples[i] as number;
    this.#length += count;
  }

  writeSilence(count: number): void {
    const at = this.#reserve(count);
    this.#buffer.fill(0, at, at + count);
    this.#length += count;
  }

  /** Moves the oldest `count` samples (there must be that many) into `out`, from its start. */
  read(out: Int16Array, count = out.length): Int16Array {
    this.peek(out, count);
    this.drop(count);
    return out;
  }

  /** Copies the oldest `count` samples (there must be that many) into `out`; they stay queued. */
  peek(out: Int16Array, count = out.length): Int16Array {
    if (count > this.#length) throw new RangeError('sample FIFO holds fewer samples than asked');
    const buffer = this.#buffer;
    const start = this.#start;
    for (let i = 0; i < count; i++) out[i] = buffer[start + i] as number;
    return out;
  }

  /** Discards the oldest `count` samples (at most what is held). */
  drop(count: number): void {
    const dropped = Math.min(count, this.#length);
    this.#start += dropped;
    this.#length -= dropped;
    if (this.#length === 0) this.#start = 0;
  }

  /** The index where `count` more samples go, after compacting, growing or shrinking as needed. */
  #reserve(count: number): number {
    const needed = this.#length + count;
    if (this.#length === 0 && this.#buffer.length > this.#initialCapacity && needed <= this.#initialCapacity)
      this.#buffer = new Int16Array(this.#initialCapacity);
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
