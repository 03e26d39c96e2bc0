/**
 * A bot's `media` event read straight from its WebSocket message's bytes: no string, no
 * JSON.parse, no objects. A bot sends fifty of these a second per call, each a few hundred
 * bytes of which the payload is nearly all; the full parse (a UTF-8 string, an object tree, a
 * base64 string, then its decode) left ~800 bytes of garbage per message for the collector.
 *
 * The scan accepts a strict subset of JSON (RFC 8259): an object whose member values are
 * strings of printable ASCII without escapes (§7), or objects of the same, with any JSON
 * whitespace (§2) between tokens. The payload must be padded base64 (RFC 4648 §4: the
 * alphabet, a length that is a multiple of four, `=` only as the last one or two). For anything
 * else the scan answers undefined and the message takes the full parser, so nothing reads
 * differently from it: duplicate names resolve as JSON.parse resolves them (the last wins), and
 * the events this scan does not finish (`mark`, `clear`, commands, a foreign stream id) are
 * left to it too.
 *
 * A bot writes every `media` event the same way but for the payload, so the bytes around the
 * payload of the last event read whole are kept: an event with the same bytes before and after
 * its payload is the same JSON but for a string whose characters the decoder checks (none of
 * the alphabet is a quote or backslash, so the string cannot end early), and only the payload
 * is decoded. Anything else takes the whole scan, about half as much again in a hot loop
 * (bench/bot-media-parse.ts).
 */

import { BASE64_ALPHABET } from './message-writer.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const PAD = 0x3d; // '='
/** Objects nest at most this deep (the message itself is 1); deeper goes to the full parser. */
const MAX_DEPTH = 4;
/** The longest bytes before and after a payload kept as the stream's shape (a longer event is scanned whole). */
const MAX_SHAPE_BYTES = 512;
/**
 * Events read whole in a row, each shaped unlike the one before, after which a stream's shape
 * is no longer kept: its bot numbers its events (Twilio's own `chunk`), and checking and
 * copying a shape that never returns cost it a quarter more per event.
 */
const MAX_SHAPE_MISSES = 8;

const BASE64_VALUE = new Int8Array(256).fill(-1);
for (const [value, char] of [...BASE64_ALPHABET].entries()) BASE64_VALUE[char.charCodeAt(0)] = value;

/** A byte a string of the strict subset may hold: printable ASCII, and no escape. */
function isPlainByte(byte: number): boolean {
  return byte >= 0x20 && byte <= 0x7e && byte !== BACKSLASH;
}

const EVENT = Buffer.from('event', 'latin1');
const MEDIA = Buffer.from('media', 'latin1');
const PAYLOAD = Buffer.from('payload', 'latin1');

/** What a member's name means to the scan. */
const OTHER = 0;
const EVENT_MEMBER = 1;
const STREAM_ID_MEMBER = 2;
const MEDIA_MEMBER = 3;
const PAYLOAD_MEMBER = 4;
type Member =
  | typeof OTHER
  | typeof EVENT_MEMBER
  | typeof STREAM_ID_MEMBER
  | typeof MEDIA_MEMBER
  | typeof PAYLOAD_MEMBER;

export class MediaEventScanner {
  readonly #streamIdField: Uint8Array;
  readonly #streamId: Uint8Array;
  #bytes: Buffer = Buffer.alloc(0);
  #at = 0;
  #eventStart = -1;
  #eventEnd = -1;
  #streamIdStart = -1;
  #streamIdEnd = -1;
  #payloadStart = -1;
  #payloadEnd = -1;
  /** Sized to the payload and kept while bots send one size of frame. */
  #decoded = new Uint8Array(0);
  /**
   * The bytes before the payload of the last event read whole, then those after it; copied
   * into one buffer made once, so a bot whose events all differ allocates nothing.
   */
  readonly #shape = new Uint8Array(MAX_SHAPE_BYTES);
  #shapeHead = 0;
  #shapeTail = -1;
  #shapeMisses = 0;

  constructor(streamIdField: string, streamId: string) {
    this.#streamIdField = Buffer.from(streamIdField, 'latin1');
    this.#streamId = Buffer.from(streamId, 'latin1');
  }

  /**
   * The decoded payload when `message` is a `media` event of this stream that the strict scan
   * read whole, else undefined (use the full parser). The bytes are reused by the next scan.
   */
  mediaPayload(message: Buffer): Uint8Array | undefined {
    this.#bytes = message;
    if (this.#hasShape(message)) {
      const payload = this.#decodeBase64(this.#shapeHead, message.length - this.#shapeTail);
      if (payload) {
        this.#shapeMisses = 0;
        return payload;
      }
    }
    const payload = this.#scan(message);
    if (payload) this.#shapeMissed(message);
    return payload;
  }

  /** The whole scan, recording where the payload lies. */
  #scan(message: Buffer): Uint8Array | undefined {
    this.#at = 0;
    this.#eventStart = this.#streamIdStart = this.#payloadStart = -1;
    this.#skipWhitespace();
    if (!this.#object(1, false)) return undefined;
    this.#skipWhitespace();
    if (this.#at !== message.length) return undefined;
    if (!this.#rangeIs(this.#eventStart, this.#eventEnd, MEDIA)) return undefined;
    if (!this.#rangeIs(this.#streamIdStart, this.#streamIdEnd, this.#streamId)) return undefined;
    if (this.#payloadStart < 0) return undefined;
    // The payload's characters are checked here, by the decoder, and nowhere before.
    return this.#decodeBase64(this.#payloadStart, this.#payloadEnd);
  }

  /** `message` has the kept shape's bytes before and after a payload of at least one character. */
  #hasShape(message: Buffer): boolean {
    const head = this.#shapeHead;
    const tail = this.#shapeTail;
    if (tail < 0 || message.length <= head + tail) return false;
    const shape = this.#shape;
    for (let i = 0; i < head; i++) if (message[i] !== shape[i]) return false;
    const tailStart = message.length - tail;
    for (let i = 0; i < tail; i++) if (message[tailStart + i] !== shape[head + i]) return false;
    return true;
  }

  /** An event read whole: its shape is kept for the next, unless shapes have stopped being kept. */
  #shapeMissed(message: Buffer): void {
    if (this.#shapeMisses === MAX_SHAPE_MISSES) return;
    this.#shapeMisses++;
    if (this.#shapeMisses === MAX_SHAPE_MISSES) this.#shapeTail = -1;
    else this.#keepShape(message);
  }

  /** Keeps the bytes around the payload just read (#payloadStart, #payloadEnd) as the shape. */
  #keepShape(message: Buffer): void {
    const head = this.#payloadStart;
    const tail = message.length - this.#payloadEnd;
    if (head + tail > MAX_SHAPE_BYTES) {
      this.#shapeTail = -1;
      return;
    }
    // Byte by byte: Buffer#copy makes a view of the source per call.
    const shape = this.#shape;
    for (let i = 0; i < head; i++) shape[i] = message[i] as number;
    for (let i = 0; i < tail; i++) shape[head + i] = message[this.#payloadEnd + i] as number;
    this.#shapeHead = head;
    this.#shapeTail = tail;
  }

  /** An object at #at, its members recorded as they come (so a repeated name's last wins). */
  #object(depth: number, isMedia: boolean): boolean {
    const bytes = this.#bytes;
    if (bytes[this.#at] !== OPEN_BRACE) return false;
    this.#at++;
    this.#skipWhitespace();
    if (bytes[this.#at] === CLOSE_BRACE) {
      this.#at++;
      return true;
    }
    for (;;) {
      const nameStart = this.#at + 1;
      if (!this.#string(true)) return false;
      const member = this.#member(depth, isMedia, nameStart, this.#at - 1);
      this.#skipWhitespace();
      if (bytes[this.#at] !== COLON) return false;
      this.#at++;
      this.#skipWhitespace();
      if (!this.#value(depth, member)) return false;
      this.#skipWhitespace();
      const next = bytes[this.#at];
      this.#at++;
      if (next === CLOSE_BRACE) return true;
      if (next !== COMMA) return false;
      this.#skipWhitespace();
    }
  }

  #value(depth: number, member: Member): boolean {
    if (this.#bytes[this.#at] === OPEN_BRACE) {
      // An event, stream id or payload that is an object is the full parser's to refuse.
      if (member !== OTHER && member !== MEDIA_MEMBER) return false;
      if (depth === MAX_DEPTH) return false;
      // A later `media` object replaces an earlier one whole, as in JSON.parse.
      if (member === MEDIA_MEMBER && !this.#forgetPayload()) return false;
      return this.#object(depth + 1, member === MEDIA_MEMBER);
    }
    const start = this.#at + 1;
    if (member === PAYLOAD_MEMBER) {
      if (!this.#forgetPayload() || !this.#string(false)) return false;
      this.#payloadStart = start;
      this.#payloadEnd = this.#at - 1;
      return true;
    }
    if (!this.#string(true)) return false;
    const end = this.#at - 1;
    switch (member) {
      case MEDIA_MEMBER:
        return false; // not an object: the full parser says so
      case EVENT_MEMBER:
        this.#eventStart = start;
        this.#eventEnd = end;
        return true;
      case STREAM_ID_MEMBER:
        this.#streamIdStart = start;
        this.#streamIdEnd = end;
        return true;
      default:
        return true;
    }
  }

  /** Drops the payload seen so far, which the decoder will not see: its characters checked. */
  #forgetPayload(): boolean {
    if (this.#payloadStart >= 0 && !this.#isPlainText(this.#payloadStart, this.#payloadEnd)) return false;
    this.#payloadStart = -1;
    return true;
  }

  #member(depth: number, isMedia: boolean, start: number, end: number): Member {
    if (depth === 1) {
      if (this.#rangeIs(start, end, EVENT)) return EVENT_MEMBER;
      if (this.#rangeIs(start, end, this.#streamIdField)) return STREAM_ID_MEMBER;
      if (this.#rangeIs(start, end, MEDIA)) return MEDIA_MEMBER;
    } else if (depth === 2 && isMedia && this.#rangeIs(start, end, PAYLOAD)) return PAYLOAD_MEMBER;
    return OTHER;
  }

  /**
   * A string at #at; #at ends past its closing quote. Its characters must be printable ASCII
   * with no escape: checked on the way when `check`, else by the caller before it counts.
   */
  #string(check: boolean): boolean {
    const bytes = this.#bytes;
    if (bytes[this.#at] !== QUOTE) return false;
    let close: number;
    if (check) {
      close = this.#at + 1;
      while (close < bytes.length && bytes[close] !== QUOTE) {
        if (!isPlainByte(bytes[close] as number)) return false;
        close++;
      }
      if (close === bytes.length) return false;
    } else {
      // Buffer#indexOf is memchr: a payload's few hundred bytes in a few ns.
      close = bytes.indexOf(QUOTE, this.#at + 1);
      if (close < 0) return false;
    }
    this.#at = close + 1;
    return true;
  }

  #isPlainText(start: number, end: number): boolean {
    const bytes = this.#bytes;
    for (let i = start; i < end; i++) if (!isPlainByte(bytes[i] as number)) return false;
    return true;
  }

  #skipWhitespace(): void {
    const bytes = this.#bytes;
    let at = this.#at;
    while (at < bytes.length) {
      const byte = bytes[at];
      if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) break;
      at++;
    }
    this.#at = at;
  }

  #rangeIs(start: number, end: number, expected: Uint8Array): boolean {
    if (start < 0 || end - start !== expected.length) return false;
    const bytes = this.#bytes;
    for (let i = 0; i < expected.length; i++) if (bytes[start + i] !== expected[i]) return false;
    return true;
  }

  /**
   * Padded base64 (RFC 4648 §4) into the reused buffer, or undefined for anything else: a
   * quote, backslash, control or non-ASCII byte is outside the alphabet and refused with it.
   */
  #decodeBase64(start: number, end: number): Uint8Array | undefined {
    const bytes = this.#bytes;
    const length = end - start;
    if (length === 0 || length % 4 !== 0) return undefined;
    const padding = bytes[end - 1] !== PAD ? 0 : bytes[end - 2] !== PAD ? 1 : 2;
    const size = (length / 4) * 3 - padding;
    if (this.#decoded.length !== size) this.#decoded = new Uint8Array(size);
    const out = this.#decoded;
    let o = 0;
    const fullEnd = padding === 0 ? end : end - 4;
    for (let i = start; i < fullEnd; i += 4) {
      const a = BASE64_VALUE[bytes[i] as number] as number;
      const b = BASE64_VALUE[bytes[i + 1] as number] as number;
      const c = BASE64_VALUE[bytes[i + 2] as number] as number;
      const d = BASE64_VALUE[bytes[i + 3] as number] as number;
      if ((a | b | c | d) < 0) return undefined;
      const n = (a << 18) | (b << 12) | (c << 6) | d;
      out[o++] = n >>> 16;
      out[o++] = (n >>> 8) & 0xff;
      out[o++] = n & 0xff;
    }
    if (padding === 0) return out;
    const a = BASE64_VALUE[bytes[fullEnd] as number] as number;
    const b = BASE64_VALUE[bytes[fullEnd + 1] as number] as number;
    const c = padding === 1 ? (BASE64_VALUE[bytes[fullEnd + 2] as number] as number) : 0;
    if ((a | b | c) < 0) return undefined;
    const n = (a << 18) | (b << 12) | (c << 6);
    out[o++] = n >>> 16;
    if (padding === 1) out[o] = (n >>> 8) & 0xff;
    return out;
  }
}
