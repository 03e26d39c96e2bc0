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

export class ClientFrameWriter {
  readonly #connection: Writable;
  #out = Buffer.allocUnsafe(INITIAL_CAPACITY);
  /** The view of #out last written, reused while frames keep its length. */
  #view: Buffer | undefined;

  constructor(connection: Writable) {
    this.#connection = connection;
  }

  /** Writes `payload` as one masked frame with `opcode`; returns the frame's length on the wire. */
  send(payload: Uint8Array, opcode: number): number {
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
    this.#connection.write(view);
    // Written at once, the socket holds nothing of the buffer; queued (the bot reads slowly, or
    // a write is under way), it does until written, so the next frame gets a buffer of its own.
    if (this.#connection.writableLength > 0) this.#renew(this.#out.length);
    return frameLength;
  }

  #renew(capacity: number): void {
    this.#out = Buffer.allocUnsafe(Math.max(capacity, INITIAL_CAPACITY));
    this.#view = undefined;
  }
}
