/**
 * A JSON text message assembled from fixed ASCII pieces, decimal numbers and a base64 payload,
 * written into one buffer kept from message to message: a `media` message per 20 ms frame
 * costs no object, no JSON.stringify and no strings. The caller writes the pieces in order,
 * so the bytes are exactly what JSON.stringify would give for the same fields; every piece
 * must already be valid JSON text (the caller's literals, digits, the base64 alphabet).
 */

/** RFC 4648 §4's alphabet, value order. */
export const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64 = Uint8Array.from(BASE64_ALPHABET, (c) => c.charCodeAt(0));
const PAD = 0x3d; // '='
const ZERO = 0x30;

/** An ASCII piece encoded once, to copy into messages. */
export function asciiPiece(text: string): Uint8Array {
  if (!/^[\x20-\x7e]*$/.test(text)) throw new RangeError('message pieces are printable ASCII');
  return Buffer.from(text, 'latin1');
}

export class MessageWriter {
  #buffer: Buffer;
  /** Views of the buffer by message length: messages of one length reuse one. */
  #views: Array<Buffer | undefined> = [];
  #length = 0;
  /**
   * The pieces of the message before, by their place among its pieces: where each went and
   * what it was. A message of the same shape finds its fixed pieces already in place whenever
   * the numbers before them kept their widths (nearly every frame), and does not copy them.
   */
  readonly #pieceAt: number[] = [];
  readonly #pieceBytes: Uint8Array[] = [];
  /** Pieces written in this message, and in the one before (the records past that are stale). */
  #pieces = 0;
  #piecesBefore = 0;

  constructor(initialCapacity = 512) {
    this.#buffer = Buffer.alloc(initialCapacity);
  }

  /** Starts a new message; the previous one is overwritten. */
  begin(): this {
    this.#length = 0;
    this.#piecesBefore = this.#pieces;
    this.#pieces = 0;
    return this;
  }

  piece(bytes: Uint8Array): this {
    const at = this.#reserve(bytes.length); // before reading #buffer: reserving may replace it
    const place = this.#pieces++;
    // In the message before, this place held these bytes here, and everything written since
    // went before them (this message so far) or after them (the rest of that message).
    if (place >= this.#piecesBefore || this.#pieceAt[place] !== at || this.#pieceBytes[place] !== bytes) {
      this.#buffer.set(bytes, at);
      this.#pieceAt[place] = at;
      this.#pieceBytes[place] = bytes;
    }
    this.#length += bytes.length;
    return this;
  }

  /** A non-negative integer in decimal, as String(value) writes it. */
  decimal(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a decimal counter: ${value}`);
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    const at = this.#reserve(digits);
    const buffer = this.#buffer;
    let rest = value;
    for (let i = at + digits - 1; i >= at; i--) {
      buffer[i] = ZERO + (rest % 10);
      rest = Math.floor(rest / 10);
    }
    this.#length += digits;
    return this;
  }

  /** `bytes` in base64 with padding (RFC 4648 §4), as Buffer's toString('base64') writes it. */
  base64(bytes: Uint8Array): this {
    const at = this.#reserve(Math.ceil(bytes.length / 3) * 4);
    const out = this.#buffer;
    let o = at;
    const whole = bytes.length - (bytes.length % 3);
    for (let i = 0; i < whole; i += 3) {
      const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
      out[o++] = BASE64[n >>> 18] as number;
      out[o++] = BASE64[(n >>> 12) & 0x3f] as number;
      out[o++] = BASE64[(n >>> 6) & 0x3f] as number;
      out[o++] = BASE64[n & 0x3f] as number;
    }
    const left = bytes.length - whole;
    if (left > 0) {
      const n = ((bytes[whole] as number) << 16) | (left === 2 ? (bytes[whole + 1] as number) << 8 : 0);
      out[o++] = BASE64[n >>> 18] as number;
      out[o++] = BASE64[(n >>> 12) & 0x3f] as number;
      out[o++] = left === 2 ? (BASE64[(n >>> 6) & 0x3f] as number) : PAD;
      out[o++] = PAD;
    }
    this.#length = o;
    return this;
  }

  /** The message written since begin(): a view valid until the next begin(). */
  message(): Buffer {
    const length = this.#length;
    const view = this.#views[length] ?? this.#buffer.subarray(0, length);
    this.#views[length] = view;
    return view;
  }

  /** Where `count` more bytes go; grows the buffer (dropping the cached views) when they do not fit. */
  #reserve(count: number): number {
    const needed = this.#length + count;
    if (needed > this.#buffer.length) {
      const grown = Buffer.alloc(Math.max(needed, 2 * this.#buffer.length));
      this.#buffer.copy(grown, 0, 0, this.#length);
      this.#buffer = grown;
      this.#views = [];
      this.#piecesBefore = 0; // only this message's bytes so far were copied over
    }
    return this.#length;
  }
}
