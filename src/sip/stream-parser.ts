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
  #buffer: Buffer = Buffer.alloc(0);
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
    return this.#buffer.length;
  }

  push(chunk: Buffer): StreamEvent[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const events: StreamEvent[] = [];
    for (;;) {
      const event = this.#next();
      if (!event) break;
      events.push(event);
      if (event.kind === 'fatal') {
        this.#buffer = Buffer.alloc(0);
        break;
      }
    }
    return events;
  }

  #next(): StreamEvent | undefined {
    this.#headersPending = false;
    let start = 0;
    while (this.#buffer[start] === 0x0d || this.#buffer[start] === 0x0a) start++;
    if (start > 0) {
      // Count line-break bytes across chunks: four in a row between messages is a ping, two a pong.
      this.#lineBreakRun += start;
      this.#buffer = this.#buffer.subarray(start);
      if (this.#lineBreakRun >= this.#keepalive.bytes) {
        this.#lineBreakRun = 0;
        return { kind: this.#keepalive.kind };
      }
    }
    if (this.#buffer.length === 0) return undefined;
    const end = findHeaderEnd(this.#buffer);
    if (!end) {
      if (this.#buffer.length > this.#maxMessageBytes) return this.#fatal('header section too large');
      this.#headersPending = true;
      return undefined;
    }
    const head = this.#buffer.toString('latin1', 0, end.headerEnd);
    const length = Number(CONTENT_LENGTH.exec(head)?.[1] ?? 0);
    const total = end.bodyStart + length;
    if (total > this.#maxMessageBytes) return this.#fatal(`message of ${total} bytes too large`);
    if (this.#buffer.length < total) return undefined;
    this.#lineBreakRun = 0;
    const data = this.#buffer.subarray(0, total);
    this.#buffer = this.#buffer.subarray(total);
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
