/**
 * Cluster-wide CPS buckets in Redis: one Lua script refills and takes from every bucket of a
 * call atomically, or from none; another gives a token back to each (its call ended while the
 * take was in flight). The scripts use the Redis server's clock (`TIME`), not the
 * caller's `nowMs`, so nodes with skewed clocks still share one bucket correctly.
 */
import type { BucketSnapshot, CpsDecision, CpsKeyLimit, CpsStore } from '../trunks/index.js';
import type { RedisLink } from './redis-link.js';
import { KEY_PREFIX } from './scripts.js';

/**
 * A bucket's tokens refilled to `now` (server time). A count no store of ours writes (not a
 * number, infinite, NaN, below -burst: a foreign or corrupt value) is read as a full bucket:
 * written back unchanged, it would refuse every call on the key for good.
 */
const REFILLED = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local function refilled(key, rate, burst)
  local state = redis.call('HMGET', key, 'tokens', 'last')
  local have = tonumber(state[1]) or burst
  if have ~= have or have < -burst or have > burst then have = burst end
  local last = tonumber(state[2]) or now
  return math.min(burst, have + math.max(0, now - last) * rate / 1000)
end
`;

/**
 * KEYS = bucket keys; ARGV = ttlMs, then rate, burst per key. Returns {allowed, retryAfterMs,
 * limiting}: the 1-based index of the bucket that waits longest, 0 when allowed.
 */
const TAKE_SCRIPT = `${REFILLED}
local ttl = tonumber(ARGV[1])
local tokens = {}
local retry = 0
local limiting = 0
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[i * 2])
  local have = refilled(key, rate, tonumber(ARGV[i * 2 + 1]))
  tokens[i] = have
  if have < 1 then
    local wait = math.ceil((1 - have) * 1000 / rate)
    if wait > retry then retry, limiting = wait, i end
  end
end
local allowed = retry == 0 and 1 or 0
for i, key in ipairs(KEYS) do
  local left = tokens[i] - allowed
  redis.call('HSET', key, 'tokens', tostring(left), 'last', now)
  redis.call('PEXPIRE', key, ttl)
end
return {allowed, retry, limiting}
`;

/** KEYS = bucket keys; ARGV = ttlMs, then rate, burst per key. One token back to each, at most burst. */
const REFUND_SCRIPT = `${REFILLED}
for i, key in ipairs(KEYS) do
  local burst = tonumber(ARGV[i * 2 + 1])
  local have = refilled(key, tonumber(ARGV[i * 2]), burst)
  redis.call('HSET', key, 'tokens', tostring(math.min(burst, have + 1)), 'last', now)
  redis.call('PEXPIRE', key, tonumber(ARGV[1]))
end
return 1
`;

/** KEYS = bucket keys; ARGV = rate, burst per key. Refilled tokens as strings (Lua numbers reply as integers). */
const SNAPSHOT_SCRIPT = `${REFILLED}
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = tostring(refilled(key, tonumber(ARGV[i * 2 - 1]), tonumber(ARGV[i * 2])))
end
return out
`;

type RedisFailurePolicy = 'failOpen' | 'failClosed';

interface RedisCpsStoreOptions {
  /**
   * Default `{patchbay}:cps:`: the hash tag puts every bucket in one Redis Cluster slot, so one
   * script may take from a call's trunk, number and route buckets together.
   */
  keyPrefix?: string;
  failurePolicy?: RedisFailurePolicy;
  /** Idle buckets expire after this (a full bucket is identical to a missing one). */
  idleTtlMs?: number;
  /**
   * failOpen only: decides while Redis is unreachable, e.g. a MemoryCpsStore fed this node's
   * share of each rate. Without it failOpen admits every call until Redis is back.
   */
  localFallback?: CpsStore;
  /** How many recently used keys snapshot() reports (oldest first out). */
  maxSnapshotKeys?: number;
}

/** Retry-After for failClosed: RFC 3261 §20.33, one second. */
const FAIL_CLOSED_RETRY_MS = 1000;

export class RedisCpsStore implements CpsStore {
  readonly #link: RedisLink;
  readonly #keyPrefix: string;
  readonly #failurePolicy: RedisFailurePolicy;
  readonly #idleTtlMs: number;
  readonly #localFallback: CpsStore | undefined;
  readonly #maxSnapshotKeys: number;
  /** Keys this node took from, with the limit last used, for snapshot(). Bounded. */
  readonly #seen = new Map<string, CpsKeyLimit>();

  constructor(link: RedisLink, options: RedisCpsStoreOptions = {}) {
    this.#link = link;
    this.#keyPrefix = options.keyPrefix ?? `${KEY_PREFIX}cps:`;
    this.#failurePolicy = options.failurePolicy ?? 'failOpen';
    this.#idleTtlMs = options.idleTtlMs ?? 60_000;
    this.#localFallback = options.localFallback;
    this.#maxSnapshotKeys = options.maxSnapshotKeys ?? 1000;
    link.defineScript('patchbayCpsTake', TAKE_SCRIPT);
    link.defineScript('patchbayCpsSnapshot', SNAPSHOT_SCRIPT);
    link.defineScript('patchbayCpsRefund', REFUND_SCRIPT);
  }

  /** `nowMs` is ignored by Redis (it uses server time, see file comment); the fallback uses it. */
  async take(limits: readonly CpsKeyLimit[], nowMs: number): Promise<CpsDecision> {
    if (limits.length === 0) return { allowed: true, retryAfterMs: 0 };
    this.#remember(limits);
    let reply: unknown;
    try {
      reply = await this.#link.run('patchbayCpsTake', this.#keys(limits), this.#bucketArgs(limits));
    } catch {
      return this.#failed(limits, nowMs);
    }
    const [allowed, retryAfterMs, limiting] = reply as [number, number, number];
    return allowed === 1
      ? { allowed: true, retryAfterMs }
      : { allowed: false, retryAfterMs, limiting: limiting - 1 };
  }

  /**
   * Atomic in Redis. Redis away: to the local fallback, where the take most likely went too (at
   * worst one token too many on either side, never past a burst).
   */
  async refund(limits: readonly CpsKeyLimit[], nowMs: number): Promise<void> {
    if (limits.length === 0) return;
    try {
      await this.#link.run('patchbayCpsRefund', this.#keys(limits), this.#bucketArgs(limits));
    } catch {
      await this.#localFallback?.refund(limits, nowMs);
    }
  }

  /**
   * The shared Redis state (on Redis time) of the buckets this node used most recently; other
   * nodes' keys are not listed. Rejects when Redis is unreachable: a stale or local view
   * would misreport the cluster.
   */
  async snapshot(_nowMs: number): Promise<BucketSnapshot[]> {
    const limits = [...this.#seen.values()];
    if (limits.length === 0) return [];
    const args: number[] = [];
    for (const limit of limits) args.push(limit.rate, limit.burst);
    const tokens = (await this.#link.run('patchbayCpsSnapshot', this.#keys(limits), args)) as string[];
    return limits.map((limit, index) => ({ ...limit, tokens: Number(tokens[index]) }));
  }

  /** The take's and the refund's ARGV: the idle TTL, then rate and burst per bucket. */
  #bucketArgs(limits: readonly CpsKeyLimit[]): number[] {
    const args: number[] = [this.#idleTtlMs];
    for (const limit of limits) args.push(limit.rate, limit.burst);
    return args;
  }

  #keys(limits: readonly CpsKeyLimit[]): string[] {
    return limits.map((limit) => this.#keyPrefix + limit.key);
  }

  #failed(limits: readonly CpsKeyLimit[], nowMs: number): Promise<CpsDecision> {
    if (this.#failurePolicy === 'failClosed') {
      return Promise.resolve({ allowed: false, retryAfterMs: FAIL_CLOSED_RETRY_MS });
    }
    return this.#localFallback?.take(limits, nowMs) ?? Promise.resolve({ allowed: true, retryAfterMs: 0 });
  }

  #remember(limits: readonly CpsKeyLimit[]): void {
    for (const limit of limits) {
      if (!this.#seen.has(limit.key) && this.#seen.size >= this.#maxSnapshotKeys) {
        const oldest = this.#seen.keys().next();
        if (!oldest.done) this.#seen.delete(oldest.value);
      }
      this.#seen.set(limit.key, limit);
    }
  }
}
