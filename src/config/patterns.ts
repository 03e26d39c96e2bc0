import { isIP, isIPv4, isIPv6, SocketAddress } from 'node:net';

/** A parsed CIDR block: family, network address text and prefix length. */
export interface Cidr {
  family: 'ipv4' | 'ipv6';
  address: string;
  prefix: number;
}

/** Parses `a.b.c.d/n` or `x::y/n` (a bare address means a host route). Returns undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (!family) return undefined;
  const maxPrefix = family === 'ipv4' ? 32 : 128;
  if (prefixText === undefined) return { family, address, prefix: maxPrefix };
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > maxPrefix) return undefined;
  // ::ffff:a.b.c.d/24 reads as a.b.c.d/24, but is ::/24: it holds every IPv4 address.
  if (family === 'ipv6' && prefix < 96 && mappedIPv4(address) !== undefined) return undefined;
  return { family, address, prefix };
}

/** Why parseCidr refuses `text`, as a config message. */
export function cidrProblem(text: string): string {
  const [address = '', prefixText] = text.split('/');
  const ipv4 = mappedIPv4(address);
  const prefix = Number(prefixText);
  if (ipv4 !== undefined && prefix < 96) {
    const meant = Math.min(prefix, 32);
    return `an IPv4-mapped address takes a prefix of 96 to 128, /${prefix} holds every IPv4 address (::ffff:${ipv4}/${meant + 96} is ${ipv4}/${meant})`;
  }
  return 'not an IPv4 or IPv6 CIDR (e.g. 203.0.113.0/24 or 2001:db8::/32)';
}

/** The IPv4 address an IPv4-mapped IPv6 address holds (RFC 4291 §2.5.5.2), in any spelling. */
export function mappedIPv4(address: string): string | undefined {
  if (!isIPv6(address)) return undefined;
  const normal = new SocketAddress({ address, family: 'ipv6' }).address;
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(normal)?.[1];
}

/** A DNS server as node:dns `setServers` takes it: `address`, `address:port` or `[ipv6]:port`. */
export function isDnsServer(text: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) return isIPv6(bracketed[1] ?? '') && validPort(bracketed[2]);
  if (isIPv4(text) || isIPv6(text)) return true;
  const colon = text.lastIndexOf(':');
  return colon > 0 && isIPv4(text.slice(0, colon)) && validPort(text.slice(colon + 1));
}

function validPort(text: string | undefined): boolean {
  if (text === undefined) return true;
  const port = Number(text);
  return /^\d{1,5}$/.test(text) && port >= 1 && port <= 65535;
}

/**
 * An RFC 1123 §2.1 host name: labels of letters, digits and inner hyphens, 63 characters at
 * most, 253 in all; the last label not all digits, so 1.2.3.999 is no name. `finalDot` takes
 * a fully qualified name ending in a dot.
 */
export function isHostName(text: string, finalDot = false): boolean {
  const name = finalDot && text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  const label = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
  return labels.every((part) => label.test(part)) && !/^[0-9]+$/.test(labels[labels.length - 1] ?? '');
}

/** An IPv4 or IPv6 address or a host name, with no port. */
export function isHost(text: string): boolean {
  return isIP(text) !== 0 || isHostName(text);
}

/**
 * A called-number pattern: exact (`+15551234567`), prefix (`+1*`), any (`*`) or a
 * regular expression between slashes (`/^\+44(20|161)/`).
 */
export type NumberPattern =
  | { kind: 'exact'; source: string; value: string }
  | { kind: 'prefix'; source: string; prefix: string }
  | { kind: 'regex'; source: string; regex: RegExp };

/** Compiles a pattern; returns an explanation string when it is invalid. */
export function compileNumberPattern(source: string): NumberPattern | string {
  if (source.length >= 2 && source.startsWith('/') && source.endsWith('/')) {
    try {
      return { kind: 'regex', source, regex: new RegExp(source.slice(1, -1)) };
    } catch (error) {
      return `invalid regular expression: ${(error as Error).message}`;
    }
  }
  const body = source.endsWith('*') ? source.slice(0, -1) : source;
  if (!/^\+?[0-9#*a-zA-Z._-]*$/.test(body) || body.includes('*')) {
    return "a number pattern is an exact number, a prefix ending in '*', or /regex/";
  }
  if (source.endsWith('*')) return { kind: 'prefix', source, prefix: body };
  if (body.length === 0) return 'empty number pattern';
  return { kind: 'exact', source, value: body };
}

export function matchesNumber(pattern: NumberPattern, number: string): boolean {
  switch (pattern.kind) {
    case 'exact':
      return number === pattern.value;
    case 'prefix':
      return number.startsWith(pattern.prefix);
    case 'regex':
      return pattern.regex.test(number);
  }
}

/** Specificity for choosing between matching patterns: exact > longest prefix > regex > catch-all `*`. */
export function patternSpecificity(pattern: NumberPattern): number {
  switch (pattern.kind) {
    case 'exact':
      return 1_000_000;
    case 'prefix':
      return pattern.prefix.length === 0 ? 0 : 1_000 + pattern.prefix.length;
    case 'regex':
      return 500;
  }
}

/** `host` or `host:port`, the host a name, an IPv4 address or a bracketed IPv6 reference. */
export function parseHostAndPort(text: string): { host: string; port: number | undefined } | undefined {
  const match = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?$/.exec(text);
  if (!match?.[1]) return undefined;
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return { host: match[1], port };
}

/** A caller identity: an E.164 number, or a SIP/SIPS URI written between <> as it is. */
export type CallerIdentity = { kind: 'e164'; number: string } | { kind: 'uri'; uri: string };

/** ITU-T E.164: +, a non-zero country code digit, at most 15 digits in all. */
const E164 = /^\+[1-9][0-9]{1,14}$/;
/**
 * A SIP URI that is safe to write into a header (RFC 3261 §25.1 userinfo without password,
 * host, port, URI parameters). No URI headers (`?`), no comma (it would start a second header
 * value), no white space, quotes, <> or control characters: nothing can end the header or the
 * name-addr early, so a value from the API cannot inject a header.
 */
const SIP_IDENTITY =
  /^sips?:(?:[A-Za-z0-9\-_.!~*'()&=+$;/%]+@)?(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?(?:;[A-Za-z0-9\-_.!~*'()%[\]/:&+$]+(?:=[A-Za-z0-9\-_.!~*'()%[\]/:&+$]+)?)*$/i;
const MAX_IDENTITY_LENGTH = 256;

export function parseCallerIdentity(text: string): CallerIdentity | undefined {
  if (text.length > MAX_IDENTITY_LENGTH) return undefined;
  if (E164.test(text)) return { kind: 'e164', number: text };
  if (SIP_IDENTITY.test(text)) return { kind: 'uri', uri: text };
  return undefined;
}

/** Header names, which compare without regard to case (RFC 3261 §7.3.5), each given once. */
export function headerNamesDistinct(names: readonly string[]): boolean {
  return new Set(names.map((name) => name.toLowerCase())).size === names.length;
}
