/**
 * SIP digest authentication (RFC 3261 §22.4 on RFC 2617, with RFC 7616 / RFC 8760
 * algorithms MD5, MD5-sess, SHA-256, SHA-256-sess and qop=auth / auth-int).
 * DigestClient answers challenges for outbound trunks; DigestVerifier challenges and checks
 * inbound ones with stateless HMAC nonces, expiry (stale=true) and nonce-count replay checks.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../util/index.js';
import { endOfQuoted, unquote } from './grammar.js';

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';
const ALGORITHMS: readonly DigestAlgorithm[] = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess'];

export interface DigestChallenge {
  realm: string;
  nonce: string;
  algorithm: DigestAlgorithm;
  qop: string[];
  opaque?: string;
  stale: boolean;
}

/** `Digest a=b, c="d"` → lower-cased names → unquoted values. Throws on anything else. */
export function parseDigestParams(headerValue: string): Map<string, string> {
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
      const token = /^[^\s,]*/.exec(rest)?.[0] ?? '';
      value = token;
      rest = rest.slice(token.length);
    }
    params.set(name[1].toLowerCase(), value);
    rest = rest.replace(/^\s*,?/, '');
  }
  return params;
}

export function parseChallenge(headerValue: string): DigestChallenge {
  const params = parseDigestParams(headerValue);
  const realm = params.get('realm');
  const nonce = params.get('nonce');
  if (realm === undefined || nonce === undefined) throw new Error('challenge without realm or nonce');
  const algorithmName = params.get('algorithm') ?? 'MD5';
  const algorithm = ALGORITHMS.find((known) => known.toLowerCase() === algorithmName.toLowerCase());
  if (!algorithm) throw new Error(`unsupported digest algorithm ${algorithmName}`);
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

/** RFC 8760 §2.4: of several challenges, the strongest algorithm we support wins. */
export function pickChallenge(values: readonly string[]): DigestChallenge {
  const parsed = values.flatMap((value) => {
    try {
      return [parseChallenge(value)];
    } catch {
      return [];
    }
  });
  const best = parsed.find((c) => c.algorithm.startsWith('SHA-256')) ?? parsed[0];
  if (!best) throw new Error('no usable Digest challenge');
  return best;
}

function hash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm.startsWith('SHA-256') ? 'sha256' : 'md5')
    .update(text)
    .digest('hex');
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
  body: string;
}

/** RFC 7616 §3.4.1–§3.4.3 (RFC 2617 §3.2.2 when no qop). */
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
  body?: string;
  /** Fixed cnonce for tests; random otherwise. */
  cnonce?: string;
}

/** Answers challenges, counting nonce uses (nc) per nonce (RFC 7616 §3.4). */
export class DigestClient {
  readonly #nonceCounts = new Map<string, number>();

  authorize(input: AuthorizeInput): string {
    const { challenge } = input;
    const qop = challenge.qop.includes('auth')
      ? 'auth'
      : challenge.qop.includes('auth-int')
        ? 'auth-int'
        : undefined;
    const count = (this.#nonceCounts.get(challenge.nonce) ?? 0) + 1;
    if (this.#nonceCounts.size > 100) this.#nonceCounts.clear();
    this.#nonceCounts.set(challenge.nonce, count);
    const nc = count.toString(16).padStart(8, '0');
    const cnonce = input.cnonce ?? randomBytes(12).toString('hex');
    const response = digestResponse({ ...input, ...challenge, cnonce, nc, qop, body: input.body ?? '' });
    const parts = [
      `username="${input.username}"`,
      `realm="${challenge.realm}"`,
      `nonce="${challenge.nonce}"`,
      `uri="${input.uri}"`,
      `response="${response}"`,
      `algorithm=${challenge.algorithm}`,
    ];
    if (challenge.opaque !== undefined) parts.push(`opaque="${challenge.opaque}"`);
    if (qop !== undefined) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce="${cnonce}"`);
    return `Digest ${parts.join(', ')}`;
  }
}

export interface DigestVerifierOptions {
  realm: string;
  /** Key of the stateless nonces (HMAC over their timestamp). */
  secret: string;
  clock: Clock;
  nonceTtlMs?: number;
  algorithms?: DigestAlgorithm[];
}

export type VerifyResult = { ok: true; username: string } | { ok: false; stale: boolean; reason: string };

const MAX_TRACKED_NONCES = 10_000;

export class DigestVerifier {
  /** Last nonce count seen per nonce, to refuse replays (bounded, oldest evicted). */
  readonly #lastNc = new Map<string, number>();

  constructor(private readonly options: DigestVerifierOptions) {}

  /** One WWW-Authenticate value per algorithm, strongest first (RFC 8760 §2.4). */
  challenges(): string[] {
    const nonce = this.#nonce(this.options.clock.wallNow());
    return (this.options.algorithms ?? ['SHA-256', 'MD5']).map(
      (algorithm) =>
        `Digest realm="${this.options.realm}", nonce="${nonce}", algorithm=${algorithm}, qop="auth"`,
    );
  }

  verify(input: {
    authorization: string;
    method: string;
    uri?: string;
    lookupPassword(username: string): string | undefined;
  }): VerifyResult {
    let params: Map<string, string>;
    try {
      params = parseDigestParams(input.authorization);
    } catch (error) {
      return { ok: false, stale: false, reason: (error as Error).message };
    }
    const username = params.get('username');
    const nonce = params.get('nonce') ?? '';
    const uri = params.get('uri');
    const response = params.get('response') ?? '';
    const algorithm = ALGORITHMS.find(
      (known) => known.toLowerCase() === (params.get('algorithm') ?? 'MD5').toLowerCase(),
    );
    if (!username || !uri || !algorithm) return { ok: false, stale: false, reason: 'incomplete credentials' };
    if (params.get('realm') !== this.options.realm) return { ok: false, stale: false, reason: 'wrong realm' };
    if (input.uri !== undefined && uri !== input.uri)
      return { ok: false, stale: false, reason: 'uri mismatch' };
    const issued = this.#nonceTime(nonce);
    if (issued === undefined) return { ok: false, stale: false, reason: 'forged nonce' };
    const password = input.lookupPassword(username);
    if (password === undefined) return { ok: false, stale: false, reason: 'unknown user' };
    const qop = params.get('qop');
    const nc = params.get('nc') ?? '';
    const expected = digestResponse({
      algorithm,
      username,
      password,
      realm: this.options.realm,
      nonce,
      cnonce: params.get('cnonce') ?? '',
      nc,
      qop,
      method: input.method,
      uri,
      body: '',
    });
    if (
      expected.length !== response.length ||
      !timingSafeEqual(Buffer.from(expected), Buffer.from(response))
    ) {
      return { ok: false, stale: false, reason: 'wrong response' };
    }
    // A correct answer to an expired nonce is stale: the client retries without asking the user.
    if (this.options.clock.wallNow() - issued > (this.options.nonceTtlMs ?? 300_000)) {
      return { ok: false, stale: true, reason: 'nonce expired' };
    }
    if (qop !== undefined) {
      const count = Number.parseInt(nc, 16);
      if (!(count > (this.#lastNc.get(nonce) ?? 0)))
        return { ok: false, stale: false, reason: 'replayed nonce count' };
      this.#lastNc.delete(nonce);
      this.#lastNc.set(nonce, count);
      if (this.#lastNc.size > MAX_TRACKED_NONCES)
        this.#lastNc.delete(this.#lastNc.keys().next().value as string);
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
    const expected = this.#mac(`${time}:${salt}`);
    if (mac.length !== expected.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(expected)))
      return undefined;
    return Number.parseInt(time, 16);
  }

  #mac(text: string): string {
    return createHmac('sha256', this.options.secret).update(text).digest('hex').slice(0, 32);
  }
}
