/**
 * Call takeover across Redis outages, on a real Redis. A node cut off from Redis (its TCP
 * relay cut) while another still reaches it is counted dead and its call taken over, one
 * generation up; when Redis then restarts empty, both write the call again and the higher
 * generation wins: the cut-off node lets the call go, and the node carrying it can still be taken
 * over. A Redis restarted empty within deadAfterMs costs no call its snapshot: its node writes it
 * again; one down for every node longer than that costs none either: every node writes its calls
 * again, and a node that dies afterwards has its calls taken over.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { CallSnapshots, RedisLink, takeoverKeys } from '../../src/cluster/index.js';
import type { CallController } from '../../src/gateway/call-controller.js';
import { snapshotOf } from '../../src/gateway/call-snapshot.js';
import type { CallTakeover, CallTakeoverOptions } from '../../src/gateway/call-takeover.js';
import { liveCall, view } from '../gateway/helpers/takeover-view.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { RedisServer } from './helpers/redis-server.js';
import { freePort } from './helpers/sipp.js';
import { beatingFor, readyLink, takeoverOn } from './helpers/takeover-node.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

const skip = skipUnlessPresent(commandAvailable('redis-server', ['-v']), 'redis-server not installed');
const DEAD_AFTER_MS = 300;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const server = skip ? undefined : new RedisServer(await freePort());
await server?.start();
const links: RedisLink[] = [];
const takeovers: CallTakeover[] = [];
let relay: TcpProxy | undefined;

after(async () => {
  await Promise.allSettled(takeovers.map((takeover) => takeover.close()));
  for (const link of links) link.close();
  await relay?.close();
  await server?.stop();
});

async function waitFor(done: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let waited = 0; !(await done()); waited += 20) {
    if (waited > 5000) assert.fail(`${what}: not within 5 s`);
    await sleep(20);
  }
}

/** A node's store on `link`, and its CallTakeover carrying one live call. */
function nodeWithCall(
  link: RedisLink,
  nodeId: string,
  deadAfterMs: number,
  sipCallId: string,
  terminated: string[],
  options: Partial<CallTakeoverOptions> = {},
) {
  links.push(link);
  const snapshots = new CallSnapshots({ link, nodeId, deadAfterMs, owner: nodeId });
  const call = liveCall(sipCallId, terminated);
  const takeover = takeoverOn(snapshots, nodeId, deadAfterMs, {
    liveCalls: () => (terminated.includes(sipCallId) ? [] : [call]),
    ...options,
  });
  takeovers.push(takeover);
  takeover.start();
  takeover.answered();
  return snapshots;
}

async function restartRedisEmpty(): Promise<void> {
  await server!.kill();
  await server!.start();
}

test('a node cut off past deadAfterMs loses its call to the claim’s higher generation, also after Redis restarts empty', {
  skip,
}, async () => {
  relay = new TcpProxy(server!.port);
  const linkA = RedisLink.connect(`redis://127.0.0.1:${await relay.start()}`);
  await waitFor(() => linkA.up, 'a connected');
  const terminated: string[] = [];
  const sipCallId = 'cut-off@carrier';
  // a takes no call over (no room), so only c below can claim b's.
  nodeWithCall(linkA, 'a', DEAD_AFTER_MS, sipCallId, terminated, { room: () => 0 });
  const linkB = await readyLink(server!.port);
  links.push(linkB);
  const b = new CallSnapshots({ link: linkB, nodeId: 'b', deadAfterMs: DEAD_AFTER_MS, owner: 'b' });
  await b.beat(0, false);
  const redis = linkB.client;
  await waitFor(
    async () =>
      (await redis.hget(takeoverKeys.owner, sipCallId)) === '1|a' &&
      (await redis.zscore(takeoverKeys.alive, 'a')) !== null,
    'a writes its call and beats',
  );

  relay.cut(); // a cannot reach Redis; b still does
  await beatingFor(DEAD_AFTER_MS + 100, () => b.beat(0, false));
  const [taken] = (await b.beat(10, false)).claimed;
  assert.equal(taken?.sipCallId, sipCallId, 'b takes the call over');
  assert.equal(taken?.generation, 2);
  const carried = { ...taken!, snapshot: snapshotOf(view(), 'b') as string };
  await b.write([carried]);

  await restartRedisEmpty();
  relay.restore();
  await waitFor(() => linkA.up && linkB.up, 'both reconnected');
  // a writes first: Redis lost its data, so nobody's claim is known and a owns the call again...
  await waitFor(async () => (await redis.hget(takeoverKeys.owner, sipCallId)) === '1|a', 'a writes its call');
  assert.deepEqual(terminated, []);
  await b.beat(0, false);
  const again = await b.write([carried]); // ...until b writes its higher generation
  assert.deepEqual(again, { lost: [], missing: [], unowned: [], dataLost: true });
  await waitFor(() => terminated.length === 1, 'a lets the call go to b');
  assert.equal(await redis.hget(takeoverKeys.owner, sipCallId), '2|b');
  assert.equal(await redis.hexists(takeoverKeys.snapshots('a'), sipCallId), 0, 'a’s copy gone');

  // b dies: the call is still taken over, from b's snapshot.
  const linkC = await readyLink(server!.port);
  links.push(linkC);
  const c = new CallSnapshots({ link: linkC, nodeId: 'c', deadAfterMs: DEAD_AFTER_MS });
  await beatingFor(DEAD_AFTER_MS + 100, () => c.beat(0, false));
  assert.deepEqual((await c.beat(10, false)).claimed, [{ ...carried, generation: 3 }]);
});

test('a Redis restarted empty within deadAfterMs: the node writes its call again, whole', {
  skip,
}, async () => {
  const deadAfterMs = 5000;
  const sipCallId = 'restarted@carrier';
  const a = nodeWithCall(await readyLink(server!.port), 'a2', deadAfterMs, sipCallId, []);
  const written = async () => {
    const claim = await a.claim(sipCallId).catch(() => undefined);
    return claim?.kind === 'mine' && claim.call !== undefined;
  };
  await waitFor(written, 'a writes its call');
  await restartRedisEmpty();
  await waitFor(written, 'a writes its call again');
});

/** The earlier tests' nodes stop, and Redis forgets them: they would be live nodes to the next. */
async function freshStart(): Promise<void> {
  await Promise.allSettled(takeovers.splice(0).map((takeover) => takeover.close()));
  for (const link of links.splice(0)) link.close();
  const client = new Redis({ port: server!.port, host: '127.0.0.1' });
  await client.flushall();
  client.disconnect();
}

/** Whether Redis holds `sipCallId`'s snapshot in `node`'s hash, and an owner for it. */
async function snapshotted(node: string, sipCallId: string): Promise<boolean> {
  const client = new Redis({ port: server!.port, host: '127.0.0.1', retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    const [owned, held] = await Promise.all([
      client.hexists(takeoverKeys.owner, sipCallId),
      client.hexists(takeoverKeys.snapshots(node), sipCallId),
    ]);
    return owned === 1 && held === 1;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

test('Redis down for every node past deadAfterMs, restarted empty: both nodes write their calls again, and a dead node’s call is taken over', {
  skip,
}, async () => {
  await freshStart();
  const adopted: string[] = [];
  const adopt = (): CallController => {
    const call = Object.assign(new EventEmitter(), { id: 'resumed' });
    setImmediate(() => call.emit('state', 'answered'));
    return call as unknown as CallController;
  };
  const linkA = await readyLink(server!.port);
  nodeWithCall(linkA, 'a3', DEAD_AFTER_MS, 'call-1@127.0.0.1', []);
  nodeWithCall(await readyLink(server!.port), 'b3', DEAD_AFTER_MS, 'b-call@carrier', [], {
    adopt: (call) => {
      adopted.push(call.takeover.fromNode);
      return adopt();
    },
  });
  await waitFor(
    async () => (await snapshotted('a3', 'call-1@127.0.0.1')) && (await snapshotted('b3', 'b-call@carrier')),
    'both nodes write their calls',
  );

  await server!.kill(); // down for everyone, longer than deadAfterMs
  await sleep(DEAD_AFTER_MS + 300);
  await server!.start(); // empty
  await waitFor(
    async () => (await snapshotted('a3', 'call-1@127.0.0.1')) && (await snapshotted('b3', 'b-call@carrier')),
    'both nodes write their calls again',
  );

  linkA.close(); // a dies: b takes its call over
  await waitFor(() => adopted.length > 0, 'b takes over a’s call');
  assert.deepEqual(adopted, ['a3']);
});
