import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { after, afterEach, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { Cluster, type ClusterSlot, type LeaseRequest, RedisLink } from '../../src/cluster/index.js';
import { keys } from '../../src/cluster/scripts.js';
import type { ClusterConfig } from '../../src/config/index.js';
import type { CallSummary } from '../../src/control/index.js';
import { emptyWindowTotals, type WindowTotals } from '../../src/trunks/index.js';
import { SystemClock, silentLogger } from '../../src/util/index.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { RedisServer } from './helpers/redis-server.js';
import { freePort } from './helpers/sipp.js';
import { waitFor } from './helpers/wait-for.js';

const skip = skipUnlessPresent(commandAvailable('redis-server'), 'redis-server not installed');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const LEASE_TTL_MS = 1000;
const HEARTBEAT_MS = 200;

let server: RedisServer | undefined;
const nodes: Cluster[] = [];

before(async () => {
  if (skip) return;
  server = new RedisServer(await freePort());
  await server.start();
});
afterEach(async () => {
  for (const node of nodes.splice(0)) {
    await node.leave();
    node.close();
  }
});
after(async () => {
  await server?.stop();
});

class FakeHealth {
  peers = new Map<string, readonly WindowTotals[]>();
  constructor(
    readonly gatewayId: string,
    readonly own: WindowTotals,
  ) {}
  ownTotals() {
    return [{ gatewayId: this.gatewayId, totals: this.own, holdMs: 0 }];
  }
  setPeerTotals(gatewayId: string, totals: readonly WindowTotals[]) {
    this.peers.set(gatewayId, totals);
  }
  setSharedHold() {}
  on() {}
  off() {}
}

function totals(seized: number): WindowTotals {
  return { ...emptyWindowTotals(), seized, answered: seized, completed: seized };
}

async function startNode(
  name: string,
  options: { apiUrl?: string; maxCalls?: number; gatewayId?: string; seized?: number } = {},
): Promise<{ node: Cluster; health: FakeHealth }> {
  const config: ClusterConfig = {
    redis: `redis://127.0.0.1:${server!.port}`,
    leaseTtlMs: LEASE_TTL_MS,
    heartbeatMs: HEARTBEAT_MS,
    localCpsShare: 'divide',
    ...(options.maxCalls ? { maxCalls: options.maxCalls } : {}),
  };
  const link = RedisLink.connect(config.redis);
  const health = new FakeHealth(options.gatewayId ?? 'carrier/gw1', totals(options.seized ?? 0));
  const node = new Cluster({
    config,
    nodeId: name,
    apiUrl: options.apiUrl ?? 'http://127.0.0.1:1',
    apiToken: 'cluster-test-token-0123456789',
    clock: new SystemClock(),
    logger: silentLogger,
    health,
    load: () => ({ calls: node.leases.size, maxCalls: 100, draining: false }),
    link,
  });
  nodes.push(node);
  await waitFor(() => link.up, 'redis link up');
  node.start();
  await node.heartbeat();
  return { node, health };
}

let callCounter = 0;
function request(trunk: string, trunkMax: number): LeaseRequest {
  const id = `call-${++callCounter}`;
  const summary: CallSummary = {
    id,
    direction: 'inbound',
    state: 'answered',
    from: '100',
    to: '200',
    trunk,
    startedAt: new Date().toISOString(),
  };
  return { callId: id, trunk, trunkMax, summary: () => summary };
}

const granted = (slots: ClusterSlot[]) => slots.filter((slot) => slot.ok).length;

test('two nodes share a trunk cap and a cluster cap; a release frees the slot', { skip }, async () => {
  const { node: a } = await startNode('share-a', { maxCalls: 5 });
  const { node: b } = await startNode('share-b', { maxCalls: 5 });
  assert.equal(a.liveNodes >= 2 || b.liveNodes >= 2, true, 'both nodes counted');
  const slots: ClusterSlot[] = [];
  for (let i = 0; i < 6; i++) slots.push(await (i % 2 ? a : b).leases.acquire(request('share', 3)));
  assert.equal(granted(slots), 3, 'the trunk cap holds across both nodes');
  assert.deepEqual(slots[5], { ok: false, scope: 'trunk' });
  const other: ClusterSlot[] = [];
  for (let i = 0; i < 4; i++) other.push(await a.leases.acquire(request('share-other', 10)));
  assert.equal(granted(other), 2, 'the cluster cap (5) counts every trunk');
  assert.deepEqual(other[3], { ok: false, scope: 'cluster' });
  const first = slots[0];
  assert.ok(first?.ok);
  first.release();
  await waitFor(async () => (await b.leases.acquire(request('share', 3))).ok, 'slot freed by release');
  for (const slot of [...slots, ...other]) if (slot.ok) slot.release();
});

test('a dead node frees its slots within the lease TTL', { skip }, async () => {
  const { node: dead } = await startNode('dead-a');
  const { node: survivor } = await startNode('dead-b');
  for (let i = 0; i < 2; i++) assert.ok((await dead.leases.acquire(request('dead', 2))).ok);
  assert.equal((await survivor.leases.acquire(request('dead', 2))).ok, false, 'full while the node lives');
  dead.close(); // no release, no leave: as kill -9 would
  const diedAt = Date.now();
  await waitFor(async () => (await survivor.leases.acquire(request('dead', 2))).ok, 'slot freed', 3000);
  const freedAfterMs = Date.now() - diedAt;
  assert.ok(freedAfterMs <= LEASE_TTL_MS + HEARTBEAT_MS + 200, `freed after ${freedAfterMs} ms`);
  await waitFor(async () => {
    await survivor.heartbeat();
    return survivor.liveNodes === 1;
  }, 'dead node no longer counted');
});

test('the registry lists every node’s calls and names the owner; forwarding carries the token', {
  skip,
}, async () => {
  const seen: Array<{ method: string; url: string; auth: string; forwardedBy: string; body: string }> = [];
  const api = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        auth: req.headers.authorization ?? '',
        forwardedBy: String(req.headers['x-patchbay-forwarded-by']),
        body,
      });
      res.statusCode = 204;
      res.end();
    });
  }).listen(0, '127.0.0.1');
  await once(api, 'listening');
  const address = api.address();
  assert.ok(address && typeof address === 'object');
  try {
    const { node: owner } = await startNode('reg-a', { apiUrl: `http://127.0.0.1:${address.port}` });
    const { node: other } = await startNode('reg-b');
    const call = request('registry', 10);
    const slot = await owner.leases.acquire(call);
    assert.ok(slot.ok);
    const listed = await other.calls.list();
    const entry = listed.find((item) => item.call.id === call.callId);
    assert.equal(entry?.node, 'reg-a');
    const found = await other.calls.owner(call.callId);
    assert.deepEqual(found, { node: 'reg-a', apiUrl: `http://127.0.0.1:${address.port}` });
    const answer = await other.calls.forward(found, 'POST', `/v1/calls/${call.callId}/dtmf`, { digits: '1' });
    assert.deepEqual(answer, { ok: true, status: 204, body: undefined });
    assert.deepEqual(seen[0], {
      method: 'POST',
      url: `/v1/calls/${call.callId}/dtmf`,
      auth: 'Bearer cluster-test-token-0123456789',
      forwardedBy: 'reg-b',
      body: '{"digits":"1"}',
    });
    slot.release();
    await waitFor(async () => (await other.calls.owner(call.callId)) === undefined, 'entry removed');
    await owner.leave();
    const unreachable = await other.calls.forward(
      { node: 'gone', apiUrl: `http://127.0.0.1:${await freePort()}` },
      'DELETE',
      '/v1/calls/x',
    );
    assert.equal(unreachable.ok, false);
  } finally {
    api.close();
  }
});

test('a call taken over keeps its id: the old owner neither renews nor releases the new owner’s lease', {
  skip,
}, async () => {
  const { node: old } = await startNode('over-a', { apiUrl: 'http://127.0.0.1:2' });
  const { node: taker } = await startNode('over-b', { apiUrl: 'http://127.0.0.1:3' });
  const call = request('over', 1);
  const oldSlot = await old.leases.acquire(call);
  assert.ok(oldSlot.ok);
  // A resumed call takes its lease under the same call id.
  const takenSlot = await taker.leases.acquire({ ...call });
  assert.ok(takenSlot.ok, 'the trunk lease of the same call is the new owner’s, not a second one');
  await old.heartbeat();
  assert.equal((await taker.calls.owner(call.callId))?.node, 'over-b', 'the old heartbeat left it');
  assert.equal(old.leases.size, 0, 'the old node stops renewing it');
  oldSlot.release();
  await sleep(50);
  await old.heartbeat();
  assert.deepEqual(await old.calls.owner(call.callId), { node: 'over-b', apiUrl: 'http://127.0.0.1:3' });
  assert.equal((await old.leases.acquire(request('over', 1))).ok, false, 'the trunk slot is still held');
  takenSlot.release();
  await waitFor(async () => (await old.calls.owner(call.callId)) === undefined, 'released by its owner');
});

test('a corrupt or foreign registry entry reads as no owner, not as Redis unreachable', {
  skip,
}, async () => {
  const { node } = await startNode('corrupt-a');
  const redis = new Redis(server!.port, '127.0.0.1');
  try {
    const bad = ['not json', '{"node":5}', '[1,2]', '"text"', '{"node":{}}', `${'['.repeat(2000)}`];
    for (const [index, entry] of bad.entries()) {
      const id = `corrupt-${index}`;
      await redis.zadd(keys.allLeases, Number.MAX_SAFE_INTEGER, id);
      await redis.hset(keys.calls, id, entry);
      assert.equal(await node.calls.owner(id), undefined, entry.slice(0, 20));
      await redis.zrem(keys.allLeases, id);
      await redis.hdel(keys.calls, id);
    }
  } finally {
    redis.disconnect();
  }
});

test('trunk health: each node reads the other nodes’ window sums', { skip }, async () => {
  const { node: a, health: healthA } = await startNode('health-a', { gatewayId: 'health/gw1', seized: 3 });
  const { node: b, health: healthB } = await startNode('health-b', { gatewayId: 'health/gw1', seized: 5 });
  await a.heartbeat();
  await b.heartbeat();
  assert.deepEqual(
    healthA.peers.get('health/gw1')?.map((peer) => peer.seized),
    [5],
  );
  assert.deepEqual(
    healthB.peers.get('health/gw1')?.map((peer) => peer.seized),
    [3],
  );
});

test('trunk health: a field that is not "expiry|totals" is dropped, and sharing goes on', {
  skip,
}, async () => {
  const key = keys.health('bad/gw1');
  const redis = new Redis(server!.port, '127.0.0.1');
  try {
    const never = String(Number.MAX_SAFE_INTEGER);
    await redis.hset(key, 'no-bar', 'x', 'no-number', 'soon|{}', 'nan', 'nan|{}', 'inf', 'inf|{}');
    await redis.hset(key, 'good', `${never}|${JSON.stringify(totals(7))}`);
    const { node: a, health } = await startNode('bad-health-a', { gatewayId: 'bad/gw1', seized: 1 });
    await a.heartbeat();
    assert.deepEqual(
      health.peers.get('bad/gw1')?.map((peer) => peer.seized),
      [7],
    );
    assert.deepEqual((await redis.hkeys(key)).sort(), ['bad-health-a', 'good']);
  } finally {
    redis.disconnect();
  }
});

test('Redis restarted empty: local share meanwhile, leases and registry re-registered after', {
  skip,
}, async () => {
  const { node: a } = await startNode('restart-a');
  const { node: b } = await startNode('restart-b');
  await waitFor(async () => {
    await a.heartbeat();
    return a.liveNodes === 2;
  }, 'two live nodes');
  const held = await a.leases.acquire(request('restart', 4));
  assert.ok(held.ok);
  await server!.kill();
  await waitFor(() => !a.redisUp, 'link down');
  // Alone, node a may hold ceil(4 / 2) = 2 calls of the trunk: the one it has and one more.
  const during = [
    await a.leases.acquire(request('restart', 4)),
    await a.leases.acquire(request('restart', 4)),
  ];
  assert.deepEqual(
    during.map((slot) => slot.ok),
    [true, false],
  );
  await server!.start();
  await waitFor(() => a.redisUp && b.redisUp, 'links up again', 10_000);
  await a.heartbeat();
  const listed = await b.calls.list();
  assert.equal(
    listed.filter((entry) => entry.node === 'restart-a').length,
    2,
    'both live calls re-registered',
  );
  const more = [await b.leases.acquire(request('restart', 4)), await b.leases.acquire(request('restart', 4))];
  const third = await b.leases.acquire(request('restart', 4));
  assert.deepEqual(
    [...more, third].map((slot) => slot.ok),
    [true, true, false],
    'the re-registered calls count',
  );
});
