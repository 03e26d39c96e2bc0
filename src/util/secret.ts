/**
 * Key bytes that must never reach a log line, a call record or an error message: serialising
 * or inspecting a SecretBytes shows `[redacted]`; only `bytes` (read where the key is used)
 * gives the key itself.
 */
import { timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';

const REDACTED = '[redacted]';

export class SecretBytes {
  readonly #bytes: Buffer;

  constructor(bytes: Uint8Array) {
    this.#bytes = Buffer.from(bytes);
  }

  get bytes(): Buffer {
    return this.#bytes;
  }

  get length(): number {
    return this.#bytes.length;
  }

  equals(other: SecretBytes): boolean {
    return other.length === this.length && timingSafeEqual(other.#bytes, this.#bytes);
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/**
 * A URL as it may be shown in a log line or call record: user info (RFC 3986 §3.2.1), query
 * and fragment dropped, since bots and callback receivers take tokens there.
 */
export function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.host === '') return `${parsed.protocol}${parsed.pathname}`;
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    // Unparsable (a raw `/` or space in the password, say): everything up to the last `@` goes.
    return url.replace(/[?#].*$/s, '').replace(/\/\/.*@/s, '//');
  }
}

/**
 * A URL inside free text or a JSON line that has user info, a query or a fragment: a scheme and
 * `://`, up to whitespace, a quote, an angle bracket or a backslash (which in JSON starts an
 * escape, so a match never spans one), with an `@`, `?` or `#` in it.
 */
const URL_WITH_CREDENTIALS = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>\\@?#]*[@?#][^\s"'<>\\]*/gi;

/**
 * `text` with each URL in it that has user info, a query or a fragment replaced by its
 * `shownUrl`; other text is returned as it is, after one scan for `://`. Safe on a serialised
 * JSON line: a replacement only removes characters or percent-encodes them.
 */
export function shownUrlsIn(text: string): string {
  if (!text.includes('://')) return text;
  return text.replace(URL_WITH_CREDENTIALS, shownUrl);
}
