/**
 * URIs, name-addr/addr-spec and Via values (RFC 3261 §19.1, §20.10, §20.42, §25.1).
 * Parsed values are %-unescaped; the serializers re-escape what the grammar requires.
 */

import { isIPv6 } from 'node:net';
import {
  endOfQuoted,
  escapeHeader,
  escapeParam,
  escapePassword,
  escapeUser,
  IPV6_REFERENCE,
  isToken,
  NO_PARAMS,
  parseParams,
  parseParamsInto,
  percentDecode,
  quote,
  SipParseError,
  serializeParams,
  unquote,
} from './grammar.js';
import type { CSeq, NameAddr, SipUri, Via } from './types.js';

const SCHEME = /^[a-z][a-z0-9+\-.]*$/;
const HOSTNAME = /^[A-Za-z0-9\-.]+$/;
// The patterns are constants: a regular expression literal in a function is a new RegExp
// object on every call, garbage on the parse path.
/** RFC 4475 §3.1.2.6/§3.1.2.7: LWS and <> are not part of a Request-URI or addr-spec. */
const NOT_IN_URI = /[\s<>"]/;
/** An addr-spec with these must have been enclosed in <> (RFC 3261 §20.10). */
const NEEDS_ANGLES = /[?,]/;
const PORT = /^\d{1,5}$/;
/** One Via value: `SIP / 2.0 / UDP host : port ;params` with LWS allowed (RFC 4475 wsinv). */
const VIA = /^\s*SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+([^;]+)(.*)$/is;
const CSEQ = /^\s*(\d{1,10})\s+(\S+)\s*$/;
/** Unquoted display-name words: tokens separated by LWS (RFC 3261 §25.1). */
const TOKEN_WORDS = /^[A-Za-z0-9\-.!%*_+`'~]+(?:\s+[A-Za-z0-9\-.!%*_+`'~]+)*$/;
/** What may follow `<URI>` in a name-addr: nothing, or parameters after a ';'. */
const PARAMS_OR_NOTHING = /^\s*(?:;|$)/;

export function parseUri(text: string): SipUri {
  if (NOT_IN_URI.test(text)) throw new SipParseError(`bad URI '${text}'`);
  const colon = text.indexOf(':');
  const scheme = text.slice(0, Math.max(colon, 0)).toLowerCase();
  if (!SCHEME.test(scheme)) throw new SipParseError(`bad URI scheme in '${text}'`);
  const rest = text.slice(colon + 1);
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(scheme, rest);
  if (scheme === 'tel') return parseTelUri(rest);
  return { scheme, host: '', params: NO_PARAMS, headers: NO_PARAMS, opaque: rest };
}

function parseSipUri(scheme: string, rest: string): SipUri {
  // user may contain ';' and '?' but never an unescaped '@' (RFC 3261 §25.1 user-unreserved).
  const at = rest.indexOf('@');
  const hostStart = at + 1;
  const question = indexOr(rest, '?', hostStart, rest.length);
  const semicolon = Math.min(indexOr(rest, ';', hostStart, question), question);
  const uri: SipUri = { scheme, host: '', params: NO_PARAMS, headers: NO_PARAMS };
  readHostPort(rest.slice(hostStart, semicolon), uri);
  if (semicolon < question) uri.params = parseUriParams(rest.slice(semicolon + 1, question));
  if (question < rest.length) uri.headers = parseUriHeaders(rest.slice(question + 1));
  if (at >= 0) {
    const userInfo = rest.slice(0, at);
    const passwordColon = userInfo.indexOf(':');
    uri.user = percentDecode(passwordColon < 0 ? userInfo : userInfo.slice(0, passwordColon));
    if (passwordColon >= 0) uri.password = percentDecode(userInfo.slice(passwordColon + 1));
    if (uri.user.length === 0) throw new SipParseError('empty user in SIP URI');
  }
  return uri;
}

function parseTelUri(rest: string): SipUri {
  const semicolon = rest.indexOf(';');
  const number = semicolon < 0 ? rest : rest.slice(0, semicolon);
  if (number.length === 0) throw new SipParseError('empty tel URI');
  return {
    scheme: 'tel',
    user: percentDecode(number),
    host: '',
    params: semicolon < 0 ? NO_PARAMS : parseUriParams(rest.slice(semicolon + 1)),
    headers: NO_PARAMS,
  };
}

/** Where `char` first occurs in `text` from `from` on, or `otherwise`. */
function indexOr(text: string, char: string, from: number, otherwise: number): number {
  const index = text.indexOf(char, from);
  return index < 0 ? otherwise : index;
}

/**
 * host[:port], allowing LWS around the colon as Via sent-by does (RFC 3261 §25.1 HCOLON-like),
 * read into the URI or Via being built: no object of its own per value.
 */
function readHostPort<T extends { host: string; port?: number }>(text: string, into: T): T {
  const trimmed = text.trim();
  const bracketEnd = trimmed.startsWith('[') ? trimmed.indexOf(']') + 1 : 0;
  const colon = trimmed.indexOf(':', bracketEnd);
  const host = (colon < 0 ? trimmed : trimmed.slice(0, colon)).trim();
  if (!(HOSTNAME.test(host) || IPV6_REFERENCE.test(host))) throw new SipParseError(`bad host '${host}'`);
  into.host = host;
  if (colon < 0) return into;
  const portText = trimmed.slice(colon + 1).trim();
  const port = Number(portText);
  if (!PORT.test(portText) || port > 65535) throw new SipParseError(`bad port '${portText}'`);
  into.port = port;
  return into;
}

function parseUriParams(text: string): Map<string, string | null> {
  const params = new Map<string, string | null>();
  for (let start = 0; start <= text.length; ) {
    const end = indexOr(text, ';', start, text.length);
    const equals = indexOr(text, '=', start, end);
    if (end > start) {
      const name = percentDecode(text.slice(start, Math.min(equals, end))).toLowerCase();
      params.set(name, equals < end ? percentDecode(text.slice(equals + 1, end)) : null);
    }
    start = end + 1;
  }
  return params;
}

function parseUriHeaders(text: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (let start = 0; start <= text.length; ) {
    const end = indexOr(text, '&', start, text.length);
    const equals = indexOr(text, '=', start, end);
    if (end > start) {
      if (equals >= end) throw new SipParseError(`bad URI header '${text.slice(start, end)}'`);
      headers.set(percentDecode(text.slice(start, equals)), percentDecode(text.slice(equals + 1, end)));
    }
    start = end + 1;
  }
  return headers;
}

/** A host as a SIP URI writes it: an IPv6 address in brackets (§25.1 IPv6reference). */
export function uriHost(host: string): string {
  return isIPv6(host) ? `[${host}]` : host;
}

/** A user part that is a global telephone number as we write one: `+digits` (E.164). */
const GLOBAL_TELEPHONE_USER = /^\+[0-9]+$/;

/**
 * `;user=phone` for a user part that is a global telephone number (RFC 3261 §19.1.1: it is then
 * an RFC 3966 telephone-subscriber; ours carry no visual separators), else nothing: digits
 * without `+` (a short code, an extension) are a local number, which RFC 3966 §5.1.5 allows
 * only with a phone-context we have none to give.
 */
export function userPhoneParam(user: string): string {
  return GLOBAL_TELEPHONE_USER.test(user) ? ';user=phone' : '';
}

export function serializeUri(uri: SipUri): string {
  if (uri.opaque !== undefined) return `${uri.scheme}:${uri.opaque}`;
  let out = `${uri.scheme}:`;
  if (uri.scheme === 'tel') {
    out += escapeUser(uri.user ?? '');
  } else {
    if (uri.user !== undefined) {
      out += escapeUser(uri.user);
      if (uri.password !== undefined) out += `:${escapePassword(uri.password)}`;
      out += '@';
    }
    out += uri.host;
    if (uri.port !== undefined) out += `:${uri.port}`;
  }
  for (const [name, value] of uri.params) {
    out += value === null ? `;${escapeParam(name)}` : `;${escapeParam(name)}=${escapeParam(value)}`;
  }
  let separator = '?';
  for (const [name, value] of uri.headers) {
    out += `${separator}${escapeHeader(name)}=${escapeHeader(value)}`;
    separator = '&';
  }
  return out;
}

/**
 * name-addr or addr-spec with header parameters (RFC 3261 §20.10). In the addr-spec form
 * everything after the first ';' is a header parameter, and a URI with ',', '?' or ';'
 * must have been enclosed in <> (RFC 4475 §3.1.2.13 regbadct).
 */
export function parseNameAddr(text: string): NameAddr {
  const value = text.trim();
  let displayName: string | undefined;
  let uriText: string;
  let paramsText: string;
  let angleStart = -1;
  if (value.startsWith('"')) {
    const end = endOfQuoted(value, 0);
    displayName = unquote(value.slice(0, end));
    angleStart = value.indexOf('<', end);
    if (value.slice(end, angleStart).trim().length > 0 || angleStart < 0) {
      throw new SipParseError('quoted display name must be followed by <URI>');
    }
  } else {
    angleStart = value.indexOf('<');
    if (angleStart > 0) {
      const words = value.slice(0, angleStart).trim();
      // RFC 4475 §3.1.2.16 baddn: an unquoted display name is a sequence of tokens.
      if (!TOKEN_WORDS.test(words)) throw new SipParseError(`bad display name '${words}'`);
      displayName = words;
    }
  }
  if (angleStart >= 0) {
    const angleEnd = value.indexOf('>', angleStart);
    if (angleEnd < 0) throw new SipParseError('unterminated <URI>');
    uriText = value.slice(angleStart + 1, angleEnd);
    paramsText = value.slice(angleEnd + 1);
    if (!PARAMS_OR_NOTHING.test(paramsText)) throw new SipParseError('garbage after <URI>');
  } else {
    const semicolon = value.indexOf(';');
    uriText = (semicolon < 0 ? value : value.slice(0, semicolon)).trimEnd();
    paramsText = semicolon < 0 ? '' : value.slice(semicolon);
    if (NEEDS_ANGLES.test(uriText)) throw new SipParseError('URI with ? or , must be enclosed in <>');
  }
  const nameAddr: NameAddr = { uri: parseUri(uriText), params: parseParams(paramsText) };
  if (displayName !== undefined && displayName.length > 0) nameAddr.displayName = displayName;
  return nameAddr;
}

const TOKEN_CHARS = "A-Za-z0-9\\-.!%*_+`'~";

/**
 * The common shapes of a name-addr in the form parseNameAddr certainly parses: an optional
 * display name (tokens, or quoted without escapes), a sip/sips URI in <> with an optional user
 * (no password, no escapes), a host name or IPv4 address, a port up to 65535, URI parameters
 * (whose parse cannot fail) and no URI headers, then token or quoted header parameters.
 * Anything else may still be valid: it is simply parsed to find out.
 */
const PLAIN_NAME_ADDR = new RegExp(
  `^\\s*(?:"[^"\\\\<>]*"\\s*|[${TOKEN_CHARS}]+(?:\\s+[${TOKEN_CHARS}]+)*\\s*)?` +
    "<sips?:(?:[A-Za-z0-9\\-_.!~*'()&=+$]+@)?[A-Za-z0-9\\-.]+" +
    '(?::(?:\\d{1,4}|[1-5]\\d{4}|6[0-4]\\d{3}|65[0-4]\\d{2}|655[0-2]\\d|6553[0-5]))?' +
    "(?:;[A-Za-z0-9\\-_.!~*'()\\[\\]/:&+$=%]+)*>" +
    `(?:\\s*;\\s*[${TOKEN_CHARS}]+(?:\\s*=\\s*(?:[${TOKEN_CHARS}]+|"[^"\\\\]*"))?)*\\s*$`,
);

/**
 * Whether `text` is a name-addr of a shape parseNameAddr cannot fail on (PLAIN_NAME_ADDR), so
 * the parser may leave it to be parsed when read; false means "parse it to know".
 */
export function isPlainNameAddr(text: string): boolean {
  return PLAIN_NAME_ADDR.test(text);
}

/** A copy without the `tag` parameter (parsed parameters are read-only, see SipUri). */
export function withoutTag(nameAddr: NameAddr): NameAddr {
  const params = new Map(nameAddr.params);
  params.delete('tag');
  return { ...nameAddr, params };
}

export function serializeNameAddr(nameAddr: NameAddr): string {
  const display = nameAddr.displayName === undefined ? '' : `${quote(nameAddr.displayName)} `;
  return `${display}<${serializeUri(nameAddr.uri)}>${serializeParams(nameAddr.params)}`;
}

/** One Via value: `SIP / 2.0 / UDP host : port ;params` with LWS allowed (RFC 4475 wsinv). */
export function parseVia(text: string): Via {
  const match = VIA.exec(text);
  if (!match) throw new SipParseError(`bad Via '${text}'`);
  const [, transport = '', sentBy = '', params = ''] = match;
  const via: Via = { transport: transport.toUpperCase(), host: '', params: new Map() };
  readHostPort(sentBy, via);
  // A Map of its own even when empty: the transport adds received and rport (RFC 3581).
  parseParamsInto(params, via.params);
  return via;
}

export function serializeVia(via: Via): string {
  const port = via.port === undefined ? '' : `:${via.port}`;
  return `SIP/2.0/${via.transport} ${via.host}${port}${serializeParams(via.params)}`;
}

/** CSeq sequence numbers are below 2**31 (RFC 3261 §8.1.1.5); RFC 4475 scalarlg exceeds it. */
export function parseCSeq(text: string): CSeq {
  const match = CSEQ.exec(text);
  const seq = Number(match?.[1]);
  if (!match?.[2] || !isToken(match[2]) || seq >= 2 ** 31) throw new SipParseError(`bad CSeq '${text}'`);
  return { seq, method: match[2] };
}

/** One URI to put between Refer-To's angle brackets: nothing that could end the header or the brackets. */
export function isReferTarget(target: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  if (!/^(sips?|tel):[^\s<>"\x00-\x1f\x7f]+$/i.test(target) || target.length > 1024) return false;
  try {
    parseUri(target);
    return true;
  } catch {
    return false;
  }
}
