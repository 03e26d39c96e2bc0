import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisCpsStore } from '../../src/trunks/index.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';

const available = commandAvailable('redis-server');
const skip = skipUnlessPresent(available, 'redis-server not installed');

const port = 20_000 + Math.floor(Math.random() * 20_000);
let server: ChildProcess | undefined;
let redis: Redis | undefined;

before(async () => {
  if (!available) return;
  server = spawn('redis-server', [
    '--port',
    String(port),
    '--save',
    '',
    '--appendonly',
    'no',
    '--bind',
    '127.0.0.1',
  ]);
  redis = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  for (let attempt = 0; attempt < 50 && redis.status !== 'ready'; attempt++)
    await new Promise((resolve) => setTimeout(resolve, 50));
});
after(() => {
  redis?.disconnect();
  server?.kill();
});

test('two stores share one bucket; trunk+number take is all-or-nothing', { skip }, async () => {
  const client = redis!;
  const nodeA = new RedisCpsStore(client, { keyPrefix: 'a:' });
  const nodeB = new RedisCpsStore(client, { keyPrefix: 'a:' });
  const limits = [
    { key: 'trunk', rate: 1, burst: 5 },
    { key: 'number', rate: 1, burst: 100 },
  ];
  const results: boolean[] = [];
  for (let i = 0; i < 8; i++) results.push((await (i % 2 ? nodeA : nodeB).take(limits, 0)).allowed);
  assert.equal(results.filter(Boolean).length, 5);
  assert.ok(Number(await client.hget('a:number', 'tokens')) < 96);
  const changed = await nodeA.take([{ key: 'trunk', rate: 1, burst: 1000 }], 0);
  assert.equal(changed.allowed, false, 'burst raise does not mint tokens already spent');
});

test('Redis down: failClosed rejects with 1 s retry, failOpen allows and counts', {
  skip,
}, async () => {
  const dead = new Redis({ port: 1, host: '127.0.0.1', maxRetriesPerRequest: 0, lazyConnect: true });
  const closed = new RedisCpsStore(dead, { failurePolicy: 'failClosed', commandTimeoutMs: 100 });
  const open = new RedisCpsStore(dead, { failurePolicy: 'failOpen', commandTimeoutMs: 100 });
  assert.deepEqual(await closed.take([{ key: 'k', rate: 1, burst: 1 }], 0), {
    allowed: false,
    retryAfterMs: 1000,
  });
  assert.equal((await open.take([{ key: 'k', rate: 1, burst: 1 }], 0)).allowed, true);
  assert.equal(open.failures, 1);
  dead.disconnect();
});
