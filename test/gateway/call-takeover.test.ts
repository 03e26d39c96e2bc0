/**
 * CallTakeover against a fake store: a node that cannot take a call (draining, overloaded,
 * full) claims nothing and answers a held request 481 at once; a claim or beat still in flight
 * when the node stops resumes nothing; a node whose event loop stalled past deadAfterMs marks
 * its calls so that one no node owns any more is let go rather than taken back; a claim whose
 * reply was lost is resumed when the retry answers `mine` or the beat reports it, once, or
 * given back without room; a call whose write got no reply is sent whole again and removed
 * when it ends.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { CallSnapshots, ClaimedCall } from '../../src/cluster/index.js';
import type { CallController } from '../../src/gateway/call-controller.js';
import type { ResumeContext } from '../../src/gateway/call-resume.js';
import { positionOf, snapshotOf } from '../../src/gateway/call-snapshot.js';
import { CallTakeover } from '../../src/gateway/call-takeover.js';
import type { HeldRequest } from '../../src/sip/index.js';
import { type Clock, FakeClock, silentLogger } from '../../src/util/index.js';
import { liveCall, view } from './helpers/takeover-view.js';

const DEAD_AFTER_MS = 1500;
const settle = () => new Promise((resolve) => setImmediate(resolve));
const CLAIMED: ClaimedCall = { sipCallId: 'x@carrier', snapshot: '{}', position: '{}', generation: 2 };

type Write = Parameters<CallSnapshots['write']>[0][number];
type Beat = Awaited<ReturnType<CallSnapshots['beat']>>;

/** A store whose beats and claims answer when the test says. */
class FakeSnapshots {
  readonly beats: Array<{ maxClaims: number; takesNone: boolean; answer(beat: Beat): void }> = [];
  readonly claims: Array<{
    sipCallId: string;
    answer(kind: Awaited<ReturnType<CallSnapshots['claim']>>): void;
  }> = [];
  readonly writes: Write[][] = [];
  /** Writes still to fail as a missed deadline does (the script may have run all the same). */
  failWrites = 0;
  /** Redis unreachable from this node: beats fail at once, nothing is written. */
  away = false;
  /** What the next writes answer (by default: every call written). */
  readonly replies: Array<Awaited<ReturnType<CallSnapshots['write']>>> = [];
  get reachable(): boolean {
    return !this.away;
  }
  beat(maxClaims: number, takesNone: boolean): Promise<Beat> {
    if (this.away) return Promise.reject(new Error('redis connecting'));
    return new Promise((answer) => this.beats.push({ maxClaims, takesNone, answer }));
  }
  claim(sipCallId: string) {
    return new Promise<Awaited<ReturnType<CallSnapshots['claim']>>>((answer) =>
      this.claims.push({ sipCallId, answer }),
    );
  }
  /** Calls Redis kept no owner for (it kept its data): a marked write of one is refused. */
  readonly ownerless = new Set<string>();
  async write(writes: Write[]) {
    this.writes.push(writes);
    if (this.failWrites > 0 && this.failWrites--) throw new Error('redis command timeout');
    const unowned = writes
      .filter((write) => write.mayBeTakenOver && this.ownerless.has(write.sipCallId))
      .map((write) => write.sipCallId);
    return this.replies.shift() ?? { lost: [], missing: [], unowned, dataLost: false };
  }
  readonly removed: string[] = [];
  readonly removedAt: number[] = [];
  async remove(sipCallId: string, generation: number): Promise<void> {
    this.removed.push(sipCallId);
    this.removedAt.push(generation);
  }
  readonly givenBack: string[][] = [];
  async giveBack(sipCallIds: string[]): Promise<number> {
    this.givenBack.push(sipCallIds);
    return sipCallIds.length;
  }
}

interface NodeState {
  draining?: boolean;
  overloaded?: boolean;
  room?: number;
  calls?: number;
  /** What adopting a claimed call gives (none: nothing may be resumed). */
  adopted?: CallController;
}

function setup(node: NodeState = {}) {
  const fake = new FakeClock();
  const stall = { ms: 0 };
  const clock: Clock = {
    now: () => fake.now() + stall.ms,
    wallNow: () => fake.wallNow() + stall.ms,
    setTimer: (ms, fn) => fake.setTimer(ms, fn),
  };
  const snapshots = new FakeSnapshots();
  const outcome = { unusable: 0, adopted: 0 };
  const calls = Array.from(
    { length: node.calls ?? 0 },
    () => ({ id: 'sid-1', takeoverView: () => view() }) as unknown as CallController,
  );
  const takeover = new CallTakeover({
    snapshots: snapshots as unknown as CallSnapshots,
    config: {
      enabled: true,
      deadAfterMs: DEAD_AFTER_MS,
      snapshotIntervalMs: 500,
      previousSnapshotSecrets: [],
    },
    nodeId: 'node-b',
    clock,
    logger: silentLogger,
    resumeContext: () =>
      node.adopted
        ? ({
            config: {
              trunks: new Map([['proxy', { codecs: ['PCMU'], media: { encryption: 'none' } }]]),
              gateway: { routes: [] },
            },
            clock,
            mediaAddress: '127.0.0.9',
            frameMs: 20,
            nodeId: 'node-b',
          } as unknown as ResumeContext)
        : assert.fail('a malformed snapshot is never resumed'),
    liveCalls: () => calls,
    room: () => node.room ?? 10,
    draining: () => node.draining ?? false,
    overloaded: () => node.overloaded ?? false,
    adopt: () => {
      outcome.adopted++;
      return node.adopted ?? assert.fail('nothing adopted');
    },
    unusable: () => outcome.unusable++,
  });
  takeover.start();
  return { fake, stall, snapshots, takeover, outcome, calls };
}

function heldRequest(
  sipCallId = 'x@carrier',
  deliver = () => false,
): { held: HeldRequest; responses: number[] } {
  const responses: number[] = [];
  const held = {
    request: { callId: () => sipCallId },
    deliver,
    respond: (status: number) => responses.push(status),
  } as unknown as HeldRequest;
  return { held, responses };
}

for (const [name, node] of [
  ['draining', { draining: true }],
  ['overloaded', { overloaded: true }],
  ['full', { room: 0 }],
] as const) {
  test(`a ${name} node claims nothing: a held request gets 481 at once, the beat takes none`, async () => {
    const { fake, snapshots, takeover } = setup(node);
    const { held, responses } = heldRequest();
    assert.equal(takeover.hold(held), true);
    await settle();
    assert.deepEqual(responses, [481]);
    assert.equal(snapshots.claims.length, 0, 'not claimed');
    fake.advance(DEAD_AFTER_MS / 5);
    assert.deepEqual(
      snapshots.beats.map(({ maxClaims, takesNone }) => ({ maxClaims, takesNone })),
      [{ maxClaims: 0, takesNone: true }],
    );
    await takeover.close();
  });
}

test('a claim answered after stop() began resumes nothing; the held request gets 481', async () => {
  const { snapshots, takeover, outcome } = setup();
  const { held, responses } = heldRequest();
  takeover.hold(held);
  await settle();
  assert.equal(snapshots.claims.length, 1);
  const closed = takeover.close();
  snapshots.claims[0]?.answer({ kind: 'claimed', call: CLAIMED });
  await closed;
  await settle();
  assert.equal(outcome.unusable, 0, 'not resumed');
  assert.deepEqual(responses, [481]);
});

test('a beat answered after stop() began resumes nothing', async () => {
  const { fake, snapshots, takeover, outcome } = setup();
  fake.advance(DEAD_AFTER_MS / 5);
  assert.equal(snapshots.beats.length, 1);
  const closed = takeover.close();
  snapshots.beats[0]?.answer({ claimed: [CLAIMED], unconfirmed: [] });
  await closed;
  await settle();
  assert.equal(outcome.unusable, 0, 'not resumed');
});

test('after a stall past deadAfterMs, the calls written before go out marked until Redis hears a beat', async () => {
  const { fake, stall, snapshots, takeover } = setup({ calls: 1 });
  takeover.answered();
  await settle();
  fake.advance(DEAD_AFTER_MS / 5); // the first beat
  snapshots.beats[0]?.answer({ claimed: [], unconfirmed: [] });
  await settle();
  stall.ms += DEAD_AFTER_MS + 500; // the event loop was blocked: no timer ran meanwhile
  fake.advance(500); // the next write, then a beat
  await settle();
  snapshots.beats[1]?.answer({ claimed: [], unconfirmed: [] });
  for (let i = 0; i < 2; i++) {
    fake.advance(500); // the next write
    await settle();
  }
  assert.deepEqual(
    snapshots.writes.map((writes) => writes.map((write) => write.mayBeTakenOver)),
    [[false], [true], [true], [false]],
    'first write: its own; after the stall, until a write follows a beat Redis answered: marked',
  );
  await takeover.close();
});

test('a claimed call still being resumed (no view until answered) is not removed by a write', async () => {
  const adopted = Object.assign(new EventEmitter(), { id: 'sid-1' }) as unknown as CallController;
  const { fake, snapshots, takeover, outcome } = setup({ adopted });
  const snapshot = snapshotOf(view(), 'node-a') as string;
  fake.advance(DEAD_AFTER_MS / 5);
  snapshots.beats[0]?.answer({
    claimed: [
      { sipCallId: 'call-1@127.0.0.1', snapshot, position: positionOf(view().leg, 0), generation: 2 },
    ],
    unconfirmed: [],
  });
  await settle();
  assert.equal(outcome.unusable, 0, 'resumed');
  fake.advance(500); // a write while the re-INVITE is out
  await settle();
  assert.deepEqual(snapshots.removed, [], 'not taken for ended');
  await takeover.close();
});

/** A snapshot that resumes (node-a's answered call), and a call adopted for it. */
function resumable() {
  const emitter = Object.assign(new EventEmitter(), { id: 'sid-1' });
  const adopted = emitter as unknown as CallController;
  const call: ClaimedCall = {
    sipCallId: 'call-1@127.0.0.1',
    snapshot: snapshotOf(view(), 'node-a') as string,
    position: positionOf(view().leg, 0),
    generation: 3,
  };
  return { emitter, adopted, call };
}

test('a held request whose claim timed out resumes the call when the retry answers mine', async () => {
  const { emitter, adopted, call } = resumable();
  const { fake, snapshots, takeover, outcome } = setup({ adopted });
  let resumed = false;
  const { held, responses } = heldRequest(call.sipCallId, () => resumed);
  emitter.once('state', () => (resumed = true));
  takeover.hold(held);
  await settle();
  snapshots.claims[0]?.answer(Promise.reject(new Error('redis command timeout')) as never);
  await settle();
  fake.advance(100); // the next poll claims again: Redis ran the first claim meanwhile
  await settle();
  assert.equal(snapshots.claims.length, 2);
  snapshots.claims[1]?.answer({ kind: 'mine', call });
  await settle();
  assert.equal(outcome.adopted, 1, 'resumed');
  emitter.emit('state', 'answered');
  assert.deepEqual(responses, [], 'delivered to the resumed call, not 481');
  // A beat in flight meanwhile reports the same call, unconfirmed: not resumed twice.
  fake.advance(DEAD_AFTER_MS / 5);
  snapshots.beats[0]?.answer({ claimed: [], unconfirmed: [call] });
  await settle();
  assert.equal(outcome.adopted, 1, 'resumed once');
  await takeover.close();
});

test('a beat resumes a call it claimed whose reply was lost, once, and gives back what it has no room for', async () => {
  const { adopted, call } = resumable();
  const node: NodeState = { adopted };
  const { fake, snapshots, takeover, outcome } = setup(node);
  const { held } = heldRequest(call.sipCallId);
  takeover.hold(held); // its claim is in flight while the beat reports the call
  await settle();
  assert.equal(snapshots.claims.length, 1);
  fake.advance(DEAD_AFTER_MS / 5);
  snapshots.beats[0]?.answer({ claimed: [], unconfirmed: [call] });
  await settle();
  assert.equal(outcome.adopted, 1, 'resumed');
  snapshots.claims[0]?.answer({ kind: 'mine', call });
  await settle();
  assert.equal(outcome.adopted, 1, 'not resumed twice');
  node.room = 0;
  const other = { ...call, sipCallId: 'other@carrier' };
  fake.advance(DEAD_AFTER_MS / 5);
  snapshots.beats[1]?.answer({ claimed: [], unconfirmed: [call, other] });
  await settle();
  assert.deepEqual(snapshots.givenBack, [['other@carrier']], 'only the unknown call, given back');
  assert.equal(outcome.adopted, 1);
  await takeover.close();
});

test('a call whose writes missed their deadline is sent whole again, and removed when it ends', async () => {
  const { fake, snapshots, takeover, calls } = setup({ calls: 1 });
  snapshots.failWrites = 2; // no reply, yet Redis may have run them
  takeover.answered();
  await settle();
  fake.advance(500);
  await settle();
  assert.deepEqual(
    snapshots.writes.map((writes) => writes.map((write) => write.snapshot !== undefined)),
    [[true], [true]],
    'what Redis holds is unknown: the snapshot goes whole',
  );
  calls.length = 0; // the caller hangs up before the next write
  fake.advance(500);
  await settle();
  assert.deepEqual(snapshots.removed, ['call-1@127.0.0.1'], 'its end removes it all the same');
  await takeover.close();
});

test('cut off from Redis past deadAfterMs, a node takes back no call Redis kept no owner for; another node owning it lets it go', async () => {
  const { fake, snapshots, takeover, calls } = setup();
  const terminated: string[] = [];
  calls.push(liveCall('before@carrier', terminated));
  takeover.answered();
  await settle();
  fake.advance(DEAD_AFTER_MS / 5);
  snapshots.beats[0]?.answer({ claimed: [], unconfirmed: [] });
  await settle();
  snapshots.away = true; // the other nodes still reach Redis and count this one dead
  calls.push(liveCall('during@carrier', terminated)); // answered meanwhile: this node's alone
  takeover.answered();
  for (let ms = 0; ms < DEAD_AFTER_MS + 500; ms += 100) {
    fake.advance(100);
    await settle();
  }
  assert.equal(snapshots.writes.length, 1, 'nothing sent while Redis is away');
  snapshots.away = false; // back, with its data but no owner for the call written before
  const marks = () => snapshots.writes.at(-1)?.map((write) => [write.sipCallId, write.mayBeTakenOver]);
  snapshots.ownerless.add('before@carrier');
  while (snapshots.writes.length < 2) {
    fake.advance(100);
    await settle();
  }
  assert.deepEqual(marks(), [
    ['before@carrier', true],
    ['during@carrier', false],
  ]);
  assert.deepEqual(terminated, [], "the call may be this node's alone: it goes on");
  for (let ms = 0; ms < 1000; ms += 100) {
    snapshots.beats.at(-1)?.answer({ claimed: [], unconfirmed: [] }); // Redis hears this node again
    fake.advance(100);
    await settle();
  }
  assert.deepEqual(
    marks(),
    [
      ['before@carrier', true],
      ['during@carrier', false],
    ],
    'still not taken back',
  );
  // The node carrying the call wrote it since.
  snapshots.replies.push({ lost: ['before@carrier'], missing: [], unowned: [], dataLost: false });
  fake.advance(500);
  await settle();
  assert.deepEqual(terminated, ['before@carrier'], 'let go to the node that owns it');
  await takeover.close();
});

/** Runs the write timer until `count` writes went out. */
async function writesUntil(fake: FakeClock, snapshots: FakeSnapshots, count: number): Promise<void> {
  for (let ms = 0; snapshots.writes.length < count && ms < 10_000; ms += 100) {
    fake.advance(100);
    await settle();
  }
}

test('after Redis lost its data, a call no longer snapshotted is written again, unmarked from then on', async () => {
  const { fake, snapshots, takeover, calls } = setup();
  calls.push(liveCall('before@carrier', []));
  snapshots.ownerless.add('before@carrier');
  snapshots.replies.push({ lost: [], missing: [], unowned: ['before@carrier'], dataLost: false });
  takeover.answered();
  await settle();
  await writesUntil(fake, snapshots, 2);
  assert.equal(snapshots.writes[1]?.[0]?.mayBeTakenOver, true, 'marked: Redis kept no owner for it');
  // Redis restarted empty: the write re-owned the call, marked or not, at its generation.
  snapshots.ownerless.clear();
  snapshots.replies.push({ lost: [], missing: [], unowned: [], dataLost: true });
  await writesUntil(fake, snapshots, 4);
  assert.deepEqual(
    snapshots.writes
      .slice(2)
      .map((writes) => writes.map(({ mayBeTakenOver, generation }) => ({ mayBeTakenOver, generation }))),
    [[{ mayBeTakenOver: true, generation: 1 }], [{ mayBeTakenOver: false, generation: 1 }]],
    "this node's again",
  );
  await takeover.close();
});

test('a resumed call is written and removed at its claim’s generation; one answered here at the first', async () => {
  const { emitter, adopted, call } = resumable();
  const { fake, snapshots, takeover, calls } = setup({ adopted });
  calls.push(liveCall('here@carrier', []));
  fake.advance(DEAD_AFTER_MS / 5);
  snapshots.beats[0]?.answer({ claimed: [call], unconfirmed: [] });
  await settle();
  emitter.emit('state', 'answered'); // the re-INVITE is out: the call has a view from now on
  calls.push({ id: 'sid-1', takeoverView: () => view() } as unknown as CallController);
  await writesUntil(fake, snapshots, 1);
  assert.deepEqual(
    snapshots.writes[0]?.map(({ sipCallId, generation }) => [sipCallId, generation]),
    [
      ['here@carrier', 1],
      ['call-1@127.0.0.1', 3],
    ],
  );
  calls.pop(); // the resumed call ends
  await writesUntil(fake, snapshots, 2);
  assert.deepEqual(snapshots.removed, ['call-1@127.0.0.1']);
  assert.deepEqual(snapshots.removedAt, [3], 'its tombstone yields to no lower generation');
  await takeover.close();
});

test('a call whose snapshot Redis lost is sent whole at once, not an interval later', async () => {
  const { snapshots, takeover } = setup({ calls: 1 });
  takeover.answered();
  await settle();
  snapshots.replies.push({ lost: [], missing: ['call-1@127.0.0.1'], unowned: [], dataLost: true });
  takeover.answered(); // the next write finds Redis restarted empty
  await settle();
  await settle();
  assert.deepEqual(
    snapshots.writes.map((writes) => writes.map((write) => write.snapshot !== undefined)),
    [[true], [false], [true]],
    'no timer ran: the whole snapshot followed the write that found it missing',
  );
  await takeover.close();
});
