import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gatewayFileSchema, trunkSchema } from '../../src/config/index.js';
import {
  CpsLimiter,
  callCpsLimits,
  cpsBucketLabel,
  MemoryCpsStore,
  type OverflowPolicy,
} from '../../src/trunks/index.js';
import { FakeClock } from '../../src/util/index.js';

const trunk = { key: 'trunk:a', rate: 2, burst: 3 };
const reject: OverflowPolicy = { action: 'reject', queueTimeoutMs: 1000, maxQueued: 2 };

/** Lets the limiter's awaited store calls settle after a clock step. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('MemoryCpsStore token bucket', () => {
  it('allows the burst at once, then the rate, with retryAfter computed from the deficit', () => {
    const store = new MemoryCpsStore();
    assert.deepEqual(
      [0, 0, 0].map(() => store.takeNow([trunk], 0).allowed),
      [true, true, true],
    );
    assert.deepEqual(store.takeNow([trunk], 0), { allowed: false, retryAfterMs: 500, limiting: 0 });
    assert.deepEqual(store.takeNow([trunk], 250), { allowed: false, retryAfterMs: 250, limiting: 0 });
    assert.equal(store.takeNow([trunk], 500).allowed, true);
    assert.equal(store.takeNow([trunk], 500).allowed, false);
  });

  it('refills while idle but never beyond the burst, even after a long forward jump', () => {
    const store = new MemoryCpsStore();
    for (let i = 0; i < 3; i++) store.takeNow([trunk], 0);
    const allowedAfterHour = [1, 2, 3, 4].map(() => store.takeNow([trunk], 3_600_000).allowed);
    assert.deepEqual(allowedAfterHour, [true, true, true, false]);
  });

  it('a clock that jumps backwards refills nothing and refills from the new time on', () => {
    const store = new MemoryCpsStore();
    for (let i = 0; i < 3; i++) store.takeNow([trunk], 10_000);
    assert.equal(store.takeNow([trunk], 5_000).allowed, false);
    assert.equal(store.takeNow([trunk], 5_499).allowed, false);
    assert.equal(store.takeNow([trunk], 5_500).allowed, true);
  });

  it('takes from every bucket or from none', () => {
    const store = new MemoryCpsStore();
    const number = { key: 'number:a:+1555', rate: 1, burst: 1 };
    assert.equal(store.takeNow([trunk, number], 0).allowed, true);
    // The number's bucket is the one that refuses (index 1 of the call's buckets).
    assert.deepEqual(store.takeNow([trunk, number], 0), { allowed: false, retryAfterMs: 1000, limiting: 1 });
    // The trunk bucket was not charged by the refused call: two tokens remain.
    assert.equal(store.takeNow([trunk], 0).allowed, true);
    assert.equal(store.takeNow([trunk], 0).allowed, true);
    assert.equal(store.takeNow([trunk], 0).allowed, false);
  });

  it('bounds its keys, evicting idle (full) buckets first, then the least recently used', async () => {
    const store = new MemoryCpsStore(2);
    store.takeNow([{ key: 'a', rate: 1, burst: 5 }], 0);
    store.takeNow([{ key: 'b', rate: 1, burst: 5 }], 0);
    store.takeNow([{ key: 'c', rate: 1, burst: 5 }], 2000); // a and b are full again: both evicted
    assert.equal(store.size, 1);
    store.takeNow([{ key: 'd', rate: 1, burst: 5 }], 2000);
    store.takeNow([{ key: 'c', rate: 1, burst: 5 }], 2500); // c used again: now d is the oldest
    store.takeNow([{ key: 'e', rate: 1, burst: 5 }], 2500); // nothing idle: d goes
    assert.deepEqual((await store.snapshot(2500)).map((b) => b.key).sort(), ['c', 'e']);
  });

  it('refund gives a token back to each bucket, never past its burst', async () => {
    const store = new MemoryCpsStore();
    const number = { key: 'number:a:1', rate: 1, burst: 1 };
    store.takeNow([trunk, number], 0);
    await store.refund([trunk, number], 0);
    await store.refund([trunk, number], 0);
    assert.deepEqual(
      (await store.snapshot(0)).map((bucket) => bucket.tokens),
      [3, 1],
    );
  });
});

describe('CpsLimiter', () => {
  it('rejects with 503 and Retry-After rounded up to whole seconds', async () => {
    const clock = new FakeClock();
    const limiter = new CpsLimiter(new MemoryCpsStore(), clock);
    const slow = { key: 'route:r', rate: 0.25, burst: 1 };
    assert.equal((await limiter.admit([slow], reject)).action, 'accept');
    assert.deepEqual(await limiter.admit([slow], reject), {
      action: 'reject',
      status: 503,
      retryAfterSec: 4,
      reason: 'cps_limit',
      bucket: 'route:r',
    });
  });

  it('names the bucket that refused, and labels per-number buckets by their trunk', async () => {
    const limiter = new CpsLimiter(new MemoryCpsStore(), new FakeClock());
    const number = { key: 'number:a:+15551230000', rate: 1, burst: 1 };
    const route = { key: 'route:0', rate: 0.5, burst: 2 };
    assert.equal((await limiter.admit([trunk, number, route], reject)).action, 'accept');
    const refused = await limiter.admit([trunk, number, route], reject);
    assert.equal(refused.action === 'reject' && refused.bucket, 'number:a:+15551230000');
    assert.equal(cpsBucketLabel('number:a:+15551230000'), 'number:a');
    assert.equal(cpsBucketLabel('route:0'), 'route:0');
    assert.equal(cpsBucketLabel(undefined), 'store');
  });

  it('reroutes to the overflow target', async () => {
    const limiter = new CpsLimiter(new MemoryCpsStore(), new FakeClock());
    const policy: OverflowPolicy = {
      action: 'reroute',
      queueTimeoutMs: 1,
      maxQueued: 1,
      rerouteTo: 'backup',
    };
    const one = { key: 'k', rate: 1, burst: 1 };
    await limiter.admit([one], policy);
    assert.deepEqual(await limiter.admit([one], policy), { action: 'reroute', target: 'backup' });
  });

  it('queues on the injected clock up to the timeout, bounded by maxQueued', async () => {
    const clock = new FakeClock();
    const limiter = new CpsLimiter(new MemoryCpsStore(), clock);
    const policy: OverflowPolicy = { action: 'queue', queueTimeoutMs: 800, maxQueued: 2 };
    const one = { key: 'k', rate: 2, burst: 1 };
    await limiter.admit([one], policy);
    const outcomes: string[] = [];
    const first = limiter.admit([one], policy).then((a) => outcomes.push(`first:${a.action}`));
    const second = limiter.admit([one], policy).then((a) => outcomes.push(`second:${a.action}`));
    await settle();
    const third = await limiter.admit([one], policy);
    assert.equal(third.action === 'reject' && third.reason, 'queue_full');
    assert.equal(limiter.queueLength, 2);
    clock.advance(500); // one token: the first waiter gets it
    await settle();
    clock.advance(300); // deadline of the second before the next token (at 1000 ms)
    await settle();
    await Promise.all([first, second]);
    assert.deepEqual(outcomes.sort(), ['first:accept', 'second:reject']);
    assert.equal(limiter.queueLength, 0);
  });

  it('a cancelled call leaves its queue at once and takes no token; the next waiter gets it', async () => {
    const clock = new FakeClock();
    const limiter = new CpsLimiter(new MemoryCpsStore(), clock);
    const policy: OverflowPolicy = { action: 'queue', queueTimeoutMs: 5000, maxQueued: 1 };
    const one = { key: 'k', rate: 1, burst: 1 };
    await limiter.admit([one], policy);
    const ended = new AbortController();
    const cancelled = limiter.admit([one], policy, ended.signal);
    await settle();
    assert.equal(limiter.queueLength, 1);
    ended.abort();
    assert.deepEqual(await cancelled, {
      action: 'reject',
      status: 503,
      retryAfterSec: 1,
      reason: 'cancelled',
    });
    assert.equal(limiter.queueLength, 0, 'its place is free for another call');
    const next = limiter.admit([one], policy);
    await settle();
    clock.advance(1000);
    assert.equal((await next).action, 'accept', 'the one token went to the call still waiting');
    assert.equal((await limiter.admit([one], policy, AbortSignal.abort())).action, 'reject');
    clock.advance(1000);
    assert.equal((await limiter.admit([one], policy)).action, 'accept', 'an ended call took no token');
  });

  it('a call that ends while its take is in flight gives the token back: the next call gets it', async () => {
    const clock = new FakeClock();
    const memory = new MemoryCpsStore();
    // Takes at once, as Redis runs the script, and answers when the test says.
    const answers: Array<() => void> = [];
    const store = {
      take: (limits: Parameters<MemoryCpsStore['take']>[0], now: number) => {
        const decision = memory.takeNow(limits, now);
        return new Promise<typeof decision>((resolve) => answers.push(() => resolve(decision)));
      },
      refund: (limits: Parameters<MemoryCpsStore['take']>[0], now: number) => memory.refund(limits, now),
      snapshot: (now: number) => memory.snapshot(now),
    };
    const limiter = new CpsLimiter(store, clock);
    const policy: OverflowPolicy = { action: 'queue', queueTimeoutMs: 5000, maxQueued: 2 };
    const one = { key: 'k', rate: 1, burst: 1 };
    const tokens = async () => (await memory.snapshot(clock.now()))[0]?.tokens;
    const first = new AbortController();
    const admitted = limiter.admit([one], policy, first.signal);
    first.abort(); // the caller hangs up while the first take is in flight
    answers.shift()?.();
    const cancelled = await admitted;
    assert.equal(cancelled.action === 'reject' && cancelled.reason, 'cancelled');
    assert.equal(await tokens(), 1, 'its token is back');
    // A queued call's retry in flight when it ends gives its token back too.
    const held = limiter.admit([one], policy);
    answers.shift()?.();
    assert.equal((await held).action, 'accept');
    const queued = new AbortController();
    const waiting = limiter.admit([one], policy, queued.signal);
    answers.shift()?.(); // refused: queued
    await settle();
    clock.advance(1000); // its retry takes the new token
    queued.abort();
    answers.shift()?.();
    const left = await waiting;
    assert.equal(left.action === 'reject' && left.reason, 'cancelled');
    await settle();
    assert.equal(await tokens(), 1, 'its token is back');
  });

  it('a store answering 0, a negative or NaN ms to wait is asked again after 1 ms, until the deadline', async () => {
    const clock = new FakeClock();
    const waits = [Number.NaN, -9.2e18, 0];
    let takes = 0;
    const store = {
      take: () => Promise.resolve({ allowed: false, retryAfterMs: waits[takes++ % waits.length]! }),
      refund: () => Promise.resolve(),
      snapshot: () => Promise.resolve([]),
    };
    const limiter = new CpsLimiter(store, clock);
    const policy: OverflowPolicy = { action: 'queue', queueTimeoutMs: 10, maxQueued: 1 };
    const waiting = limiter.admit([{ key: 'k', rate: 1, burst: 1 }], policy);
    for (let ms = 0; ms <= 10; ms++) {
      await settle();
      clock.advance(1);
    }
    await settle();
    const outcome = await waiting;
    assert.equal(outcome.action === 'reject' && outcome.reason, 'queue_timeout');
    assert.ok(takes >= 10 && takes <= 12, `one take per ms (got ${takes})`);
  });

  it('bounds each trunk queue separately; a failing store and close() never leave a call waiting', async () => {
    const clock = new FakeClock();
    let failing = false;
    const memory = new MemoryCpsStore();
    const store = {
      take: (limits: Parameters<MemoryCpsStore['take']>[0], now: number) =>
        failing ? Promise.reject(new Error('redis down')) : memory.take(limits, now),
      refund: () => Promise.resolve(),
      snapshot: (now: number) => memory.snapshot(now),
    };
    const limiter = new CpsLimiter(store, clock);
    const policy: OverflowPolicy = { action: 'queue', queueTimeoutMs: 5000, maxQueued: 1 };
    const a = { key: 'trunk:a', rate: 1, burst: 1 };
    const b = { key: 'trunk:b', rate: 0.1, burst: 1 }; // next token in 10 s: sleeps until its deadline
    await limiter.admit([a], policy);
    await limiter.admit([b], policy);
    const waitingA = limiter.admit([a], policy);
    const waitingB = limiter.admit([b], policy);
    await settle();
    assert.equal(limiter.queueLength, 2);
    const full = await limiter.admit([a], policy);
    assert.equal(full.action === 'reject' && full.reason, 'queue_full');
    failing = true;
    clock.advance(1000);
    const failed = await waitingA;
    assert.equal(failed.action === 'reject' && failed.reason, 'store_error');
    limiter.close();
    const closed = await waitingB;
    assert.equal(closed.action === 'reject' && closed.reason, 'queue_timeout');
    assert.equal(limiter.queueLength, 0);
  });

  it('setLimit overrides the configured limit at run time and shows in snapshot()', async () => {
    const clock = new FakeClock();
    const limiter = new CpsLimiter(new MemoryCpsStore(), clock);
    limiter.setLimit('trunk:a', 1, 1);
    assert.equal((await limiter.admit([trunk], reject)).action, 'accept');
    assert.equal((await limiter.admit([trunk], reject)).action, 'reject');
    const snapshot = await limiter.snapshot();
    assert.deepEqual(snapshot.overrides, [{ key: 'trunk:a', rate: 1, burst: 1 }]);
    assert.deepEqual(snapshot.buckets, [{ key: 'trunk:a', rate: 1, burst: 1, tokens: 0 }]);
    assert.throws(() => limiter.setLimit('x', 0, 1), RangeError);
    assert.equal(limiter.clearLimit('trunk:a'), true);
  });
});

describe('callCpsLimits', () => {
  it('combines trunk, per-number and route buckets; the route overflow policy wins', () => {
    const trunk = trunkSchema.parse({
      name: 'a',
      inbound: { allowedCidrs: ['10.0.0.0/8'] },
      cps: { rate: 5, burst: 10, perNumber: { rate: 1, burst: 2 } },
    });
    const gateway = gatewayFileSchema.parse({
      routes: [
        {
          match: '*',
          target: { url: 'builtin:echo' },
          cps: { rate: 3, burst: 3, overflow: { action: 'queue' } },
        },
      ],
    });
    const route = gateway.routes[0]!;
    assert.deepEqual(callCpsLimits(trunk, '+1555', { id: '0', config: route }), {
      limits: [
        { key: 'trunk:a', rate: 5, burst: 10 },
        { key: 'number:a:+1555', rate: 1, burst: 2 },
        { key: 'route:0', rate: 3, burst: 3 },
      ],
      overflow: { action: 'queue', queueTimeoutMs: 2000, maxQueued: 100 },
    });
    assert.equal(callCpsLimits(trunk, '+1555').overflow.action, 'reject');
  });
});
