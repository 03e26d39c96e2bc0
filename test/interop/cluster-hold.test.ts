/**
 * A carrier's 503 with Retry-After (RFC 3261 §21.5.4) held cluster-wide, against a real
 * redis-server: the node that got it shares the hold, the other nodes' routers skip the target
 * until it ends on Redis's clock, and while Redis is away each node keeps its own holds.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { Cluster, RedisLink } from '../../src/cluster/index.js';
import { keys } from '../../src/cluster/scripts.js';
import { gatewayFileSchema, makeSnapshot, type PatchbayConfig, trunkSchema } from '../../src/config/index.js';
import { HealthRegistry, OutboundRouter } from '../../src/trunks/index.js';
import { SystemClock, silentLogger } from '../../src/util/index.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { fakeLocator } from '../trunks/helpers/fake-dns.js';
import { RedisServer } from './helpers/redis-server.js';
import { freePort } from './helpers/sipp.js';
import { waitFor } from './helpers/wait-for.js';

const skip = skipUnlessPresent(commandAvailable('redis-server'), 'redis-server not installed');

let server: RedisServer | undefined;
const stops: Array<() => Promise<void>> = [];

before(async () => {
  if (skip) return;
  server = new RedisServer(await freePort());
  await server.start();
});
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});
after(async () => {
  await server?.stop();
});

function config(trunkName: string): PatchbayConfig {
  const trunk = trunkSchema.parse({
    name: trunkName,
    outbound: {
      gateways: [
        { name: 'a', host: '192.0.2.1', priority: 1 },
        { name: 'b', host: '192.0.2.2', priority: 2 },
      ],
    },
  });
  return makeSnapshot(gatewayFileSchema.parse({}), [trunk]);
}

interface Node {
  cluster: Cluster;
  health: HealthRegistry;
  /** The gateway ids the node's router would try now, in order. */
  order(): string[];
}

async function startNode(name: string, trunkName: string): Promise<Node> {
  const clock = new SystemClock();
  const url = `redis://127.0.0.1:${server!.port}`;
  const link = RedisLink.connect(url);
  const health = new HealthRegistry(clock, fakeLocator(clock));
  const snapshot = config(trunkName);
  health.apply(snapshot);
  const cluster = new Cluster({
    config: { redis: url, leaseTtlMs: 1000, heartbeatMs: 200, localCpsShare: 'divide' },
    nodeId: name,
    apiUrl: 'http://127.0.0.1:1',
    apiToken: undefined,
    clock,
    logger: silentLogger,
    health,
    load: () => ({ calls: 0, maxCalls: 10, draining: false }),
    link,
  });
  stops.push(async () => {
    await cluster.leave();
    cluster.close();
    health.close();
  });
  await waitFor(() => link.up, 'redis link up');
  await cluster.heartbeat();
  const router = new OutboundRouter(health, fakeLocator(clock), clock, () => 0);
  const trunk = snapshot.trunks.get(trunkName) ?? assert.fail('trunk');
  return { cluster, health, order: () => router.order(trunk).map((candidate) => candidate.gatewayId) };
}

test('node B skips the target node A got a 503 with Retry-After from, until the hold ends', {
  skip,
}, async () => {
  const a = await startNode('hold-a', 'hold');
  const b = await startNode('hold-b', 'hold');
  assert.deepEqual(b.order(), ['hold/a', 'hold/b']);

  const heldAt = Date.now();
  a.health.get('hold/a')?.holdOff(1500);
  // Written at once, not at A's next heartbeat.
  await waitFor(async () => (await withRedis((redis) => redis.exists(keys.hold('hold/a')))) === 1, 'hold');
  await b.cluster.heartbeat();
  assert.deepEqual(b.order(), ['hold/b'], 'B never got the 503, yet skips the target');
  const held = b.health.snapshot().find((target) => target.gatewayId === 'hold/a'); // GET /v1/trunks
  assert.equal(held?.available, false);
  assert.ok(held && held.retryAfterMs > 1000 && held.retryAfterMs <= 1500, `${held?.retryAfterMs} ms left`);
  const pttl = await withRedis((redis) => redis.pttl(keys.hold('hold/a')));
  assert.ok(pttl > 1000 && pttl <= 1500, `the key lives as long as the hold (${pttl} ms)`);

  await waitFor(() => b.order().length === 2, 'the hold ends on B', 3000);
  const endedAfterMs = Date.now() - heldAt;
  assert.ok(endedAfterMs >= 1400, `not before its end (${endedAfterMs} ms)`);
  await b.cluster.heartbeat();
  assert.deepEqual(b.order(), ['hold/a', 'hold/b'], 'a heartbeat after the end holds nothing');
  assert.equal(await withRedis((redis) => redis.exists(keys.hold('hold/a'))), 0, 'the key expired');
});

test('a Retry-After beyond 5 minutes is held 5 minutes cluster-wide', { skip }, async () => {
  const a = await startNode('cap-a', 'cap');
  const b = await startNode('cap-b', 'cap');
  a.health.get('cap/a')?.holdOff(3_600_000);
  await a.cluster.heartbeat();
  await b.cluster.heartbeat();
  const left = b.health.get('cap/a')?.snapshot().retryAfterMs ?? 0;
  assert.ok(left > 290_000 && left <= 300_000, `${left} ms`);
  const pttl = await withRedis((redis) => redis.pttl(keys.hold('cap/a')));
  assert.ok(pttl > 290_000 && pttl <= 300_000, `${pttl} ms`);
});

test('a hold key no node wrote (no expiry, or beyond 5 minutes) never holds a target past 5 minutes', {
  skip,
}, async () => {
  await withRedis(async (redis) => {
    await redis.set(keys.hold('foreign/a'), 'x');
    await redis.set(keys.hold('foreign/b'), 'x', 'PX', 86_400_000);
  });
  const b = await startNode('foreign-b', 'foreign');
  await b.cluster.heartbeat();
  assert.deepEqual(b.order(), ['foreign/a'], 'a key without expiry is dropped; the other is capped');
  const left = b.health.get('foreign/b')?.snapshot().retryAfterMs ?? 0;
  assert.ok(left > 290_000 && left <= 300_000, `${left} ms`);
  assert.equal(await withRedis((redis) => redis.exists(keys.hold('foreign/a'))), 0);
  const pttl = await withRedis((redis) => redis.pttl(keys.hold('foreign/b')));
  assert.ok(pttl > 290_000 && pttl <= 300_000, `${pttl} ms`);
});

test('Redis away: A holds the target on its own, and shares what is left once Redis is back', {
  skip,
}, async () => {
  const a = await startNode('outage-a', 'outage');
  const b = await startNode('outage-b', 'outage');
  await server!.kill();
  await waitFor(() => !a.cluster.redisUp && !b.cluster.redisUp, 'links down');
  const started = Date.now();
  a.health.get('outage/a')?.holdOff(30_000);
  await a.cluster.heartbeat();
  await b.cluster.heartbeat();
  assert.ok(Date.now() - started < 100, 'nothing waits on Redis');
  assert.deepEqual(a.order(), ['outage/b'], 'A holds the target alone');
  assert.deepEqual(b.order(), ['outage/a', 'outage/b'], 'B could not know');

  await server!.start();
  await waitFor(() => a.cluster.redisUp && b.cluster.redisUp, 'links up again', 10_000);
  await a.cluster.heartbeat();
  await b.cluster.heartbeat();
  assert.deepEqual(b.order(), ['outage/b'], 'A shared the rest of its hold');
  const left = b.health.get('outage/a')?.snapshot().retryAfterMs ?? 0;
  assert.ok(left > 25_000 && left <= 30_000, `${left} ms left`);
});

async function withRedis<T>(use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(server!.port, '127.0.0.1');
  try {
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}
