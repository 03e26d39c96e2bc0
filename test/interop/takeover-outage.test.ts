/**
 * Call takeover across Redis outages, on a real Redis. A node cut off from Redis (its TCP
 * relay cut) while another still reaches it is counted dead and its call taken over; when Redis
 * then restarts empty, the cut-off node does not take the call back (the other node may have
 * ended it), and lets it go as soon as the node carrying it writes it again. A Redis restarted
 * empty within deadAfterMs costs no call its snapshot: its node writes it again.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { CallSnapshots, RedisLink, takeoverKeys } from '../../src/cluster/index.js';
import type { CallTakeover } from '../../src/gateway/call-takeover.js';
import { liveCall } from '../gateway/helpers/takeover-view.js';
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
) {
  links.push(link);
  const snapshots = new CallSnapshots({ link, nodeId, deadAfterMs, owner: nodeId });
  const call = liveCall(sipCallId, terminated);
  const takeover = takeoverOn(snapshots, nodeId, deadAfterMs, { liveCalls: () => [call] });
  takeovers.push(takeover);
  takeover.start();
  takeover.answered();
  return snapshots;
}

async function restartRedisEmpty(): Promise<void> {
  await server!.kill();
  await server!.start();
}

test('a node cut off from Redis, counted dead meanwhile, takes no call back from a Redis restarted empty', {
  skip,
}, async () => {
  relay = new TcpProxy(server!.port);
  const linkA = RedisLink.connect(`redis://127.0.0.1:${await relay.start()}`);
  await waitFor(() => linkA.up, 'a connected');
  const terminated: string[] = [];
  const sipCallId = 'cut-off@carrier';
  nodeWithCall(linkA, 'a', DEAD_AFTER_MS, sipCallId, terminated);
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
  assert.equal(taken?.generation, 2, 'one generation up');
  await b.write([taken!]); // b carries it now (or it has ended there: Redis forgets both alike)

  await restartRedisEmpty();
  relay.restore();
  await waitFor(() => linkA.up && linkB.up, 'both reconnected');
  await sleep(500); // a writes its calls a few times
  assert.deepEqual(await b.claim(sipCallId), { kind: 'unknown' }, 'a took the call back');
  assert.deepEqual(terminated, [], 'a cannot tell the call is gone: it goes on there, unsnapshotted');

  const again = await b.write([taken!]); // b writes the call it carries
  assert.deepEqual(again, { lost: [], missing: [], unowned: [] });
  await waitFor(() => terminated.length === 1, 'a lets the call go to b');
  assert.equal(await redis.hget(takeoverKeys.owner, sipCallId), '2|b');
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
