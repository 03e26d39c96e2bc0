/**
 * Calls-per-second limiting with token buckets (rate tokens/s, at most `burst` saved).
 * The store is async so a Redis store (one Lua script per take, shared by all nodes) can
 * replace the in-memory one without changing callers.
 */
import type { Clock, TimerHandle } from '../util/index.js';

export interface CpsKeyLimit {
  key: string;
  rate: number;
  burst: number;
}

export interface CpsDecision {
  allowed: boolean;
  /** When not allowed: time until every bucket involved holds a token again. */
  retryAfterMs: number;
  /** When not allowed: the index in the limits of the bucket that waits longest; absent when no bucket refused (a failed shared store). */
  limiting?: number;
}

export interface BucketSnapshot {
  key: string;
  rate: number;
  burst: number;
  tokens: number;
}

/**
 * Where buckets live. `take` is atomic across all keys: a call takes one token from each
 * bucket (trunk, number, route) or from none, so a rejected call never spends tokens.
 */
export interface CpsStore {
  take(limits: readonly CpsKeyLimit[], nowMs: number): Promise<CpsDecision>;
  /**
   * Gives back one token to each bucket, never past its burst: a take's call ended before its
   * answer, so the next call may use the token.
   */
  refund(limits: readonly CpsKeyLimit[], nowMs: number): Promise<void>;
  snapshot(nowMs: number): Promise<BucketSnapshot[]>;
}

interface Bucket {
  tokens: number;
  lastMs: number;
}

/** Refills a bucket to `nowMs`. A clock that went backwards refills nothing and restarts from now. */
function refill(bucket: Bucket, limit: CpsKeyLimit, nowMs: number): void {
  const elapsedMs = Math.max(0, nowMs - bucket.lastMs);
  bucket.tokens = Math.min(limit.burst, bucket.tokens + (elapsedMs * limit.rate) / 1000);
  bucket.lastMs = nowMs;
}

/** In-memory buckets with a bounded key count. */
export class MemoryCpsStore implements CpsStore {
  readonly #buckets = new Map<string, Bucket & { limit: CpsKeyLimit; usedMs: number }>();

  readonly #maxKeys: number;

  constructor(maxKeys = 100_000) {
    this.#maxKeys = maxKeys;
  }

  /** Synchronous take for single-process use; `take` wraps it. */
  takeNow(limits: readonly CpsKeyLimit[], nowMs: number): CpsDecision {
    const buckets = limits.map((limit) => this.#bucketFor(limit, nowMs));
    let retryAfterMs = 0;
    let limiting = 0;
    for (const [index, bucket] of buckets.entries()) {
      const limit = limits[index]!;
      const waitMs = bucket.tokens < 1 ? Math.ceil(((1 - bucket.tokens) * 1000) / limit.rate) : 0;
      if (waitMs > retryAfterMs) [retryAfterMs, limiting] = [waitMs, index];
    }
    if (retryAfterMs > 0) return { allowed: false, retryAfterMs, limiting };
    for (const bucket of buckets) bucket.tokens -= 1;
    return { allowed: true, retryAfterMs: 0 };
  }

  take(limits: readonly CpsKeyLimit[], nowMs: number): Promise<CpsDecision> {
    return Promise.resolve(this.takeNow(limits, nowMs));
  }

  refund(limits: readonly CpsKeyLimit[], nowMs: number): Promise<void> {
    for (const limit of limits) {
      const bucket = this.#buckets.get(limit.key);
      if (!bucket) continue; // evicted: a new bucket starts full
      refill(bucket, limit, nowMs);
      bucket.tokens = Math.min(limit.burst, bucket.tokens + 1);
    }
    return Promise.resolve();
  }

  snapshot(nowMs: number): Promise<BucketSnapshot[]> {
    return Promise.resolve(
      [...this.#buckets.entries()].map(([key, bucket]) => {
        refill(bucket, bucket.limit, nowMs);
        return { key, rate: bucket.limit.rate, burst: bucket.limit.burst, tokens: bucket.tokens };
      }),
    );
  }

  get size(): number {
    return this.#buckets.size;
  }

  #bucketFor(limit: CpsKeyLimit, nowMs: number): Bucket {
    // No delete/re-insert for recency: V8 Maps rehash constantly when hot keys churn that way.
    let bucket = this.#buckets.get(limit.key);
    if (bucket) {
      bucket.limit = limit;
      bucket.tokens = Math.min(bucket.tokens, limit.burst);
      bucket.usedMs = nowMs;
    } else {
      if (this.#buckets.size >= this.#maxKeys) this.#evict(nowMs);
      bucket = { tokens: limit.burst, lastMs: nowMs, limit, usedMs: nowMs };
      this.#buckets.set(limit.key, bucket);
    }
    refill(bucket, limit, nowMs);
    return bucket;
  }

  /**
   * Drops buckets that have refilled completely (idle: identical to a new bucket, so
   * dropping them loses nothing); if none, the least recently used 1% (amortises the scan).
   */
  #evict(nowMs: number): void {
    for (const [key, bucket] of this.#buckets) {
      refill(bucket, bucket.limit, nowMs);
      if (bucket.tokens >= bucket.limit.burst) this.#buckets.delete(key);
    }
    if (this.#buckets.size < this.#maxKeys) return;
    const byAge = [...this.#buckets.entries()].sort((a, b) => a[1].usedMs - b[1].usedMs);
    const count = Math.max(1, Math.floor(this.#maxKeys / 100));
    for (const [key] of byAge.slice(0, count)) this.#buckets.delete(key);
  }
}

type OverflowAction = 'reject' | 'queue' | 'reroute';

export interface OverflowPolicy {
  action: OverflowAction;
  queueTimeoutMs: number;
  maxQueued: number;
  rerouteTo?: string | undefined;
}

export type Admission =
  | { action: 'accept'; waitedMs: number }
  /** RFC 3261 §20.33: Retry-After in whole seconds, rounded up. */
  | {
      action: 'reject';
      status: 503;
      retryAfterSec: number;
      reason: 'cps_limit' | 'queue_full' | 'queue_timeout' | 'store_error' | 'cancelled';
      /** The key of the bucket that refused the call; absent when the limit store failed. */
      bucket?: string;
    }
  | { action: 'reroute'; target: string };

interface Waiter {
  queueKey: string;
  limits: readonly CpsKeyLimit[];
  deadlineMs: number;
  enqueuedMs: number;
  resolve(admission: Admission): void;
  timer: TimerHandle | undefined;
  signal: AbortSignal | undefined;
  onAbort(): void;
}

/** The call ended before it was admitted: it takes no token and leaves its queue. */
const CANCELLED: Admission = { action: 'reject', status: 503, retryAfterSec: 1, reason: 'cancelled' };

/** The wait before a queued call tries again: a store's 0, negative or NaN would spin on it. */
const retryDelayMs = (retryAfterMs: number): number => (retryAfterMs >= 1 ? retryAfterMs : 1);

/**
 * Applies limits (with run-time overrides) and the overflow policy. Queued calls retry when
 * their buckets should hold a token again, on the injected clock, until their deadline.
 * A queue is identified by the call's first bucket (the trunk) and holds at most the
 * policy's maxQueued calls; all queues together hold at most maxQueuedTotal.
 */
export class CpsLimiter {
  readonly #overrides = new Map<string, { rate: number; burst: number }>();
  readonly #queues = new Map<string, Set<Waiter>>();
  #queuedTotal = 0;

  readonly #store: CpsStore;
  readonly #clock: Clock;
  readonly #maxOverrides: number;
  readonly #maxQueuedTotal: number;

  constructor(store: CpsStore, clock: Clock, maxOverrides = 10_000, maxQueuedTotal = 10_000) {
    this.#store = store;
    this.#clock = clock;
    this.#maxOverrides = maxOverrides;
    this.#maxQueuedTotal = maxQueuedTotal;
  }

  /** Run-time limit for a key (from the API); wins over the configured one. */
  setLimit(key: string, rate: number, burst: number): void {
    if (!(rate > 0) || !(burst >= 1)) throw new RangeError('rate must be > 0 and burst >= 1');
    if (!this.#overrides.has(key) && this.#overrides.size >= this.#maxOverrides) {
      throw new RangeError(`at most ${this.#maxOverrides} CPS overrides`);
    }
    this.#overrides.set(key, { rate, burst });
  }

  clearLimit(key: string): boolean {
    return this.#overrides.delete(key);
  }

  effectiveLimits(limits: readonly CpsKeyLimit[]): CpsKeyLimit[] {
    return limits.map((limit) => ({ ...limit, ...this.#overrides.get(limit.key) }));
  }

  /**
   * `signal`: the call ended; a queued call leaves its queue without taking a token, and one
   * taken while the call ended goes back.
   */
  async admit(
    limits: readonly CpsKeyLimit[],
    policy: OverflowPolicy,
    signal?: AbortSignal,
  ): Promise<Admission> {
    if (signal?.aborted) return CANCELLED;
    const effective = this.effectiveLimits(limits);
    const decision = await this.#store.take(effective, this.#clock.now());
    if (decision.allowed && signal?.aborted) {
      await this.#refund(effective);
      return CANCELLED;
    }
    if (decision.allowed) return { action: 'accept', waitedMs: 0 };
    const retryAfterSec = retryAfterSecOf(decision.retryAfterMs);
    const refused = refusedBy(effective, decision);
    switch (policy.action) {
      case 'reroute':
        if (policy.rerouteTo !== undefined) return { action: 'reroute', target: policy.rerouteTo };
        return { action: 'reject', status: 503, retryAfterSec, reason: 'cps_limit', ...refused };
      case 'reject':
        return { action: 'reject', status: 503, retryAfterSec, reason: 'cps_limit', ...refused };
      case 'queue': {
        const queueKey = effective[0]?.key ?? '';
        const queueLength = this.#queues.get(queueKey)?.size ?? 0;
        if (queueLength >= policy.maxQueued || this.#queuedTotal >= this.#maxQueuedTotal) {
          return { action: 'reject', status: 503, retryAfterSec, reason: 'queue_full', ...refused };
        }
        if (signal?.aborted) return CANCELLED;
        return this.#enqueue(queueKey, effective, policy, decision.retryAfterMs, signal);
      }
    }
  }

  /** Calls waiting in every queue. */
  get queueLength(): number {
    return this.#queuedTotal;
  }

  async snapshot(): Promise<{ buckets: BucketSnapshot[]; overrides: CpsKeyLimit[]; queued: number }> {
    return {
      buckets: await this.#store.snapshot(this.#clock.now()),
      overrides: [...this.#overrides.entries()].map(([key, limit]) => ({ key, ...limit })),
      queued: this.#queuedTotal,
    };
  }

  /** Rejects every queued call (shutdown or drain). */
  close(): void {
    for (const queue of [...this.#queues.values()]) {
      for (const waiter of queue) {
        this.#finish(waiter, { action: 'reject', status: 503, retryAfterSec: 1, reason: 'queue_timeout' });
      }
    }
  }

  #enqueue(
    queueKey: string,
    limits: readonly CpsKeyLimit[],
    policy: OverflowPolicy,
    retryAfterMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Admission> {
    const now = this.#clock.now();
    return new Promise((resolve) => {
      const waiter: Waiter = {
        queueKey,
        limits,
        deadlineMs: now + policy.queueTimeoutMs,
        enqueuedMs: now,
        resolve,
        timer: undefined,
        signal,
        onAbort: () => this.#finish(waiter, CANCELLED),
      };
      const queue = this.#queues.get(queueKey) ?? new Set<Waiter>();
      queue.add(waiter);
      this.#queues.set(queueKey, queue);
      this.#queuedTotal++;
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#schedule(waiter, retryAfterMs);
    });
  }

  #schedule(waiter: Waiter, retryAfterMs: number): void {
    const now = this.#clock.now();
    const wakeAt = Math.min(now + retryDelayMs(retryAfterMs), waiter.deadlineMs);
    waiter.timer = this.#clock.setTimer(wakeAt - now, () => void this.#retry(waiter));
  }

  #queued(waiter: Waiter): boolean {
    return this.#queues.get(waiter.queueKey)?.has(waiter) ?? false;
  }

  async #retry(waiter: Waiter): Promise<void> {
    if (!this.#queued(waiter)) return;
    const now = this.#clock.now();
    let decision: CpsDecision;
    try {
      decision = await this.#store.take(waiter.limits, now);
    } catch {
      // A shared store (Redis) that fails must not leave the call waiting forever.
      this.#finish(waiter, { action: 'reject', status: 503, retryAfterSec: 1, reason: 'store_error' });
      return;
    }
    // Cancelled during the take: nothing to resolve or to schedule, a token taken goes back.
    if (!this.#queued(waiter)) {
      if (decision.allowed) await this.#refund(waiter.limits);
      return;
    }
    if (decision.allowed) {
      this.#finish(waiter, { action: 'accept', waitedMs: now - waiter.enqueuedMs });
    } else if (now >= waiter.deadlineMs) {
      const retryAfterSec = retryAfterSecOf(decision.retryAfterMs);
      const refused = refusedBy(waiter.limits, decision);
      this.#finish(waiter, {
        action: 'reject',
        status: 503,
        retryAfterSec,
        reason: 'queue_timeout',
        ...refused,
      });
    } else {
      this.#schedule(waiter, decision.retryAfterMs);
    }
  }

  /** Tokens taken for a call that ended before the answer: the next call may use them. */
  async #refund(limits: readonly CpsKeyLimit[]): Promise<void> {
    // A store that fails to refund keeps the token: as if the call had used it.
    await this.#store.refund(limits, this.#clock.now()).catch(() => undefined);
  }

  /** Once per waiter: a take still in flight when its call was cancelled finds it gone. */
  #finish(waiter: Waiter, admission: Admission): void {
    const queue = this.#queues.get(waiter.queueKey);
    if (!queue?.delete(waiter)) return;
    this.#queuedTotal--;
    if (queue.size === 0) this.#queues.delete(waiter.queueKey);
    waiter.timer?.cancel();
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
    waiter.resolve(admission);
  }
}

/** RFC 3261 §20.33: whole seconds, at least 1; a store's nonsense (NaN, Infinity) reads as 1. */
function retryAfterSecOf(retryAfterMs: number): number {
  return Number.isFinite(retryAfterMs) ? Math.max(1, Math.ceil(retryAfterMs / 1000)) : 1;
}

/** The refusing bucket's key, for an Admission that rejects. */
function refusedBy(limits: readonly CpsKeyLimit[], decision: CpsDecision): { bucket?: string } {
  const key = decision.limiting === undefined ? undefined : limits[decision.limiting]?.key;
  return key === undefined ? {} : { bucket: key };
}

/** Bucket keys for one call: per trunk, per called number on that trunk, per route. */
export const cpsKeys = {
  trunk: (trunk: string) => `trunk:${trunk}`,
  number: (trunk: string, number: string) => `number:${trunk}:${number}`,
  route: (route: string) => `route:${route}`,
};

/**
 * A bucket as a metric label: per-number buckets are as many as the numbers called, so they
 * are labelled by their trunk (`number:<trunk>`); `store` when the shared store failed.
 */
export function cpsBucketLabel(key: string | undefined): string {
  if (key === undefined) return 'store';
  if (!key.startsWith('number:')) return key;
  const end = key.indexOf(':', 'number:'.length);
  return end === -1 ? key : key.slice(0, end);
}
