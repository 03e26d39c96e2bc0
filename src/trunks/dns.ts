/**
 * The DNS queries RFC 3263 server location makes (NAPTR, SRV, A, AAAA), cached per record
 * type: an answer is kept for its TTL held within [minTtlSec, maxTtlSec]; NXDOMAIN, an empty
 * answer and a failing server are remembered for negativeTtlSec (RFC 2308, RFC 9520 §3.2);
 * and while the server fails, the last answer is served for up to maxStaleSec after it expired
 * (RFC 8767), which is logged once per name until the server answers again.
 */
import type { NaptrRecord, RecordWithTtl, SrvRecord } from 'node:dns';
import { Resolver } from 'node:dns/promises';
import type { DnsCacheConfig, DnsConfig } from '../config/index.js';
import type { Clock, Logger } from '../util/index.js';

/** The raw queries; node:dns in production, a fake in tests. Rejections carry node's `code`. */
export interface DnsClient {
  naptr(name: string): Promise<NaptrRecord[]>;
  srv(name: string): Promise<SrvRecord[]>;
  a(name: string): Promise<RecordWithTtl[]>;
  aaaa(name: string): Promise<RecordWithTtl[]>;
  /** Ends the queries in flight (they reject with ECANCELLED). */
  cancel(): void;
}

/** A `node:dns` Resolver on the configured servers (the system's when none are given). */
export function nodeDnsClient(config: Pick<DnsConfig, 'servers' | 'timeoutMs' | 'tries'>): DnsClient {
  const resolver = new Resolver({ timeout: config.timeoutMs, tries: config.tries });
  if (config.servers) resolver.setServers([...config.servers]);
  return {
    naptr: (name) => resolver.resolveNaptr(name),
    srv: (name) => resolver.resolveSrv(name),
    a: (name) => resolver.resolve4(name, { ttl: true }),
    aaaa: (name) => resolver.resolve6(name, { ttl: true }),
    cancel: () => resolver.cancel(),
  };
}

/**
 * `not_found`: the name or its records do not exist (NXDOMAIN, NODATA), an answer to believe;
 * `server_failure`: no answer (SERVFAIL, REFUSED, timeout, unreachable server).
 */
export type DnsFailure = 'not_found' | 'server_failure';

export type DnsAnswer<T> =
  | { ok: true; records: NonEmpty<T>; stale: boolean; expiresAtMs: number }
  | { ok: false; failure: DnsFailure; code: string; expiresAtMs: number };

export type NonEmpty<T> = readonly [T, ...T[]];

const isNonEmpty = <T>(records: T[]): records is [T, ...T[]] => records.length > 0;

const NOT_FOUND_CODES = new Set(['ENOTFOUND', 'ENODATA']);

/** node:dns error codes are a short fixed set (`ESERVFAIL`, `ETIMEOUT`...); anything else is `EOTHER`. */
function failureOf(error: unknown): { failure: DnsFailure; code: string } {
  const raw = (error as { code?: unknown } | undefined)?.code;
  const code = typeof raw === 'string' && /^E[A-Z]{2,20}$/.test(raw) ? raw : 'EOTHER';
  return { failure: NOT_FOUND_CODES.has(code) ? 'not_found' : 'server_failure', code };
}

interface Entry<T> {
  /** What the entry answers until `answer.expiresAtMs`; undefined before the first answer. */
  answer: DnsAnswer<T> | undefined;
  /** The last records the server gave, while they may be served stale. */
  records: NonEmpty<T> | undefined;
  /** Until then `records` may be served when the server fails. */
  staleUntilMs: number;
  /** Serving stale records now; logged once when it starts. */
  servingStale: boolean;
  inFlight: Promise<DnsAnswer<T>> | undefined;
}

export interface DnsCacheOptions {
  clock: Clock;
  logger: Logger;
  config: DnsCacheConfig;
}

/** One record type's cache: at most `maxEntries` names, the least recently used evicted first. */
class DnsCache<T> {
  readonly #type: string;
  readonly #ask: (name: string) => Promise<T[]>;
  /** Seconds the answer may be kept, or undefined when the query does not report it. */
  readonly #ttlOf: (records: NonEmpty<T>) => number | undefined;
  readonly #options: DnsCacheOptions;
  readonly #entries = new Map<string, Entry<T>>();

  constructor(
    type: string,
    ask: (name: string) => Promise<T[]>,
    ttlOf: (records: NonEmpty<T>) => number | undefined,
    options: DnsCacheOptions,
  ) {
    this.#type = type;
    this.#ask = ask;
    this.#ttlOf = ttlOf;
    this.#options = options;
  }

  query(name: string): Promise<DnsAnswer<T>> {
    const entry = this.#entries.get(name);
    if (entry) {
      // Map order is the LRU order: a hit moves the name to the back.
      this.#entries.delete(name);
      this.#entries.set(name, entry);
      if (entry.answer && this.#options.clock.now() < entry.answer.expiresAtMs)
        return Promise.resolve(entry.answer);
      if (entry.inFlight) return entry.inFlight;
    }
    const current = entry ?? this.#insert(name);
    const inFlight = this.#refresh(name, current);
    current.inFlight = inFlight;
    return inFlight;
  }

  #insert(name: string): Entry<T> {
    const entry: Entry<T> = {
      answer: undefined,
      records: undefined,
      staleUntilMs: Number.NEGATIVE_INFINITY,
      servingStale: false,
      inFlight: undefined,
    };
    this.#entries.set(name, entry);
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#options.config.maxEntries) break;
      this.#entries.delete(oldest);
    }
    return entry;
  }

  async #refresh(name: string, entry: Entry<T>): Promise<DnsAnswer<T>> {
    const { config, logger } = this.#options;
    let records: T[] = [];
    let failure: { failure: DnsFailure; code: string } = { failure: 'not_found', code: 'ENODATA' };
    try {
      records = await this.#ask(name);
    } catch (error) {
      failure = failureOf(error);
    }
    entry.inFlight = undefined;
    const now = this.#options.clock.now();
    if (isNonEmpty(records)) {
      const ttlSec = Math.min(config.maxTtlSec, Math.max(config.minTtlSec, this.#ttlOf(records) ?? 0));
      if (entry.servingStale) logger.info({ type: this.#type, name }, 'DNS answers again');
      const expiresAtMs = now + ttlSec * 1000;
      entry.records = records;
      entry.staleUntilMs = expiresAtMs + config.maxStaleSec * 1000;
      entry.servingStale = false;
      entry.answer = { ok: true, records, stale: false, expiresAtMs };
      return entry.answer;
    }
    // Ask again after negativeTtlSec, also while serving stale records.
    const expiresAtMs = now + config.negativeTtlSec * 1000;
    const stale = entry.records;
    if (failure.failure === 'server_failure' && stale && now < entry.staleUntilMs) {
      if (!entry.servingStale)
        logger.warn(
          { type: this.#type, name, code: failure.code },
          'DNS server failing: serving the expired answer until it answers again',
        );
      entry.servingStale = true;
      entry.answer = {
        ok: true,
        records: stale,
        stale: true,
        expiresAtMs: Math.min(expiresAtMs, entry.staleUntilMs),
      };
      return entry.answer;
    }
    // NXDOMAIN is an answer: the old records are gone, not stale.
    entry.records = undefined;
    entry.servingStale = false;
    entry.answer = { ok: false, ...failure, expiresAtMs };
    return entry.answer;
  }
}

const minTtl = (records: NonEmpty<RecordWithTtl>): number => Math.min(...records.map((record) => record.ttl));

/** The four caches RFC 3263 location asks, over one client. */
export class CachingDns {
  readonly naptr: DnsCache<NaptrRecord>;
  readonly srv: DnsCache<SrvRecord>;
  readonly a: DnsCache<RecordWithTtl>;
  readonly aaaa: DnsCache<RecordWithTtl>;
  readonly #client: DnsClient;

  constructor(client: DnsClient, options: DnsCacheOptions) {
    this.#client = client;
    // node:dns reports no TTL for NAPTR and SRV: those answers are kept minTtlSec.
    const noTtl = (): undefined => undefined;
    this.naptr = new DnsCache('NAPTR', (name) => client.naptr(name), noTtl, options);
    this.srv = new DnsCache('SRV', (name) => client.srv(name), noTtl, options);
    this.a = new DnsCache('A', (name) => client.a(name), minTtl, options);
    this.aaaa = new DnsCache('AAAA', (name) => client.aaaa(name), minTtl, options);
  }

  close(): void {
    this.#client.cancel();
  }
}
