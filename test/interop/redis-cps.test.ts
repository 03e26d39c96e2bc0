import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis, type RedisOptions } from 'ioredis';
import { RedisCpsStore, RedisLink } from '../../src/cluster/index.js';
import {
  type Admission,
  type CpsKeyLimit,
  CpsLimiter,
  cpsKeys,
  MemoryCpsStore,
  type OverflowPolicy,
} from '../../src/trunks/index.js';
import { FakeClock, SystemClock } from '../../src/util/index.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { callGateway, startGatewayProcess } from './helpers/gateway-process.js';
import { RedisServer } from './helpers/redis-server.js';
import { freePort } from './helpers/sipp.js';

const available = commandAvailable('redis-server');
const skip = skipUnlessPresent(available, 'redis-server not installed');
const reject: OverflowPolicy = { action: 'reject', queueTimeoutMs: 0, maxQueued: 0 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Short timeouts and a fast fixed reconnect so the outage test stays quick. */
function client(port: number, options: RedisOptions = {}): Redis {
  const redis = new Redis({
    port,
    host: '127.0.0.1',
    connectTimeout: 200,
    commandTimeout: 200,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 50,
    ...options,
  });
  // Connection errors while Redis is down are expected; the store applies its policy.
  redis.on('error', () => undefined);
  return redis;
}

async function ready(redis: Redis, withinMs = 3000): Promise<void> {
  for (let waited = 0; redis.status !== 'ready'; waited += 20) {
    if (waited > withinMs) throw new Error(`redis client still ${redis.status}`);
    await sleep(20);
  }
}

let server: RedisServer | undefined;
let redis: Redis | undefined;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

before(async () => {
  process.on('unhandledRejection', onUnhandled);
  if (!available) return;
  server = new RedisServer(await freePort());
  await server.start();
  redis = client(server.port);
  await ready(redis);
});
after(async () => {
  process.off('unhandledRejection', onUnhandled);
  redis?.disconnect();
  await server?.stop();
});

test('two stores share one bucket; trunk+number take is all-or-nothing', { skip }, async () => {
  const shared = redis!;
  const nodeA = new RedisCpsStore(new RedisLink(shared), { keyPrefix: 'a:' });
  const nodeB = new RedisCpsStore(new RedisLink(shared), { keyPrefix: 'a:' });
  const limits = [
    { key: 'trunk', rate: 1, burst: 5 },
    { key: 'number', rate: 1, burst: 100 },
  ];
  const results: boolean[] = [];
  for (let i = 0; i < 8; i++) results.push((await (i % 2 ? nodeA : nodeB).take(limits, 0)).allowed);
  assert.equal(results.filter(Boolean).length, 5);
  assert.ok(Number(await shared.hget('a:number', 'tokens')) < 96);
  const refused = await nodeA.take(limits, 0);
  assert.equal(refused.limiting, 0, 'the trunk bucket, first of the call, is the one that refuses');
  const byNumber = [
    { key: 'other-trunk', rate: 1, burst: 5 },
    { key: 'n1', rate: 0.001, burst: 1 },
  ];
  assert.equal((await nodeA.take(byNumber, 0)).allowed, true);
  const numberOnly = await nodeA.take(byNumber, 0);
  assert.deepEqual([numberOnly.allowed, numberOnly.limiting], [false, 1]);
  const changed = await nodeA.take([{ key: 'trunk', rate: 1, burst: 1000 }], 0);
  assert.equal(changed.allowed, false, 'burst raise does not mint tokens already spent');
});

test('snapshot reports the shared Redis buckets this node used', { skip }, async () => {
  const nodeA = new RedisCpsStore(new RedisLink(redis!), { keyPrefix: 'snap:', maxSnapshotKeys: 2 });
  const nodeB = new RedisCpsStore(new RedisLink(redis!), { keyPrefix: 'snap:' });
  assert.deepEqual(await nodeA.snapshot(0), []);
  const limit = { key: 'trunk', rate: 0.001, burst: 10 };
  for (let i = 0; i < 3; i++) await nodeA.take([limit], 0);
  for (let i = 0; i < 4; i++) await nodeB.take([limit], 0);
  const [bucket] = await nodeA.snapshot(0);
  assert.equal(bucket?.key, 'trunk');
  assert.ok(bucket.tokens >= 3 && bucket.tokens < 3.01, `10 - 7 takes from two nodes, got ${bucket.tokens}`);
  await nodeA.take([{ key: 'b', rate: 1, burst: 1 }], 0);
  await nodeA.take([{ key: 'c', rate: 1, burst: 1 }], 0);
  const keys = (await nodeA.snapshot(0)).map((b) => b.key);
  assert.deepEqual(keys, ['b', 'c'], 'bounded: the oldest key is dropped');
});

test('a foreign token count (-inf, -1e400, nan, far below empty, above burst) reads as a full bucket', {
  skip,
}, async () => {
  const store = new RedisCpsStore(new RedisLink(redis!), { keyPrefix: 'foreign:' });
  const limit = { key: 'trunk', rate: 0.001, burst: 2 };
  await store.take([limit], 0); // snapshot() lists the keys this node used
  for (const tokens of ['-inf', '-1e400', 'nan', '-1e300', '-3', 'inf', '1e9']) {
    await redis!.hset('foreign:trunk', 'tokens', tokens, 'last', '0');
    assert.equal((await store.snapshot(0))[0]?.tokens, 2, `snapshot of ${tokens}`);
    const takes = [];
    for (let i = 0; i < 3; i++) takes.push((await store.take([limit], 0)).allowed);
    assert.deepEqual(takes, [true, true, false], `tokens ${tokens}: the burst, then refused`);
  }
  // Within -burst it is debt, as written: no token until it refills (2 s at 1 a second, less
  // what passed since the write, however loaded the machine).
  await redis!.hset('foreign:trunk', 'tokens', '-1', 'last', String(Date.now()));
  const refused = await store.take([{ key: 'trunk', rate: 1, burst: 2 }], 0);
  assert.ok(
    !refused.allowed && refused.retryAfterMs >= 1000 && refused.retryAfterMs <= 2001,
    JSON.stringify(refused),
  );
});

test('a call that ends while its take is in flight gives the token back to the shared bucket, never past burst', {
  skip,
}, async () => {
  const clock = new FakeClock();
  const store = new RedisCpsStore(new RedisLink(redis!), { keyPrefix: 'refund:' });
  const other = new CpsLimiter(new RedisCpsStore(new RedisLink(redis!), { keyPrefix: 'refund:' }), clock);
  const limits = [{ key: 'trunk', rate: 0.001, burst: 1 }];
  const queue: OverflowPolicy = { action: 'queue', queueTimeoutMs: 5000, maxQueued: 1 };
  const ended = new AbortController();
  const admitted = new CpsLimiter(store, clock).admit(limits, queue, ended.signal);
  ended.abort(); // the take is on its way to Redis, which runs it
  const cancelled = await admitted;
  assert.equal(cancelled.action === 'reject' && cancelled.reason, 'cancelled');
  assert.equal((await other.admit(limits, reject)).action, 'accept', "another node's call gets the token");
  assert.equal((await other.admit(limits, reject)).action, 'reject', 'one token, taken');
  for (let i = 0; i < 3; i++) await store.refund(limits, 0);
  assert.equal((await store.snapshot(0))[0]?.tokens, 1, 'capped at the burst');
});

test('two limiters on one Redis at 3x the rate for 3 s admit burst + 3 x rate (±5%)', { skip }, async () => {
  const rate = 100;
  const burst = 50;
  const durationMs = 3000;
  const limits: CpsKeyLimit[] = [{ key: 'trunk:carrier', rate, burst }];
  const clock = new SystemClock();
  // Two nodes: separate connections, stores and limiters, one shared key.
  const clients = [client(server!.port), client(server!.port)];
  await Promise.all(clients.map((c) => ready(c)));
  const nodes = clients.map(
    (c) =>
      new CpsLimiter(
        new RedisCpsStore(new RedisLink(c, { commandTimeoutMs: 500 }), { keyPrefix: 'load:' }),
        clock,
      ),
  );
  const admitted = [0, 0];
  const rejected = [0, 0];
  const pending: Promise<void>[] = [];
  const offer = (node: number) =>
    nodes[node]!.admit(limits, reject).then((admission: Admission) => {
      if (admission.action === 'accept') admitted[node]! += 1;
      else if (admission.action === 'reject' && admission.reason === 'cps_limit') rejected[node]! += 1;
    });
  // Each node offers 3 x rate per second, paced on the real clock in 5 ms ticks.
  const perNodeRate = 3 * rate;
  const start = clock.now();
  let offered = 0;
  for (let elapsed = 0; elapsed < durationMs; elapsed = clock.now() - start) {
    const due = Math.floor((elapsed * perNodeRate) / 1000);
    for (; offered < due; offered++) pending.push(offer(0), offer(1));
    await sleep(5);
  }
  await Promise.all(pending);
  for (const c of clients) c.disconnect();
  const total = admitted[0]! + admitted[1]!;
  const expected = burst + (rate * durationMs) / 1000;
  assert.ok(offered >= perNodeRate * 3 * 0.95, `offered ${offered} per node`);
  assert.ok(Math.abs(total - expected) <= expected * 0.05, `admitted ${total}, expected ${expected} ±5%`);
  assert.ok(admitted[0]! > 0 && admitted[1]! > 0, `both nodes admit: ${admitted.join('/')}`);
  assert.equal(total + rejected[0]! + rejected[1]!, 2 * offered, 'every offer decided, none by failure');
});

test('Redis killed mid-run: failOpen admits (local fallback), failClosed rejects; limits return after restart', {
  skip,
}, async () => {
  const limits: CpsKeyLimit[] = [{ key: 'trunk:carrier', rate: 0.1, burst: 3 }];
  const clock = new FakeClock();
  const c = client(server!.port);
  await ready(c);
  const link = new RedisLink(c, { commandTimeoutMs: 200 });
  const open = new RedisCpsStore(link, { keyPrefix: 'open:', failurePolicy: 'failOpen' });
  const fallbackStore = new RedisCpsStore(link, {
    keyPrefix: 'fallback:',
    failurePolicy: 'failOpen',
    localFallback: new MemoryCpsStore(),
  });
  const closed = new RedisCpsStore(link, { keyPrefix: 'closed:', failurePolicy: 'failClosed' });
  const stores = { open, fallbackStore, closed };
  const limiters = Object.fromEntries(
    Object.entries(stores).map(([name, store]) => [name, new CpsLimiter(store, clock)]),
  ) as Record<keyof typeof stores, CpsLimiter>;
  const run = async (limiter: CpsLimiter, calls: number) => {
    const admissions: Admission[] = [];
    for (let i = 0; i < calls; i++) admissions.push(await limiter.admit(limits, reject));
    return admissions;
  };
  const accepted = (admissions: Admission[]) => admissions.filter((a) => a.action === 'accept').length;

  // Redis up: every limiter enforces the shared bucket (burst 3).
  for (const limiter of Object.values(limiters)) assert.equal(accepted(await run(limiter, 6)), 3);

  // Crash mid-run, with takes in flight.
  const inFlight = [limiters.open, limiters.fallbackStore, limiters.closed].map((limiter) => run(limiter, 5));
  await server!.kill();
  const [, fallbackInFlight] = await Promise.all(inFlight);
  const started = performance.now();
  const down = {
    open: await run(limiters.open, 20),
    fallback: await run(limiters.fallbackStore, 20),
    closed: await run(limiters.closed, 20),
  };
  const elapsed = performance.now() - started;
  assert.equal(accepted(down.open), 20, 'failOpen without fallback admits everything');
  // The Redis bucket was empty, so only the local bucket admits: its burst, once, across both runs.
  assert.equal(
    accepted(fallbackInFlight ?? []) + accepted(down.fallback),
    3,
    'failOpen with a local bucket still limits on this node',
  );
  assert.equal(accepted(down.closed), 0, 'failClosed rejects');
  assert.deepEqual(down.closed[0], { action: 'reject', status: 503, retryAfterSec: 1, reason: 'cps_limit' });
  assert.ok(elapsed < 1000, `60 decisions while down took ${elapsed.toFixed(0)} ms: no waiting on timeouts`);
  const failed = () => Object.values(link.errors).reduce((sum, count) => sum + count, 0);
  assert.ok(
    link.errors.disconnected >= 60,
    `every decision while down counted (${link.errors.disconnected})`,
  );
  await assert.rejects(open.snapshot(0), /redis/, 'snapshot does not invent state');

  // Same port, fresh (empty) server: clients reconnect and the shared bucket applies again.
  await server!.start();
  await ready(c);
  const failuresBefore = failed();
  for (const limiter of Object.values(limiters)) assert.equal(accepted(await run(limiter, 6)), 3);
  assert.equal(failed(), failuresBefore, 'decided by Redis again');
  assert.equal(Number(await c.hget('closed:trunk:carrier', 'tokens')) < 1, true);
  c.disconnect();
  assert.deepEqual(unhandled, [], 'no unhandled rejections');
});

test('never-connected client (lazyConnect, nothing listening): policy decides at once', async () => {
  const dead = client(await freePort(), { lazyConnect: true });
  const link = new RedisLink(dead);
  const closed = new RedisCpsStore(link, { failurePolicy: 'failClosed' });
  const open = new RedisCpsStore(link, { failurePolicy: 'failOpen' });
  const limits = [{ key: 'k', rate: 1, burst: 1 }];
  assert.deepEqual(await closed.take(limits, 0), { allowed: false, retryAfterMs: 1000 });
  assert.equal((await open.take(limits, 0)).allowed, true);
  assert.deepEqual(link.errors, { disconnected: 2, timeout: 0, script_error: 0 });
  dead.disconnect();
});

test('patchbay start with cluster.redis takes its trunk CPS tokens from the shared Redis', {
  skip,
}, async () => {
  const key = `{patchbay}:cps:${cpsKeys.trunk('local')}`;
  const gateway = await startGatewayProcess({
    botUrl: 'builtin:echo',
    cps: { rate: 1, burst: 5 },
    extraGatewayYaml: `cluster:\n  redis: redis://127.0.0.1:${server!.port}\n`,
  });
  try {
    const first = await callGateway(gateway, { scenario: 'uac', calls: 1, timeoutMs: 20_000 });
    assert.equal((await first.result).successfulCalls, 1, 'a call while Redis has tokens');
    assert.ok(Number(await redis!.hget(key, 'tokens')) < 5, 'the call took its token from Redis');
    // Another node spent the bucket: no refill until a time far ahead (the script's `last`).
    await redis!.hset(key, 'tokens', '0', 'last', String(Number.MAX_SAFE_INTEGER));
    const second = await callGateway(gateway, { scenario: 'uac', calls: 1, timeoutMs: 20_000 });
    const refused = await second.result;
    assert.equal(refused.successfulCalls, 0, 'refused while the shared bucket is empty');
    await waitFor(() =>
      gateway.records().some((record) => (record['end'] as { cause?: string }).cause === 'rejected_cps'),
    );
  } finally {
    await gateway.stop();
  }
});

async function waitFor(done: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 100 && !done(); attempt++) await sleep(50);
  assert.ok(done(), 'condition reached within 5 s');
}
