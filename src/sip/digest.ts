/**
 * SIP digest authentication (RFC 3261 §22.4 on RFC 2617, with RFC 7616 / RFC 8760
 * algorithms MD5, SHA-256 and SHA-512-256, each also -sess, and qop=auth / auth-int).
 * DigestClient answers challenges for outbound trunks; DigestVerifier challenges and checks
 * inbound ones with stateless HMAC nonces, expiry (stale=true) and nonce-count replay checks.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../util/index.js';
import { endOfQuoted, quote, unquote } from './grammar.js';
import { parseUri } from './uri.js';

export type DigestAlgorithm =
  | 'MD5'
  | 'MD5-sess'
  | 'SHA-256'
  | 'SHA-256-sess'
  | 'SHA-512-256'
  | 'SHA-512-256-sess';
const ALGORITHMS: readonly DigestAlgorithm[] = [
  'MD5',
  'MD5-sess',
  'SHA-256',
  'SHA-256-sess',
  'SHA-512-256',
  'SHA-512-256-sess',
];

export interface DigestChallenge {
  realm: string;
  nonce: string;
  algorithm: DigestAlgorithm;
  qop: string[];
  opaque?: string;
  stale: boolean;
}

/**
 * `Digest a=b, c="d"` → lower-cased names → unquoted values (RFC 7616 §3.3 auth-params:
 * token or quoted-string with backslash escapes). Throws on anything else.
 */
function parseDigestParams(headerValue: string): Map<string, string> {
  const match = /^\s*Digest\s+/i.exec(headerValue);
  if (!match) throw new Error('not a Digest header');
  const params = new Map<string, string>();
  let rest = headerValue.slice(match[0].length);
  while (rest.trim().length > 0) {
    const name = /^\s*,?\s*([A-Za-z0-9_-]+)\s*=\s*/.exec(rest);
    if (!name?.[1]) throw new Error('malformed Digest parameter');
    rest = rest.slice(name[0].length);
    let value: string;
    if (rest.startsWith('"')) {
      const end = endOfQuoted(rest, 0);
      value = unquote(rest.slice(0, end));
      rest = rest.slice(end);
    } else {
      const token = /^[^\s,"]*/.exec(rest)?.[0] ?? '';
      if (token === '') throw new Error(`empty Digest parameter ${name[1]}`);
      value = token;
      rest = rest.slice(token.length);
    }
    params.set(name[1].toLowerCase(), value);
    rest = rest.replace(/^\s*,?/, '');
  }
  return params;
}

function parseAlgorithm(name: string | undefined): DigestAlgorithm | undefined {
  // RFC 7616 §3.3: absent means MD5.
  const wanted = (name ?? 'MD5').toLowerCase();
  return ALGORITHMS.find((known) => known.toLowerCase() === wanted);
}

/** A WWW-Authenticate / Proxy-Authenticate value. Throws on non-Digest, garbage or unknown algorithms. */
export function parseChallenge(headerValue: string): DigestChallenge {
  const params = parseDigestParams(headerValue);
  const realm = params.get('realm');
  const nonce = params.get('nonce');
  if (realm === undefined || nonce === undefined) throw new Error('challenge without realm or nonce');
  const algorithm = parseAlgorithm(params.get('algorithm'));
  if (!algorithm) throw new Error(`unsupported digest algorithm ${params.get('algorithm')}`);
  const opaque = params.get('opaque');
  return {
    realm,
    nonce,
    algorithm,
    qop: (params.get('qop') ?? '')
      .split(',')
      .map((q) => q.trim().toLowerCase())
      .filter(Boolean),
    ...(opaque === undefined ? {} : { opaque }),
    stale: params.get('stale')?.toLowerCase() === 'true',
  };
}

export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm: DigestAlgorithm;
  /** Absent only in RFC 2069 style answers; then nc and cnonce are absent too. */
  qop?: string;
  nc?: string;
  cnonce?: string;
  opaque?: string;
}

/** An Authorization / Proxy-Authorization value. Throws on non-Digest, garbage or missing fields. */
export function parseCredentials(headerValue: string): DigestCredentials {
  const params = parseDigestParams(headerValue);
  const required = ['username', 'realm', 'nonce', 'uri', 'response'].map((name) => {
    const value = params.get(name);
    if (value === undefined) throw new Error(`credentials without ${name}`);
    return value;
  });
  const [username = '', realm = '', nonce = '', uri = '', response = ''] = required;
  const algorithm = parseAlgorithm(params.get('algorithm'));
  if (!algorithm) throw new Error(`unsupported digest algorithm ${params.get('algorithm')}`);
  const optional: Partial<DigestCredentials> = {};
  for (const name of ['qop', 'nc', 'cnonce', 'opaque'] as const) {
    const value = params.get(name);
    if (value !== undefined) optional[name] = name === 'qop' ? value.toLowerCase() : value;
  }
  // RFC 7616 §3.4: with a qop, nc and cnonce are mandatory.
  if (optional.qop !== undefined && (optional.nc === undefined || optional.cnonce === undefined))
    throw new Error('credentials with qop but without nc or cnonce');
  return { username, realm, nonce, uri, response, algorithm, ...optional };
}

/**
 * RFC 8760 §2.4: of several challenges (one per algorithm), the first we support in the order
 * the server listed them, but MD5 only when no SHA-2 one is usable.
 * With `realm`, only challenges for that realm count (RFC 3261 §22.2: credentials belong to a
 * realm, so the password is never offered to another one). Throws when none is usable.
 */
export function pickChallenge(values: readonly string[], realm?: string): DigestChallenge {
  const parsed = values.flatMap((value) => {
    try {
      return [parseChallenge(value)];
    } catch {
      return [];
    }
  });
  const usable = realm === undefined ? parsed : parsed.filter((c) => c.realm === realm);
  const best = usable.find((c) => !c.algorithm.startsWith('MD5')) ?? usable[0];
  if (best) return best;
  const offered = [...new Set(parsed.map((c) => `'${c.realm}'`))].join(', ');
  if (parsed.length > 0) throw new Error(`challenge for realm ${offered}, configured '${realm}'`);
  throw new Error('no usable Digest challenge');
}

/** Challenges one request answers at most: the first, then stale ones (answersChallenge). */
const MAX_CHALLENGES = 3;

/**
 * Whether a request that has answered `answered` challenges answers this one (RFC 3261 §22.2):
 * the first always; after our credentials only one that says `stale=true` (RFC 7616 §3.3: the
 * nonce was stale but the password right, so retry with the new nonce), at most MAX_CHALLENGES
 * in all, so a peer that says stale forever is no loop. Any other means wrong credentials.
 */
export function answersChallenge(answered: number, stale: boolean): boolean {
  return answered === 0 || (stale && answered < MAX_CHALLENGES);
}

/** RFC 7616 §3.2: SHA-512-256 is SHA-512/256 of FIPS 180-4, not SHA-512 cut short. */
function hashName(algorithm: DigestAlgorithm): string {
  if (algorithm.startsWith('SHA-512-256')) return 'sha512-256';
  return algorithm.startsWith('SHA-256') ? 'sha256' : 'md5';
}

function hash(algorithm: DigestAlgorithm, data: string | Uint8Array): string {
  return createHash(hashName(algorithm)).update(data).digest('hex');
}

interface ResponseInput {
  algorithm: DigestAlgorithm;
  username: string;
  password: string;
  realm: string;
  nonce: string;
  cnonce: string;
  nc: string;
  qop: string | undefined;
  method: string;
  uri: string;
  /** Hashed only for qop=auth-int (RFC 7616 §3.4.3). */
  body: string | Uint8Array;
}

/** RFC 7616 §3.4.1–§3.4.3 (RFC 2069 / RFC 2617 §3.2.2.1 when no qop). */
export function digestResponse(input: ResponseInput): string {
  let ha1 = hash(input.algorithm, `${input.username}:${input.realm}:${input.password}`);
  if (input.algorithm.endsWith('-sess')) ha1 = hash(input.algorithm, `${ha1}:${input.nonce}:${input.cnonce}`);
  const a2 =
    input.qop === 'auth-int'
      ? `${input.method}:${input.uri}:${hash(input.algorithm, input.body)}`
      : `${input.method}:${input.uri}`;
  const ha2 = hash(input.algorithm, a2);
  if (input.qop === undefined) return hash(input.algorithm, `${ha1}:${input.nonce}:${ha2}`);
  return hash(input.algorithm, `${ha1}:${input.nonce}:${input.nc}:${input.cnonce}:${input.qop}:${ha2}`);
}

export interface AuthorizeInput {
  challenge: DigestChallenge;
  method: string;
  uri: string;
  username: string;
  password: string;
  /** The message body, for qop=auth-int. */
  body?: string | Uint8Array;
  /** Fixed cnonce for tests; random otherwise. */
  cnonce?: string;
}

const MAX_CLIENT_NONCES = 100;

/** Answers challenges for one dialog or registration, counting uses (nc) per nonce (RFC 7616 §3.4). */
export class DigestClient {
  readonly #nonceCounts = new Map<string, number>();

  /** The Authorization / Proxy-Authorization value. Throws if the challenge offers only unknown qops. */
  authorize(input: AuthorizeInput): string {
    const { challenge } = input;
    // auth is preferred; auth-int only when it is all that is offered; no qop → RFC 2069.
    const qop = challenge.qop.includes('auth')
      ? 'auth'
      : challenge.qop.includes('auth-int')
        ? 'auth-int'
        : undefined;
    if (qop === undefined && challenge.qop.length > 0)
      throw new Error(`no supported qop in ${challenge.qop.join(',')}`);
    const count = (this.#nonceCounts.get(challenge.nonce) ?? 0) + 1;
    this.#nonceCounts.delete(challenge.nonce);
    this.#nonceCounts.set(challenge.nonce, count);
    if (this.#nonceCounts.size > MAX_CLIENT_NONCES)
      this.#nonceCounts.delete(this.#nonceCounts.keys().next().value as string);
    const nc = count.toString(16).padStart(8, '0');
    const cnonce = input.cnonce ?? randomBytes(12).toString('hex');
    const response = digestResponse({ ...input, ...challenge, cnonce, nc, qop, body: input.body ?? '' });
    // RFC 7616 §3.4: algorithm, qop and nc are tokens, everything else quoted-string.
    const parts = [
      `username=${quote(input.username)}`,
      `realm=${quote(challenge.realm)}`,
      `nonce=${quote(challenge.nonce)}`,
      `uri=${quote(input.uri)}`,
      `response="${response}"`,
      `algorithm=${challenge.algorithm}`,
    ];
    if (challenge.opaque !== undefined) parts.push(`opaque=${quote(challenge.opaque)}`);
    if (qop !== undefined) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce=${quote(cnonce)}`);
    return `Digest ${parts.join(', ')}`;
  }
}

export interface DigestVerifierOptions {
  realm: string;
  /** Key of the stateless nonces (HMAC over their timestamp). */
  secret: string;
  clock: Clock;
  /** Nonce lifetime; older nonces with a correct response are stale (default 300000). */
  nonceTtlMs?: number;
  /** Offered and accepted algorithms, strongest first (default SHA-256, MD5). */
  algorithms?: DigestAlgorithm[];
}

export type VerifyResult = { ok: true; username: string } | { ok: false; stale: boolean; reason: string };

export interface VerifyInput {
  authorization: string;
  method: string;
  /** The Request-URI; when given, the credentials' uri must equal it. */
  uri?: string;
  lookupPassword(username: string): string | undefined;
}

const MAX_TRACKED_NONCES = 10_000;

/** Constant-time equality that also survives inputs of different byte lengths. */
function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

const fail = (reason: string, stale = false): VerifyResult => ({ ok: false, stale, reason });

/**
 * Whether the credentials' digest-uri names the request's target (RFC 3261 §22.4). Equal
 * strings, or SIP URIs with the same scheme, host and port: SIPp and some PBXs put the domain
 * (`sip:host:port`) there rather than the full Request-URI, and a proxy may have rewritten the
 * user part. The nonce, its count and the method still bind the response to this request.
 */
function sameTarget(credentialsUri: string, requestUri: string): boolean {
  if (credentialsUri === requestUri) return true;
  try {
    const [a, b] = [parseUri(credentialsUri), parseUri(requestUri)];
    if (a.opaque !== undefined || b.opaque !== undefined) return false;
    const defaultPort = (scheme: string) => (scheme === 'sips' ? 5061 : 5060);
    return (
      a.scheme === b.scheme &&
      a.host.toLowerCase() === b.host.toLowerCase() &&
      (a.port ?? defaultPort(a.scheme)) === (b.port ?? defaultPort(b.scheme))
    );
  } catch {
    return false;
  }
}

/** Challenges and checks credentials with stateless HMAC nonces (RFC 7616 §3.3, §5.4–§5.5). */
export class DigestVerifier {
  /** Last nonce count seen per nonce, to refuse replays (bounded, least recently used evicted). */
  readonly #lastNc = new Map<string, { nc: number; issued: number }>();
  /** Newest issue time among evicted nonces: unknown nonces this old may be replays of them. */
  #evictedUpTo = Number.NEGATIVE_INFINITY;
  readonly #algorithms: readonly DigestAlgorithm[];

  readonly #options: DigestVerifierOptions;

  constructor(options: DigestVerifierOptions) {
    this.#options = options;
    this.#algorithms = options.algorithms ?? ['SHA-256', 'MD5'];
  }

  /**
   * One WWW-Authenticate value per algorithm, strongest first (RFC 8760 §2.4). After a stale
   * verify result pass stale: true so the client retries without asking for a password.
   */
  challenges(options: { stale?: boolean } = {}): string[] {
    const nonce = this.#nonce(this.#options.clock.wallNow());
    const stale = options.stale ? ', stale=true' : '';
    return this.#algorithms.map(
      (algorithm) =>
        `Digest realm=${quote(this.#options.realm)}, nonce="${nonce}", algorithm=${algorithm}, qop="auth"${stale}`,
    );
  }

  /** Never throws on bad input: malformed credentials are ok:false. */
  verify(input: VerifyInput): VerifyResult {
    let credentials: DigestCredentials;
    try {
      credentials = parseCredentials(input.authorization);
    } catch (error) {
      return fail((error as Error).message);
    }
    const { username, nonce, uri, algorithm, qop, nc = '', cnonce = '' } = credentials;
    if (credentials.realm !== this.#options.realm) return fail('wrong realm');
    if (!this.#algorithms.includes(algorithm)) return fail(`algorithm ${algorithm} not offered`);
    // We offer qop="auth" only; RFC 7616 §3.4 obliges the client to echo it (no RFC 2069 downgrade).
    if (qop !== 'auth') return fail(`qop ${qop ?? '(none)'} not offered`);
    if (!/^[0-9a-f]{8}$/i.test(nc)) return fail('malformed nonce count');
    if (input.uri !== undefined && !sameTarget(uri, input.uri))
      return fail(`uri mismatch: ${uri} in credentials, ${input.uri} requested`);
    const password = input.lookupPassword(username);
    if (password === undefined) return fail('unknown user');
    const expected = digestResponse({
      algorithm,
      username,
      password,
      realm: this.#options.realm,
      nonce,
      cnonce,
      nc,
      qop,
      method: input.method,
      uri,
      body: '',
    });
    const digestOk = safeEqual(expected, credentials.response.toLowerCase());
    const issued = this.#nonceTime(nonce);
    // RFC 7616 §3.3: stale only when the nonce is bad but the digest is right for it, i.e. the
    // client knows the password. Covers expired nonces and those of a previous process secret.
    if (issued === undefined) return digestOk ? fail('unknown nonce', true) : fail('forged nonce');
    if (!digestOk) return fail('wrong response');
    if (this.#options.clock.wallNow() - issued > (this.#options.nonceTtlMs ?? 300_000))
      return fail('nonce expired', true);
    // RFC 7616 §5.5: each request with a nonce must carry a larger nc than the last.
    const seen = this.#lastNc.get(nonce);
    // Its count may have been evicted: a fresh nonce costs the client one round trip, not a prompt.
    if (seen === undefined && issued <= this.#evictedUpTo) return fail('nonce forgotten', true);
    const count = Number.parseInt(nc, 16);
    if (count <= (seen?.nc ?? 0)) return fail('replayed nonce count');
    this.#lastNc.delete(nonce);
    this.#lastNc.set(nonce, { nc: count, issued });
    if (this.#lastNc.size > MAX_TRACKED_NONCES) {
      const [oldest, entry] = this.#lastNc.entries().next().value as [string, { issued: number }];
      this.#lastNc.delete(oldest);
      this.#evictedUpTo = Math.max(this.#evictedUpTo, entry.issued);
    }
    return { ok: true, username };
  }

  /** time:salt:mac — the salt makes every challenge's nonce unique even within a millisecond. */
  #nonce(timestamp: number): string {
    const stamp = `${timestamp.toString(16)}:${randomBytes(6).toString('hex')}`;
    return Buffer.from(`${stamp}:${this.#mac(stamp)}`).toString('base64url');
  }

  #nonceTime(nonce: string): number | undefined {
    const [time = '', salt = '', mac = ''] = Buffer.from(nonce, 'base64url').toString().split(':');
    if (!safeEqual(mac, this.#mac(`${time}:${salt}`))) return undefined;
    return Number.parseInt(time, 16);
  }

  #mac(text: string): string {
    return createHmac('sha256', this.#options.secret).update(text).digest('hex').slice(0, 32);
  }
}
