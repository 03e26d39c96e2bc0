/**
 * A bot's caller-audio messages framed here and written straight to the bot's connection, where
 * ws.send would frame them itself: one frame per 20 ms per call is the media path's busiest
 * write. ws builds each client frame in a fresh buffer with an options object and a header of
 * its own; this writes header, masking key and masked payload into one buffer kept from frame
 * to frame (`bench/ws-send.ts`: about 30 % less CPU per message in the sending process).
 *
 * The frames go on the same socket as ws's own (control messages, pongs, the close), each
 * written whole in one synchronous call, so the two never interleave inside a frame. ws reads
 * the socket's write buffer in `bufferedAmount`, so these frames count there too.
 *
 * A frame is written at the end of its run (see FrameRun), not as it is framed: the media clock
 * frames every call's caller audio in one tick, and written one by one, spread through the
 * tick, nearly every write found the bot's process asleep and woke it again, which the writer
 * pays for in the kernel. Anything else written to the socket must first `writePending()`.
 */
import { randomFillSync } from 'node:crypto';
import type { Writable } from 'node:stream';

/** RFC 6455 §5.2 opcodes (FIN set: a message is one frame). */
export const TEXT_OPCODE = 0x1;
export const BINARY_OPCODE = 0x2;
const FIN = 0x80;
const MASKED = 0x80;
/** RFC 6455 §5.2: payload lengths up to 125 in the second byte, then 16 and 64 bits. */
const SHORT_LENGTH = 125;
const LENGTH_16 = 126;
const LENGTH_64 = 127;
const MASK_BYTES = 4;
/** Header, extended length and masking key of the longest form. */
const MAX_HEADER_BYTES = 2 + 8 + MASK_BYTES;
const INITIAL_CAPACITY = 1024;
/**
 * Frames written together at most: a run flushes when it holds this many, so a frame waits for
 * at most this many other calls' tick work (~1-2 ms at 200 calls), and the bot's process is woken
 * about once per run rather than once per frame.
 */
const RUN_LIMIT = 32;

/**
 * RFC 6455 §5.3: a fresh, unpredictable masking key per frame from a strong source of entropy.
 * Drawn from the CSPRNG a pool at a time, as ws does, not one call per frame.
 */
const KEY_POOL = Buffer.alloc(8192);
let keyPoolAt = KEY_POOL.length;

function nextMaskingKey(): number {
  if (keyPoolAt === KEY_POOL.length) {
    randomFillSync(KEY_POOL);
    keyPoolAt = 0;
  }
  const at = keyPoolAt;
  keyPoolAt += MASK_BYTES;
  return at;
}

/**
 * The frames of one thread's writers, written in one run: at the end of the current task (a
 * microtask, so right after the media clock's tick has framed every call), or as soon as
 * RUN_LIMIT writers wait. Bounded: a writer waits here at most once, with one frame.
 */
export class FrameRun {
  /**
   * The first #count slots wait. Two fixed arrays take turns, so no array is grown or trimmed
   * per run, and a writer added while a run is written lands in the other, for the next run.
   */
  #waiting: Array<ClientFrameWriter | undefined> = new Array(RUN_LIMIT).fill(undefined);
  #written: Array<ClientFrameWriter | undefined> = new Array(RUN_LIMIT).fill(undefined);
  #count = 0;
  #scheduled = false;
  readonly #schedule: (flush: () => void) => void;

  /** `schedule` runs the flush once the current task is done (queueMicrotask; tests replace it). */
  constructor(schedule: (flush: () => void) => void = queueMicrotask) {
    this.#schedule = schedule;
  }

  /** Writers whose frame waits. */
  get waiting(): number {
    return this.#count;
  }

  add(writer: ClientFrameWriter): void {
    this.#waiting[this.#count++] = writer;
    if (this.#count >= RUN_LIMIT) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      this.#schedule(this.#scheduledFlush);
    }
  }

  /** Writes every waiting frame, in the order they were framed. */
  flush(): void {
    const run = this.#waiting;
    const count = this.#count;
    this.#waiting = this.#written;
    this.#written = run;
    this.#count = 0;
    // A writer's own writePending() may have written its frame already: then it writes nothing.
    for (let i = 0; i < count; i++) {
      const writer = run[i] as ClientFrameWriter;
      run[i] = undefined;
      try {
        writer.runEnded();
      } catch {
        // A stream reports a failed write by its 'error' event, which ends the bot's socket and
        // so the call's stream; a throw here, out of a microtask, would take the process down
        // and cost the other writers of the run their frames.
      }
    }
  }

  readonly #scheduledFlush = (): void => {
    this.#scheduled = false;
    this.flush();
  };
}

/** The run of this thread's writers (a media worker's module instance is its own). */
const THREAD_RUN = new FrameRun();

export class ClientFrameWriter {
  readonly #connection: Writable;
  readonly #run: FrameRun;
  #out = Buffer.allocUnsafe(INITIAL_CAPACITY);
  /** The view of #out last framed, reused while frames keep its length. */
  #view: Buffer | undefined;
  /** The frame in #view is not written yet. */
  #pending = false;
  /** Listed in the run (its frame may have been written since, by writePending). */
  #inRun = false;

  constructor(connection: Writable, run: FrameRun = THREAD_RUN) {
    this.#connection = connection;
    this.#run = run;
  }

  /**
   * Frames `payload` as one masked frame with `opcode`, written at the end of the run (a frame
   * still waiting from before is written first); returns the frame's length on the wire.
   */
  send(payload: Uint8Array, opcode: number): number {
    if (this.#pending) this.writePending();
    const length = payload.length;
    if (this.#out.length < MAX_HEADER_BYTES + length) this.#renew(MAX_HEADER_BYTES + length);
    const out = this.#out;
    out[0] = FIN | opcode;
    let at = 2;
    if (length <= SHORT_LENGTH) {
      out[1] = MASKED | length;
    } else if (length <= 0xffff) {
      out[1] = MASKED | LENGTH_16;
      out.writeUInt16BE(length, 2);
      at = 4;
    } else {
      out[1] = MASKED | LENGTH_64;
      out.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
      out.writeUInt32BE(length >>> 0, 6);
      at = 10;
    }
    const key = nextMaskingKey();
    const k0 = KEY_POOL[key] as number;
    const k1 = KEY_POOL[key + 1] as number;
    const k2 = KEY_POOL[key + 2] as number;
    const k3 = KEY_POOL[key + 3] as number;
    out[at] = k0;
    out[at + 1] = k1;
    out[at + 2] = k2;
    out[at + 3] = k3;
    at += MASK_BYTES;
    // §5.3: octet i of the payload XOR octet i mod 4 of the key.
    let i = 0;
    for (const whole = length - (length % MASK_BYTES); i < whole; i += MASK_BYTES) {
      out[at + i] = (payload[i] as number) ^ k0;
      out[at + i + 1] = (payload[i + 1] as number) ^ k1;
      out[at + i + 2] = (payload[i + 2] as number) ^ k2;
      out[at + i + 3] = (payload[i + 3] as number) ^ k3;
    }
    for (; i < length; i++) out[at + i] = (payload[i] as number) ^ (out[at - MASK_BYTES + (i & 3)] as number);
    const frameLength = at + length;
    let view = this.#view;
    if (view?.length !== frameLength) {
      view = out.subarray(0, frameLength);
      this.#view = view;
    }
    this.#pending = true;
    if (!this.#inRun) {
      this.#inRun = true;
      this.#run.add(this);
    }
    return frameLength;
  }

  /**
   * Writes the frame waiting in the run, if any: the run does, and whatever else is about to
   * write to the socket, so frames keep their order. A connection gone meanwhile takes nothing.
   */
  writePending(): void {
    if (!this.#pending) return;
    this.#pending = false;
    const connection = this.#connection;
    if (connection.destroyed || !connection.writable) return;
    connection.write(this.#view as Buffer);
    // Written at once, the socket holds nothing of the buffer; queued (the bot reads slowly, or
    // a write is under way), it does until written, so the next frame gets a buffer of its own.
    if (connection.writableLength > 0) this.#renew(this.#out.length);
  }

  /** The run is written: this writer's frame, if still waiting, goes now. */
  runEnded(): void {
    this.#inRun = false;
    this.writePending();
  }

  #renew(capacity: number): void {
    this.#out = Buffer.allocUnsafe(Math.max(capacity, INITIAL_CAPACITY));
    this.#view = undefined;
  }
}
