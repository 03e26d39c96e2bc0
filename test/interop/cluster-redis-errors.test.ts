/**
 * Scripts that fail while the cluster's Redis stays connected (an error reply, a missed
 * deadline), against a real redis-server: counted by kind, logged once per streak and once on
 * recovery, exported as patchbay_cluster_redis_errors_total, and the node decides locally.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { Cluster, RedisLink } from '../../src/cluster/index.js';
import { GatewayMetrics } from '../../src/control/metrics.js';
import { SystemClock, silentLogger } from '../../src/util/index.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { noSharedHealth } from './helpers/no-shared-health.js';
import { RedisServer } from './helpers/redis-server.js';
import { freePort } from './helpers/sipp.js';

const skip = skipUnlessPresent(commandAvailable('redis-server'), 'redis-server not installed');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let server: RedisServer | undefined;

before(async () => {
  if (skip) return;
  server = new RedisServer(await freePort());
  await server.start();
});
after(async () => {
  await server?.stop();
});

test('error replies and timeouts while connected are counted, logged once per streak, and exported', {
  skip,
}, async () => {
  const url = `redis://127.0.0.1:${server!.port}`;
  let nowMs = 0;
  const link = RedisLink.connect(url, { commandTimeoutMs: 200, now: () => nowMs });
  const lines: Array<[level: string, msg: string | undefined, fields: { kind?: string }]> = [];
  const kindOf = (line: (typeof lines)[number] | undefined) => line?.[2].kind;
  const logger = {
    ...silentLogger,
    info: (fields: object, msg?: string) => lines.push(['info', msg, fields]),
    warn: (fields: object, msg?: string) => lines.push(['warn', msg, fields]),
  };
  const cluster = new Cluster({
    config: { redis: url, leaseTtlMs: 1000, heartbeatMs: 60_000, localCpsShare: 'full' },
    nodeId: 'errors-a',
    apiUrl: 'http://127.0.0.1:1',
    apiToken: undefined,
    clock: new SystemClock(),
    logger,
    health: noSharedHealth,
    load: () => ({ calls: 0, maxCalls: 10, draining: false }),
    link,
  });
  const metrics = new GatewayMetrics({ processMetrics: false, cluster });
  const direct = new Redis(server!.port, '127.0.0.1');
  const exported = async () =>
    Object.fromEntries(
      (await metrics.clusterRedisErrorsTotal!.get()).values.map(({ labels, value }) => [labels.kind, value]),
    );
  try {
    for (let i = 0; i < 50 && !link.up; i++) await sleep(20);
    assert.deepEqual(await exported(), { disconnected: 0, timeout: 0, script_error: 0 }, 'every kind, at 0');
    // Another program's string where a bucket hash goes: WRONGTYPE on every take of that key.
    await direct.set('{patchbay}:cps:trunk:bad', 'not a hash');
    const bad = [{ key: 'trunk:bad', rate: 1, burst: 5 }];
    for (let i = 0; i < 3; i++) assert.equal((await cluster.cps.take(bad, 0)).allowed, true, 'local bucket');
    const good = [{ key: 'trunk:good', rate: 1, burst: 5 }];
    assert.equal((await cluster.cps.take(good, 0)).allowed, true);
    assert.equal(cluster.redisUp, true, 'connected all along');
    assert.deepEqual(link.errors, { disconnected: 0, timeout: 0, script_error: 3 });
    const warned = lines.filter(([level]) => level === 'warn');
    assert.equal(warned.length, 1, 'one line for the streak, not one per failure');
    assert.equal(warned[0]?.[1], 'redis scripts failing: deciding on local state');
    assert.equal(kindOf(warned[0]), 'script_error');
    assert.equal(lines.length, 1, 'a success right after a failure does not end the streak yet');

    nowMs += 10_000;
    await cluster.cps.take(good, 0);
    assert.deepEqual(lines.at(-1), ['info', 'redis scripts answering again', { failures: 3 }]);

    // A Redis that does not answer within the deadline.
    await direct.client('PAUSE', 400, 'ALL');
    assert.equal((await cluster.cps.take(good, 0)).allowed, true, 'decided locally after the deadline');
    assert.equal(link.errors.timeout, 1);
    assert.equal(kindOf(lines.at(-1)), 'timeout', 'a new streak, said once');
    assert.deepEqual(await exported(), { disconnected: 0, timeout: 1, script_error: 3 });
  } finally {
    await sleep(400);
    direct.disconnect();
    cluster.close();
  }
});
