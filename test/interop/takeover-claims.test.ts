/**
 * The takeover scripts on a real Redis: a dead node's calls are claimed by the live nodes
 * exactly once each and spread between them; a node counted dead that writes again learns which
 * of its calls are owned elsewhere; an in-dialog request's on-demand claim waits for the owner
 * to be dead; a removed call is not claimed, nor taken back by a node taken for dead; a node
 * restarted with the same id is a new owner; snapshots outlive any deadAfterMs; a claim whose
 * reply missed the deadline (Redis paused) still resumes its call on that node, once, and a node
 * without room gives such a call back to the others; a snapshot write that missed its deadline
 * and ran after its call ended is removed, before or after it lands; Redis away from every node
 * (no node's beat reaching it) for longer than deadAfterMs counts nobody dead. Each claim moves a
 * call one generation up: a write of a lower one (from a node taken for dead) loses the call,
 * also after Redis restarted empty, and a tombstone of a lower one does not stop a higher one;
 * a node that writes is in the live set, so one that dies before its first beat is counted dead.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { CallSnapshots, type RedisLink, takeoverKeys } from '../../src/cluster/index.js';
import type { CallController } from '../../src/gateway/call-controller.js';
import { positionOf, snapshotOf } from '../../src/gateway/call-snapshot.js';
import type { HeldRequest } from '../../src/sip/index.js';
import { SystemClock } from '../../src/util/index.js';
import { view } from '../gateway/helpers/takeover-view.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { RedisServer } from './helpers/redis-server.js';
import { freePort } from './helpers/sipp.js';
import { beatingFor, readyLink, takeoverOn } from './helpers/takeover-node.js';

const skip = skipUnlessPresent(commandAvailable('redis-server', ['-v']), 'redis-server not installed');
const DEAD_AFTER_MS = 300;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let server: RedisServer | undefined;
const links: RedisLink[] = [];

before(async () => {
  if (skip) return;
  server = new RedisServer(await freePort());
  await server.start();
});
after(async () => {
  for (const link of links) link.close();
  await server?.stop();
});

/** Each test starts on an empty Redis: one test's nodes are dead nodes to the next. */
async function flush(): Promise<void> {
  const client = new Redis({ port: server!.port, host: '127.0.0.1' });
  await client.flushall();
  client.disconnect();
}

/** A node's process, owning its calls as `owner` (null: a new incarnation, as at a start). */
async function node(
  nodeId: string,
  owner: string | null = nodeId,
  deadAfterMs = DEAD_AFTER_MS,
): Promise<CallSnapshots> {
  const link = await readyLink(server!.port);
  links.push(link);
  return new CallSnapshots({ link, nodeId, deadAfterMs, ...(owner === null ? {} : { owner }) });
}

/** A call's write (or claim) at `generation`: 1 where it was answered, one more per claim. */
const write = (sipCallId: string, generation = 1) => ({
  sipCallId,
  snapshot: `{"call":"${sipCallId}"}`,
  position: '{}',
  generation,
});

test('a dead node’s calls are claimed once each, spread over the live nodes', { skip }, async () => {
  await flush();
  const [dead, x, y] = [await node('dead'), await node('x'), await node('y')];
  await dead.beat(0, false);
  const calls = Array.from({ length: 40 }, (_, i) => `call-${i}@carrier`);
  assert.deepEqual(await dead.write(calls.map((id) => write(id))), {
    lost: [],
    missing: [],
    unowned: [],
    dataLost: false,
  });
  await x.beat(100, false);
  await y.beat(100, false);
  assert.deepEqual(
    [...(await x.beat(100, false)).claimed, ...(await y.beat(100, false)).claimed],
    [],
    'nothing while it beats',
  );
  await beatingFor(
    DEAD_AFTER_MS + 50,
    () => x.beat(0, false),
    () => y.beat(0, false),
  );
  await y.beat(0, false); // both beat every deadAfterMs / 3: both are alive when x claims
  const claimedX = (await x.beat(100, false)).claimed;
  const claimedY = (await y.beat(100, false)).claimed;
  const ids = [...claimedX, ...claimedY].map((call) => call.sipCallId).sort();
  assert.deepEqual(ids, [...calls].sort(), 'every call claimed, none twice');
  assert.ok(claimedX.length >= 8 && claimedY.length >= 8, `spread ${claimedX.length}/${claimedY.length}`);
  assert.equal(claimedX[0]?.snapshot, `{"call":"${claimedX[0]?.sipCallId}"}`);
  assert.equal(claimedX[0]?.generation, 2, 'one generation up');
  const again = [await x.beat(100, false), await y.beat(100, false)];
  assert.deepEqual(
    again.flatMap((beat) => beat.claimed),
    [],
    'claimed once',
  );
  assert.equal(
    again.flatMap((beat) => beat.unconfirmed).length,
    calls.length,
    'each reported to its claimer until a write carries it',
  );

  // The "dead" node was only stalled: its next write names the calls it lost.
  const { lost } = await dead.write(
    calls.slice(0, 3).map((sipCallId) => ({ ...write(sipCallId), snapshot: undefined })),
  );
  assert.deepEqual(lost, calls.slice(0, 3));
});

test('Redis away from every node longer than deadAfterMs counts nobody dead; a node silent after it is', {
  skip,
}, async () => {
  await flush();
  const [a, b] = [await node('a0'), await node('b0')];
  await a.beat(0, false);
  await b.beat(0, false);
  await a.write([write('kept@carrier')]);
  await sleep(DEAD_AFTER_MS + 100); // no node's beat reaches Redis: as Redis sees it, its own outage
  assert.deepEqual((await b.beat(10, false)).claimed, [], 'the first node back claims nothing');
  assert.deepEqual(await b.claim('kept@carrier'), { kind: 'alive', node: 'a0' }, 'nor on demand');
  await beatingFor(DEAD_AFTER_MS + 50, () => b.beat(0, false)); // a stays silent after it
  assert.deepEqual(
    (await b.beat(10, false)).claimed.map((call) => call.sipCallId),
    ['kept@carrier'],
  );
});

test('on-demand claim: alive owner, then dead owner; removed and unknown calls', { skip }, async () => {
  await flush();
  const [owner, taker] = [await node('owner'), await node('taker')];
  await owner.beat(0, false);
  await taker.beat(0, false);
  await owner.write([write('held@carrier'), write('ended@carrier')]);
  await owner.remove('ended@carrier', 1);
  assert.deepEqual(await taker.claim('held@carrier'), { kind: 'alive', node: 'owner' });
  assert.deepEqual(await taker.claim('ended@carrier'), { kind: 'unknown' });
  assert.deepEqual(await owner.claim('held@carrier'), { kind: 'mine', call: write('held@carrier') });
  await beatingFor(DEAD_AFTER_MS + 50, () => taker.beat(0, false));
  const claim = await taker.claim('held@carrier');
  assert.equal(claim.kind, 'claimed');
  assert.deepEqual(await taker.claim('held@carrier'), { kind: 'mine', call: write('held@carrier', 2) });
  await taker.write([write('held@carrier', 2)]); // carried: no longer unconfirmed
  assert.deepEqual(await taker.beat(10, false), { claimed: [], unconfirmed: [] }, 'not claimed again');
});

test('a draining node and a node without room claim nothing', { skip }, async () => {
  await flush();
  const [dead, draining, full] = [await node('dead2'), await node('draining'), await node('full')];
  await dead.beat(0, false);
  await dead.write([write('a@carrier'), write('b@carrier')]);
  await draining.beat(10, true);
  await beatingFor(DEAD_AFTER_MS + 50, () => draining.beat(0, true));
  assert.deepEqual((await draining.beat(10, true)).claimed, []);
  assert.deepEqual((await full.beat(0, false)).claimed, []);
  assert.deepEqual(
    (await draining.beat(10, true)).claimed,
    [],
    'not even when the only other node has no room',
  );
  const { claimed } = await full.beat(10, false);
  assert.deepEqual(claimed.map((call) => call.sipCallId).sort(), ['a@carrier', 'b@carrier']);
});

test('a call that ended on its new owner is lost to the node taken for dead, not taken back', {
  skip,
}, async () => {
  await flush();
  const [a, b] = [await node('a'), await node('b')];
  await a.beat(0, false);
  await a.write([write('ended@carrier'), write('live@carrier')]);
  await beatingFor(DEAD_AFTER_MS + 50, () => b.beat(0, false));
  const { claimed } = await b.beat(10, false);
  assert.equal(claimed.length, 2);
  await b.remove('ended@carrier', 2); // the caller hung up on b
  // a wakes: the ended call is lost to it, whole or unchanged, like the one b still carries.
  const unchanged = await a.write(
    ['ended@carrier', 'live@carrier'].map((id) => ({ ...write(id), snapshot: undefined })),
  );
  assert.deepEqual(unchanged.lost, ['ended@carrier', 'live@carrier']);
  assert.deepEqual((await a.write([write('ended@carrier')])).lost, ['ended@carrier']);
  assert.deepEqual(await a.claim('ended@carrier'), { kind: 'unknown' });
  assert.deepEqual((await b.beat(10, false)).claimed, [], 'nothing left to claim');
});

test('a node maybe taken for dead takes back no call Redis kept no owner for; after Redis lost its data it writes every call again', {
  skip,
}, async () => {
  await flush();
  const a = await node('a');
  await a.write([write('stale@carrier'), write('kept@carrier')]);
  // Redis kept its data but no owner for the call: its new owner ended it and the tombstone expired.
  const client = new Redis({ port: server!.port, host: '127.0.0.1' });
  await client.hdel(takeoverKeys.owner, 'stale@carrier');
  client.disconnect();
  const marked = [
    { ...write('stale@carrier'), mayBeTakenOver: true },
    { ...write('kept@carrier'), snapshot: undefined, mayBeTakenOver: true },
  ];
  const kept = await a.write(marked);
  assert.deepEqual(kept, { lost: [], missing: [], unowned: ['stale@carrier'], dataLost: false });
  assert.deepEqual(await a.claim('stale@carrier'), { kind: 'unknown' }, 'not written');

  await flush(); // a Redis restarted empty: nobody's claims are known, every node writes its calls
  const reply = await a.write(marked);
  assert.deepEqual(reply, { lost: [], missing: ['kept@carrier'], unowned: [], dataLost: true });
  assert.deepEqual(await a.claim('stale@carrier'), { kind: 'mine', call: write('stale@carrier') });
  assert.deepEqual(await a.claim('kept@carrier'), { kind: 'mine' }, 'no snapshot until sent whole');
  assert.equal((await a.write(marked)).dataLost, false, 'said once');
});

test('after Redis lost its data the higher generation wins, whichever node writes first; the call stays takeable', {
  skip,
}, async () => {
  for (const first of ['stale', 'claimant'] as const) {
    await flush();
    const [a, b, c] = [await node(`a-${first}`), await node(`b-${first}`), await node(`c-${first}`)];
    const sipCallId = `call-${first}@carrier`;
    await a.beat(0, false);
    await a.write([write(sipCallId)]);
    await beatingFor(DEAD_AFTER_MS + 50, () => b.beat(0, false)); // a is cut off, counted dead
    assert.deepEqual((await b.beat(10, false)).claimed, [write(sipCallId, 2)]);
    await b.write([{ ...write(sipCallId, 2), snapshot: '{"call":"on b"}' }]);

    await flush(); // Redis restarted empty; both nodes write their call again
    const stale = { ...write(sipCallId), mayBeTakenOver: true };
    const claimant = { ...write(sipCallId, 2), snapshot: '{"call":"on b"}' };
    const written = { lost: [], missing: [], unowned: [], dataLost: true };
    if (first === 'stale') assert.deepEqual(await a.write([stale]), written);
    assert.deepEqual(await b.write([claimant]), written);
    assert.deepEqual((await a.write([stale])).lost, [sipCallId], 'a lost the call to b');
    await b.beat(0, false);
    assert.deepEqual(await c.claim(sipCallId), { kind: 'alive', node: `b-${first}` });

    await c.beat(0, false);
    await beatingFor(DEAD_AFTER_MS + 50, () => c.beat(0, false)); // b dies; a owns nothing
    assert.deepEqual(
      (await c.beat(10, false)).claimed,
      [{ ...claimant, generation: 3 }],
      `${first} first: b’s snapshot, taken over`,
    );
  }
});

test('a node that writes but dies before its first beat (Redis restarted empty) is counted dead all the same', {
  skip,
}, async () => {
  await flush();
  const [a, b] = [await node('a7'), await node('b7')];
  await a.write([write('unbeaten@carrier')]); // no beat of a's reaches this Redis
  await beatingFor(DEAD_AFTER_MS + 50, () => b.beat(0, false));
  assert.deepEqual((await b.beat(10, false)).claimed, [write('unbeaten@carrier', 2)]);
});

test('a call ended at a lower generation does not refuse the node carrying it at a higher one', {
  skip,
}, async () => {
  await flush();
  const [a, b] = [await node('a6'), await node('b6')];
  await b.write([write('split@carrier', 2)]);
  await flush();
  await a.write([write('split@carrier')]); // a rewrites first after the restart...
  await a.remove('split@carrier', 1); // ...and its copy of the call ends
  assert.deepEqual((await b.write([write('split@carrier', 2)])).lost, [], 'b carries on');
  assert.deepEqual((await a.write([write('split@carrier')])).lost, ['split@carrier']);
});

test('a node restarted with the same id is a new owner: the crashed process’s calls are claimed', {
  skip,
}, async () => {
  await flush();
  const crashed = await node('node-1', null);
  const other = await node('node-2', null);
  assert.match(crashed.owner, /^node-1~[0-9a-f]{8}$/);
  await crashed.beat(0, false);
  await crashed.write([write('call@carrier')]);
  const restarted = await node('node-1', null); // within deadAfterMs
  assert.notEqual(restarted.owner, crashed.owner);
  await restarted.beat(10, false);
  await other.beat(10, false);
  await beatingFor(
    DEAD_AFTER_MS + 50,
    () => restarted.beat(0, false),
    () => other.beat(0, false),
  );
  await other.beat(0, false); // alive when the restarted node beats
  const claimed = [...(await restarted.beat(10, false)).claimed, ...(await other.beat(10, false)).claimed];
  assert.deepEqual(
    claimed.map((call) => call.sipCallId),
    ['call@carrier'],
  );
});

test('snapshots and tombstones outlive a large deadAfterMs', { skip }, async () => {
  await flush();
  const deadAfterMs = 55_000;
  const a = await node('slow', 'slow', deadAfterMs);
  await a.write([write('x@carrier'), write('y@carrier')]);
  await a.remove('y@carrier', 1);
  const client = new Redis({ port: server!.port, host: '127.0.0.1' });
  try {
    const snapshotsTtl = await client.pttl(takeoverKeys.snapshots('slow'));
    const tombstoneTtl = await client.pttl(takeoverKeys.ended('y@carrier'));
    assert.ok(snapshotsTtl > 2 * deadAfterMs, `snapshots kept ${snapshotsTtl} ms`);
    assert.ok(tombstoneTtl > deadAfterMs + snapshotsTtl, `tombstone kept ${tombstoneTtl} ms`);
  } finally {
    client.disconnect();
  }
});

/** Redis answers nothing for `ms`, longer than the 200 ms deadline of the scripts sent meanwhile. */
async function pauseRedis(ms: number): Promise<void> {
  const client = new Redis({ port: server!.port, host: '127.0.0.1' });
  await client.call('CLIENT', 'PAUSE', ms, 'ALL');
  client.disconnect();
}

test('a held request whose claim timed out still gets its call, resumed once on that node', {
  skip,
}, async () => {
  await flush();
  const [dead, taker] = [await node('dead3'), await node('taker3')];
  const clock = new SystemClock();
  const snapshot = snapshotOf(view(), 'node-a') as string;
  const sipCallId = 'call-1@127.0.0.1';
  await dead.beat(0, false);
  await dead.write([
    { sipCallId, snapshot, position: positionOf(view().leg, clock.wallNow()), generation: 1 },
  ]);
  await beatingFor(DEAD_AFTER_MS + 50, () => taker.beat(0, false));
  const adopted: EventEmitter[] = [];
  const takeover = takeoverOn(taker, 'taker3', DEAD_AFTER_MS, {
    adopt: () => {
      const call = Object.assign(new EventEmitter(), { id: 'sid-1' });
      adopted.push(call);
      setImmediate(() => call.emit('state', 'answered'));
      return call as unknown as CallController;
    },
    unusable: () => assert.fail('the snapshot resumes'),
  });
  const responses: number[] = [];
  let delivered = false;
  const held = {
    request: { callId: () => sipCallId },
    deliver: () => (delivered = adopted.length > 0),
    respond: (status: number) => responses.push(status),
  } as unknown as HeldRequest;
  await pauseRedis(400); // the claim misses its deadline, and Redis runs it once unpaused
  assert.equal(takeover.hold(held), true);
  for (let waited = 0; !delivered && responses.length === 0 && waited < 3000; waited += 20) await sleep(20);
  await takeover.close();
  assert.ok((links.at(-1)?.errors.timeout ?? 0) >= 1, 'the claim timed out');
  assert.deepEqual(responses, [], 'not 481');
  assert.equal(delivered, true, 'delivered to the resumed call');
  assert.equal(adopted.length, 1, 'resumed once');
});

test('a beat whose reply timed out reports its claims next time; given back, another node claims them', {
  skip,
}, async () => {
  await flush();
  const [dead, a, b] = [await node('dead4'), await node('a4'), await node('b4')];
  await dead.beat(0, false);
  await dead.write([write('lost@carrier')]);
  await a.beat(0, true);
  await beatingFor(DEAD_AFTER_MS + 50, () => a.beat(0, true));
  await pauseRedis(400);
  await assert.rejects(a.beat(10, false), /timeout/);
  await sleep(300); // Redis ran the beat: a claimed the call without hearing of it
  assert.deepEqual(await a.beat(10, false), { claimed: [], unconfirmed: [write('lost@carrier', 2)] });
  await b.beat(0, true); // b is alive, but full until a gives the call back
  assert.equal(await a.giveBack(['lost@carrier']), 1);
  assert.deepEqual(await a.beat(0, true), { claimed: [], unconfirmed: [] }, 'no longer a’s');
  assert.deepEqual((await b.beat(10, false)).claimed, [write('lost@carrier', 4)], 'claimed by another node');
});

test('a write that missed its deadline and ran after its call ended is removed: no node resumes that call', {
  skip,
}, async () => {
  await flush();
  const [a, b] = [await node('a5'), await node('b5')];
  const sipCallId = 'call-1@127.0.0.1';
  const calls = [{ id: 'sid-1', takeoverView: () => view() }] as unknown as CallController[];
  const takeover = takeoverOn(a, 'a5', DEAD_AFTER_MS, { liveCalls: () => calls });
  takeover.start();
  await pauseRedis(400);
  takeover.answered(); // misses its deadline; Redis runs it once unpaused
  await sleep(100);
  calls.length = 0; // the caller hangs up before any write got a reply
  await sleep(700); // Redis answers again, and the next writes run
  assert.deepEqual(await a.claim(sipCallId), { kind: 'unknown' }, 'no owner, no snapshot');
  await takeover.close();
  await b.beat(0, false);
  await beatingFor(DEAD_AFTER_MS + 50, () => b.beat(0, false)); // a is dead now
  assert.deepEqual(await b.beat(10, false), { claimed: [], unconfirmed: [] }, 'nothing to claim');
  // Had the end's removal run first, its tombstone refuses the late write.
  await a.remove('late@carrier', 1);
  assert.deepEqual((await a.write([write('late@carrier')])).lost, ['late@carrier']);
  assert.deepEqual(await b.claim('late@carrier'), { kind: 'unknown' });
});
