/**
 * CallTakeover against a fake store: a node that cannot take a call (draining, overloaded,
 * full) claims nothing and answers a held request 481 at once; a claim or beat still in flight
 * when the node stops resumes nothing; a node whose event loop stalled past deadAfterMs marks
 * its calls so that one no node owns any more is let go rather than taken back.
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
import { view } from './helpers/takeover-view.js';

const DEAD_AFTER_MS = 1500;
const settle = () => new Promise((resolve) => setImmediate(resolve));
const CLAIMED: ClaimedCall = { sipCallId: 'x@carrier', snapshot: '{}', position: '{}' };

type Write = Parameters<CallSnapshots['write']>[0][number];

/** A store whose beats and claims answer when the test says. */
class FakeSnapshots {
  readonly beats: Array<{ maxClaims: number; takesNone: boolean; answer(calls: ClaimedCall[]): void }> = [];
  readonly claims: Array<{
    sipCallId: string;
    answer(kind: Awaited<ReturnType<CallSnapshots['claim']>>): void;
  }> = [];
  readonly writes: Write[][] = [];
  beat(maxClaims: number, takesNone: boolean): Promise<ClaimedCall[]> {
    return new Promise((answer) => this.beats.push({ maxClaims, takesNone, answer }));
  }
  claim(sipCallId: string) {
    return new Promise<Awaited<ReturnType<CallSnapshots['claim']>>>((answer) =>
      this.claims.push({ sipCallId, answer }),
    );
  }
  async write(writes: Write[]) {
    this.writes.push(writes);
    return { lost: [], missing: [] };
  }
  readonly removed: string[] = [];
  async remove(sipCallId: string): Promise<void> {
    this.removed.push(sipCallId);
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
  const outcome = { unusable: 0 };
  const calls = Array.from(
    { length: node.calls ?? 0 },
    () => ({ id: 'sid-1', takeoverView: () => view() }) as unknown as CallController,
  );
  const takeover = new CallTakeover({
    snapshots: snapshots as unknown as CallSnapshots,
    config: { enabled: true, deadAfterMs: DEAD_AFTER_MS, snapshotIntervalMs: 500 },
    nodeId: 'node-b',
    clock,
    logger: silentLogger,
    resumeContext: () =>
      node.adopted
        ? ({
            config: { trunks: new Map([['proxy', { codecs: ['PCMU'] }]]), gateway: { routes: [] } },
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
    adopt: () => node.adopted ?? assert.fail('nothing adopted'),
    unusable: () => outcome.unusable++,
  });
  takeover.start();
  return { fake, stall, snapshots, takeover, outcome };
}

function heldRequest(): { held: HeldRequest; responses: number[] } {
  const responses: number[] = [];
  const held = {
    request: { callId: () => 'x@carrier' },
    deliver: () => false,
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
  snapshots.beats[0]?.answer([CLAIMED]);
  await closed;
  await settle();
  assert.equal(outcome.unusable, 0, 'not resumed');
});

test('after a stall past deadAfterMs, the calls written before go out marked: unowned is lost', async () => {
  const { fake, stall, snapshots, takeover } = setup({ calls: 1 });
  takeover.answered();
  await settle();
  fake.advance(DEAD_AFTER_MS / 5); // the first beat
  snapshots.beats[0]?.answer([]);
  await settle();
  stall.ms += DEAD_AFTER_MS + 500; // the event loop was blocked: no timer ran meanwhile
  for (let i = 0; i < 2; i++) {
    fake.advance(500); // the next write
    await settle();
  }
  assert.deepEqual(
    snapshots.writes.map((writes) => writes.map((write) => write.unownedIsLost)),
    [[false], [true], [false]],
    'first write: its own; after the stall: lost if unowned; then its own again',
  );
  await takeover.close();
});

test('a claimed call still being resumed (no view until answered) is not removed by a write', async () => {
  const adopted = Object.assign(new EventEmitter(), { id: 'sid-1' }) as unknown as CallController;
  const { fake, snapshots, takeover, outcome } = setup({ adopted });
  const snapshot = snapshotOf(view(), 'node-a') as string;
  fake.advance(DEAD_AFTER_MS / 5);
  snapshots.beats[0]?.answer([
    { sipCallId: 'call-1@127.0.0.1', snapshot, position: positionOf(view().leg, 0) },
  ]);
  await settle();
  assert.equal(outcome.unusable, 0, 'resumed');
  fake.advance(500); // a write while the re-INVITE is out
  await settle();
  assert.deepEqual(snapshots.removed, [], 'not taken for ended');
  await takeover.close();
});
