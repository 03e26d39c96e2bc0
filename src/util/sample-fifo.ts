/**
 * Audio waiting to be played, in one buffer reused from frame to frame: a write compacts the
 * unread audio to the front when the tail has no room and grows the buffer only when it still
 * does not fit, so a steady stream allocates nothing. Once a burst that grew it has been read
 * out, the buffer goes back to its first size at the next write: a call that once queued a
 * minute of a bot's audio does not keep the room for the rest of it.
 *
 * SampleFifo holds 16-bit samples, ByteFifo coded bytes (8 kHz µ-law: one byte a sample). Each
 * has its own copy loops: one loop reading both element kinds is polymorphic in V8 and ran
 * 45 % slower than the two monomorphic ones; only the bookkeeping here is shared.
 */
abstract class AudioFifo<A extends Int16Array | Uint8Array> {
  readonly #initialCapacity: number;
  readonly #create: (length: number) => A;
  protected buffer: A;
  protected start = 0;
  #length = 0;

  constructor(initialCapacity: number, create: (length: number) => A) {
    this.#initialCapacity = initialCapacity;
    this.#create = create;
    this.buffer = create(initialCapacity);
  }

  /** Units written and not yet read. */
  get length(): number {
    return this.#length;
  }

  /** Units the buffer has room for: the memory it keeps. */
  get capacity(): number {
    return this.buffer.length;
  }

  /** Moves the oldest `count` units (there must be that many) into `out`, from its start. */
  read(out: A, count = out.length): A {
    this.peek(out, count);
    this.drop(count);
    return out;
  }

  /** Copies the oldest `count` units (there must be that many) into `out`; they stay queued. */
  abstract peek(out: A, count?: number): A;

  /** Discards the oldest `count` units (at most what is held). */
  drop(count: number): void {
    const dropped = Math.min(count, this.#length);
    this.start += dropped;
    this.#length -= dropped;
    if (this.#length === 0) this.start = 0;
  }

  protected checkHeld(count: number): void {
    if (count > this.#length) throw new RangeError('audio FIFO holds fewer units than asked');
  }

  /**
   * Room for `count` more units, after compacting, growing or shrinking as needed: returns the
   * index where they go. The caller writes them and then calls `added`.
   */
  protected reserve(count: number): number {
    const needed = this.#length + count;
    if (this.#length === 0 && this.buffer.length > this.#initialCapacity && needed <= this.#initialCapacity)
      this.buffer = this.#create(this.#initialCapacity);
    if (this.start + needed <= this.buffer.length) return this.start + this.#length;
    const end = this.start + this.#length;
    if (needed <= this.buffer.length) this.buffer.copyWithin(0, this.start, end);
    else {
      const grown = this.#create(Math.max(needed, 2 * this.buffer.length));
      grown.set(this.buffer.subarray(this.start, end));
      this.buffer = grown;
    }
    this.start = 0;
    return this.#length;
  }

  protected added(count: number): void {
    this.#length += count;
  }
}

export class SampleFifo extends AudioFifo<Int16Array> {
  constructor(initialCapacity: number) {
    super(initialCapacity, (length) => new Int16Array(length));
  }

  /** Appends the first `count` samples of `samples` (all of them by default). */
  write(samples: Int16Array, count = samples.length): void {
    const at = this.reserve(count); // before reading buffer: reserving may replace it
    const buffer = this.buffer;
    if (count === samples.length) buffer.set(samples, at);
    // A loop rather than set(subarray): a view would be an allocation per frame.
    else for (let i = 0; i < count; i++) buffer[at + i] = samples[i] as number;
    this.added(count);
  }

  writeSilence(count: number): void {
    const at = this.reserve(count);
    this.buffer.fill(0, at, at + count);
    this.added(count);
  }

  peek(out: Int16Array, count = out.length): Int16Array {
    this.checkHeld(count);
    const buffer = this.buffer;
    const start = this.start;
    for (let i = 0; i < count; i++) out[i] = buffer[start + i] as number;
    return out;
  }
}

export class ByteFifo extends AudioFifo<Uint8Array> {
  constructor(initialCapacity: number) {
    super(initialCapacity, (length) => new Uint8Array(length));
  }

  /** Appends the first `count` bytes of `bytes` (all of them by default). */
  write(bytes: Uint8Array, count = bytes.length): void {
    const at = this.reserve(count);
    const buffer = this.buffer;
    if (count === bytes.length) buffer.set(bytes, at);
    else for (let i = 0; i < count; i++) buffer[at + i] = bytes[i] as number;
    this.added(count);
  }

  peek(out: Uint8Array, count = out.length): Uint8Array {
    this.checkHeld(count);
    const buffer = this.buffer;
    const start = this.start;
    for (let i = 0; i < count; i++) out[i] = buffer[start + i] as number;
    return out;
  }
}
