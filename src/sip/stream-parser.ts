/**
 * Frames SIP messages on a byte stream (TCP, TLS): partial and pipelined messages, framed by
 * Content-Length, which stream transports must send (RFC 3261 §18.3, §20.14), and the RFC 5626
 * §3.5.1 CRLF keep-alive: a double CRLF ping between messages on a connection the peer opened,
 * a single CRLF pong on one we opened (only the side that opened a flow pings, §4.4.1).
 */
import { SipParseError } from './grammar.js';
import type { SipMessage } from './message.js';
import { DEFAULT_MAX_MESSAGE_BYTES, findHeaderEnd, parseMessage } from './parser.js';

export type StreamEvent =
  | { kind: 'message'; message: SipMessage }
  /** A framed message that failed to parse; the stream stays usable. */
  | { kind: 'invalid'; error: SipParseError }
  /** A CRLFCRLF ping; answer with a single CRLF pong. */
  | { kind: 'ping' }
  /** A CRLF pong answering our ping (a parser for a connection we opened). */
  | { kind: 'pong' }
  /** Framing is lost (oversized header section or body); close the connection. */
  | { kind: 'fatal'; error: SipParseError };

const CONTENT_LENGTH = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$/im;

export class SipStreamParser {
  /**
   * Bytes held are `#data[#start, #end)`. A chunk arriving with nothing held is kept as it is;
   * one that must be added is copied into a buffer of ours that doubles as it grows, so a
   * message trickling in a byte at a time costs linear work, not a copy of all held per chunk.
   */
  #data: Buffer = EMPTY;
  #owned = false;
  #start = 0;
  #end = 0;
  /** How far from `#start` the header section's end has been looked for. */
  #scanned = 0;
  /** The length of the message at `#start`, once its header section is read. */
  #total: number | undefined;
  #lineBreakRun = 0;
  #headersPending = false;
  readonly #maxMessageBytes: number;
  readonly #keepalive: { kind: 'ping' | 'pong'; bytes: number };

  /** `opener`: this side opened the connection, so line breaks between messages are pongs. */
  constructor(maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES, opener = false) {
    this.#maxMessageBytes = maxMessageBytes;
    this.#keepalive = opener ? { kind: 'pong', bytes: 2 } : { kind: 'ping', bytes: 4 };
  }

  /** Whether a message has started whose header section is not complete yet (slow-client deadline). */
  get headersPending(): boolean {
    return this.#headersPending;
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  push(chunk: Buffer): StreamEvent[] {
    this.#append(chunk);
    const events: StreamEvent[] = [];
    for (;;) {
      const event = this.#next();
      if (!event) break;
      events.push(event);
      if (event.kind === 'fatal') {
        this.#consume(this.buffered);
        break;
      }
    }
    return events;
  }

  #append(chunk: Buffer): void {
    const held = this.buffered;
    if (held === 0) {
      this.#data = chunk;
      this.#owned = false;
      this.#start = 0;
      this.#end = chunk.length;
      return;
    }
    if (!this.#owned || this.#end + chunk.length > this.#data.length) this.#makeRoom(held + chunk.length);
    chunk.copy(this.#data, this.#end);
    this.#end += chunk.length;
  }

  /** Moves what is held to the front of a buffer of ours with room for `needed` bytes. */
  #makeRoom(needed: number): void {
    const held = this.buffered;
    if (this.#owned && needed <= this.#data.length / 2) {
      // This frees at least half of the buffer, so amortized each byte moves at most once.
      this.#data.copyWithin(0, this.#start, this.#end);
    } else {
      const grown = Buffer.allocUnsafe(Math.max(2 * needed, MIN_CAPACITY));
      this.#data.copy(grown, 0, this.#start, this.#end);
      this.#data = grown;
      this.#owned = true;
    }
    this.#start = 0;
    this.#end = held;
  }

  /** Drops `count` bytes from the front; nothing held lets go of the buffer. */
  #consume(count: number): void {
    this.#start += count;
    this.#scanned = 0;
    this.#total = undefined;
    if (this.#start < this.#end) return;
    this.#data = EMPTY;
    this.#owned = false;
    this.#start = 0;
    this.#end = 0;
  }

  #next(): StreamEvent | undefined {
    this.#headersPending = false;
    if (this.#total === undefined && this.#scanned === 0) {
      let skip = 0;
      while (this.#start + skip < this.#end && isLineBreak(this.#data[this.#start + skip])) skip++;
      if (skip > 0) {
        // Count line-break bytes across chunks: four in a row between messages is a ping, two a pong.
        this.#lineBreakRun += skip;
        this.#consume(skip);
        if (this.#lineBreakRun >= this.#keepalive.bytes) {
          this.#lineBreakRun = 0;
          return { kind: this.#keepalive.kind };
        }
      }
    }
    const held = this.#data.subarray(this.#start, this.#end);
    if (held.length === 0) return undefined;
    if (this.#total === undefined) {
      // Only the new bytes are searched, from 3 back for a CRLFCRLF split across chunks.
      const end = findHeaderEnd(held, Math.max(0, this.#scanned - 3));
      if (!end) {
        this.#scanned = held.length;
        if (held.length > this.#maxMessageBytes) return this.#fatal('header section too large');
        this.#headersPending = true;
        return undefined;
      }
      const head = held.toString('latin1', 0, end.headerEnd);
      this.#total = end.bodyStart + Number(CONTENT_LENGTH.exec(head)?.[1] ?? 0);
      if (this.#total > this.#maxMessageBytes)
        return this.#fatal(`message of ${this.#total} bytes too large`);
    }
    const total = this.#total;
    if (held.length < total) return undefined;
    this.#lineBreakRun = 0;
    // parseMessage copies what it keeps (header strings, the body), so the buffer can be reused.
    const data = held.subarray(0, total);
    this.#consume(total);
    try {
      return {
        kind: 'message',
        message: parseMessage(data, { datagram: false, maxMessageBytes: this.#maxMessageBytes }),
      };
    } catch (error) {
      return {
        kind: 'invalid',
        error: error instanceof SipParseError ? error : new SipParseError(String(error)),
      };
    }
  }

  #fatal(reason: string): StreamEvent {
    return { kind: 'fatal', error: new SipParseError(reason, 513) };
  }
}

const EMPTY = Buffer.alloc(0);
const MIN_CAPACITY = 4096;

function isLineBreak(byte: number | undefined): boolean {
  return byte === 0x0d || byte === 0x0a;
}
