/**
 * RFC 3261 §25 lexical helpers shared by the URI, header and message parsers:
 * token tests, %-escaping, quoted strings and list splitting that respects quotes and <>.
 */

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/** Thrown by the parsers; the transport answers `status` to requests it can answer. */
export class SipParseError extends Error {
  readonly status: number;

  constructor(message: string, status = 400) {
    // Hostile input throws these by the thousand and a stack trace, the costly part of an
    // Error, would only show the parser: none is captured.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
    this.status = status;
    this.name = 'SipParseError';
  }

  /** The message made safe for a reason phrase or Warning text: one line, no quotes, short. */
  get summary(): string {
    return this.message.replace(/["\\\r\n]/g, ' ').slice(0, 100);
  }
}

/** Decodes %HH escapes (RFC 3261 §25.1 `escaped`); malformed escapes are a parse error. */
export function percentDecode(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    // Not UTF-8 (RFC 4475 §3.1.1.4 escnull: %00 is legal): decode byte by byte as latin1.
    return text.replace(/%([0-9A-Fa-f]{2})/g, (_match, hex: string) =>
      String.fromCharCode(Number.parseInt(hex, 16)),
    );
  }
}

/** unreserved = alphanum / mark (RFC 3261 §25.1). */
const UNRESERVED = "A-Za-z0-9\\-_.!~*'()";
const USER_SAFE = new RegExp(`[^${UNRESERVED}&=+$,;?/]`, 'g');
const PASSWORD_SAFE = new RegExp(`[^${UNRESERVED}&=+$,]`, 'g');
const PARAM_SAFE = new RegExp(`[^${UNRESERVED}\\[\\]/:&+$]`, 'g');
const HEADER_SAFE = new RegExp(`[^${UNRESERVED}\\[\\]/?:+$]`, 'g');

function escapeWith(pattern: RegExp, text: string): string {
  return text.replace(pattern, (char) =>
    Array.from(
      Buffer.from(char, 'utf8'),
      (byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    ).join(''),
  );
}

export const escapeUser = (text: string): string => escapeWith(USER_SAFE, text);
export const escapePassword = (text: string): string => escapeWith(PASSWORD_SAFE, text);
export const escapeParam = (text: string): string => escapeWith(PARAM_SAFE, text);
export const escapeHeader = (text: string): string => escapeWith(HEADER_SAFE, text);

/**
 * Index just past the closing quote of the quoted-string starting at `start` (a `"`),
 * honouring quoted-pair backslash escapes (RFC 3261 §25.1). Throws when unterminated.
 */
export function endOfQuoted(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const char = text[i];
    if (char === '\\') i++;
    else if (char === '"') return i + 1;
  }
  throw new SipParseError('unterminated quoted string');
}

/** A backslash-escaped character in a quoted string (RFC 3261 §25.1 quoted-pair). */
const QUOTED_PAIR = /\\(.)/g;

export function unquote(text: string): string {
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) {
    return text.slice(1, -1).replace(QUOTED_PAIR, '$1');
  }
  return text;
}

/** What a quoted string must escape (RFC 3261 §25.1 qdtext excludes them). */
const NEEDS_ESCAPE = /(["\\])/g;

export function quote(text: string): string {
  return `"${text.replace(NEEDS_ESCAPE, '\\$1')}"`;
}

/**
 * Index of the first `separator` at or after `from` outside quoted strings and <...>, or the
 * text's length (RFC 3261 §7.3.1: comma-separated values; the same walk splits parameters on
 * ';'). Throws on an unterminated quoted string.
 */
export function indexOutside(text: string, separator: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const char = text[i];
    if (char === '"') {
      i = endOfQuoted(text, i) - 1;
    } else if (char === '<') {
      depth++;
    } else if (char === '>') {
      depth = Math.max(0, depth - 1);
    } else if (char === separator && depth === 0) {
      return i;
    }
  }
  return text.length;
}

/** Appends a list value's comma-separated elements to `into`, trimmed, empty ones dropped (§7.3.1). */
export function splitList(value: string, into: string[] = []): string[] {
  for (let start = 0; start <= value.length; ) {
    const end = indexOutside(value, ',', start);
    const part = value.slice(start, end).trim();
    if (part.length > 0) into.push(part);
    start = end + 1;
  }
  return into;
}

/**
 * What a URI or header value without parameters has: one shared instance instead of an empty
 * Map per value (most URIs and many name-addrs have none). Read-only: set() throws.
 */
class EmptyMap extends Map<string, never> {
  override set(): this {
    throw new TypeError('the shared empty parameter map is read-only');
  }
}
export const NO_PARAMS: ReadonlyMap<string, never> = Object.freeze(new EmptyMap());

const BLANK = /^\s*$/;

/**
 * Parses `;name=value;flag` generic parameters (RFC 3261 §25.1 generic-param). Names are
 * lower-cased; quoted values are unquoted; LWS around `;` and `=` is allowed.
 */
export function parseParams(text: string): ReadonlyMap<string, string | null> {
  return BLANK.test(text) ? NO_PARAMS : parseParamsInto(text, new Map());
}

/** parseParams into a Map of the caller's (one it may change, as a Via's). */
export function parseParamsInto(
  text: string,
  params: Map<string, string | null>,
): Map<string, string | null> {
  // The whole value is walked first, so an unterminated quoted string is what is reported.
  for (let end = -1; end < text.length; ) end = indexOutside(text, ';', end + 1);
  for (let start = 0; start <= text.length; ) {
    const end = indexOutside(text, ';', start);
    addParam(text.slice(start, end).trim(), params);
    start = end + 1;
  }
  return params;
}

function addParam(part: string, params: Map<string, string | null>): void {
  if (part.length === 0) return;
  const equals = part.indexOf('=');
  const name = (equals < 0 ? part : part.slice(0, equals)).trim().toLowerCase();
  if (!isToken(name)) throw new SipParseError(`bad parameter name '${name}'`);
  if (equals < 0) {
    params.set(name, null);
    return;
  }
  const value = part.slice(equals + 1).trim();
  if (value.startsWith('"')) {
    if (endOfQuoted(value, 0) !== value.length) throw new SipParseError(`bad quoted parameter '${name}'`);
    params.set(name, unquote(value));
  } else {
    params.set(name, value);
  }
}

/** A media type (Content-Type, an Accept range) without its parameters, lower-cased (§20.15). */
export function mediaType(value: string): string {
  const semicolon = value.indexOf(';');
  return (semicolon < 0 ? value : value.slice(0, semicolon)).trim().toLowerCase();
}

export const IPV6_REFERENCE = /^\[[0-9A-Fa-f:.]+\]$/;
const IPV6_ADDRESS = /^[0-9A-Fa-f:.]+$/;

/** Serializes header parameters; values that are not tokens (or IPv6 refs) are quoted. */
export function serializeParams(params: ReadonlyMap<string, string | null>): string {
  let out = '';
  for (const [name, value] of params) {
    if (value === null) out += `;${name}`;
    else if (value === '' || isToken(value) || IPV6_REFERENCE.test(value) || IPV6_ADDRESS.test(value)) {
      out += `;${name}=${value}`;
    } else out += `;${name}=${quote(value)}`;
  }
  return out;
}
