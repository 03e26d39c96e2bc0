/**
 * Cluster-wide CPS buckets in Redis: one Lua script refills and takes from every bucket of a
 * call atomically, or from none. The script uses the Redis server's clock (`TIME`), not the
 * caller's `nowMs`, so nodes with skewed clocks still share one bucket correctly.
 */
import type { Redis } from 'ioredis';
import type { BucketSnapshot, CpsDecision, CpsKeyLimit, CpsStore } from './cps.js';

/** KEYS = bucket keys; ARGV = ttlMs, then rate, burst per key. Returns {allowed, retryAfterMs}. */
const TAKE_SCRIPT = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local ttl = tonumber(ARGV[1])
local tokens = {}
local retry = 0
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[i * 2])
  local burst = tonumber(ARGV[i * 2 + 1])
  local state = redis.call('HMGET', key, 'tokens', 'last')
  local have = tonumber(state[1]) or burst
  local last = tonumber(state[2]) or now
  have = math.min(burst, have + math.max(0, now - last) * rate / 1000)
  tokens[i] = have
  if have < 1 then retry = math.max(retry, math.ceil((1 - have) * 1000 / rate)) end
end
local allowed = retry == 0 and 1 or 0
for i, key in ipairs(KEYS) do
  local left = tokens[i] - allowed
  redis.call('HSET', key, 'tokens', tostring(left), 'last', now)
  redis.call('PEXPIRE', key, ttl)
end
return {allowed, retry}
`;

export type RedisFailurePolicy = 'failOpen' | 'failClosed';

export interface RedisCpsStoreOptions {
  keyPrefix?: string;
  failurePolicy?: RedisFailurePolicy;
  /** Upper bound on one take; a slower Redis counts as a failure. */
  commandTimeoutMs?: number;
  /** Idle buckets expire after this (a full bucket is identical to a missing one). */
  idleTtlMs?: number;
}

type CpsCommand = (...args: (string | number)[]) => Promise<[number, number]>;

/** Retry-After for failClosed: RFC 3261 §20.33, one second. */
const FAIL_CLOSED_RETRY_MS = 1000;

export class RedisCpsStore implements CpsStore {
  private readonly keyPrefix: string;
  private readonly failurePolicy: RedisFailurePolicy;
  private readonly commandTimeoutMs: number;
  private readonly idleTtlMs: number;
  /** Takes decided by the failure policy because Redis failed or timed out. */
  failures = 0;

  constructor(
    private readonly redis: Redis,
    options: RedisCpsStoreOptions = {},
  ) {
    this.keyPrefix = options.keyPrefix ?? 'patchbay:cps:';
    this.failurePolicy = options.failurePolicy ?? 'failOpen';
    this.commandTimeoutMs = options.commandTimeoutMs ?? 200;
    this.idleTtlMs = options.idleTtlMs ?? 60_000;
    // defineCommand sends EVALSHA and falls back to EVAL on NOSCRIPT.
    redis.defineCommand('patchbayCpsTake', { lua: TAKE_SCRIPT });
  }

  /** `nowMs` is ignored: the script uses Redis server time (see file comment). */
  async take(limits: readonly CpsKeyLimit[], _nowMs: number): Promise<CpsDecision> {
    if (limits.length === 0) return { allowed: true, retryAfterMs: 0 };
    const args: (string | number)[] = [limits.length];
    for (const limit of limits) args.push(this.keyPrefix + limit.key);
    args.push(this.idleTtlMs);
    for (const limit of limits) args.push(limit.rate, limit.burst);
    const command = (this.redis as unknown as { patchbayCpsTake: CpsCommand }).patchbayCpsTake;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('redis cps timeout')), this.commandTimeoutMs);
      });
      const [allowed, retryAfterMs] = await Promise.race([command.apply(this.redis, args), timeout]);
      return { allowed: allowed === 1, retryAfterMs };
    } catch {
      this.failures += 1;
      return this.failurePolicy === 'failOpen'
        ? { allowed: true, retryAfterMs: 0 }
        : { allowed: false, retryAfterMs: FAIL_CLOSED_RETRY_MS };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Buckets live in Redis and are shared; a per-node snapshot would be misleading. */
  snapshot(_nowMs: number): Promise<BucketSnapshot[]> {
    return Promise.resolve([]);
  }
}
