import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type SupervisedCall, superviseCall } from '../../src/gateway/call-supervision.js';
import { FakeClock } from '../../src/util/index.js';

/** A call answered at `startedAtMs` with a 10 s limit and 5 s of RTP silence allowed. */
function call(clock: FakeClock, startedAtMs = clock.now()) {
  const ends: string[] = [];
  const supervised: SupervisedCall & { ends: string[]; inactive: number } = {
    clock,
    maxDurationMs: 10_000,
    rtpInactivityMs: 5_000,
    startedAtMs,
    inactive: 0,
    ends,
    inactiveMs: () => supervised.inactive,
    ended: () => ends.length > 0,
    end: (cause) => ends.push(cause),
  };
  return supervised;
}

test('the calls on a clock share one timer, and none is left once they are gone', () => {
  const clock = new FakeClock();
  const calls = [call(clock), call(clock), call(clock)];
  const handles = calls.map((c) => superviseCall(c));
  assert.equal(clock.pendingTimers(), 1);
  clock.advance(3_000);
  assert.equal(clock.pendingTimers(), 1);
  handles[0]?.cancel();
  calls[1]?.ends.push('hangup'); // ended elsewhere: the next sweep lets it go
  clock.advance(1_000);
  handles[2]?.cancel();
  assert.equal(clock.pendingTimers(), 0);
  assert.deepEqual(
    calls.map((c) => c.ends),
    [[], ['hangup'], []],
  );
});

test('each call ends at the first sweep past its own limit; the others go on', () => {
  const clock = new FakeClock();
  const old = call(clock, -9_500);
  const silent = call(clock);
  const fine = call(clock);
  for (const c of [old, silent, fine]) superviseCall(c);
  clock.advance(1_000);
  assert.deepEqual(old.ends, ['max_duration']);
  silent.inactive = 5_001;
  clock.advance(1_000);
  assert.deepEqual(silent.ends, ['rtp_timeout']);
  clock.advance(7_000);
  assert.deepEqual(fine.ends, []);
  clock.advance(1_000);
  assert.deepEqual(fine.ends, []);
  clock.advance(1_000);
  assert.deepEqual(fine.ends, ['max_duration']);
  assert.equal(clock.pendingTimers(), 0);
});

test('a call whose end throws is not checked again, and the others stay supervised', () => {
  const clock = new FakeClock();
  const broken = call(clock, -10_500);
  broken.end = () => {
    throw new Error('end failed');
  };
  const next = call(clock, -10_000 + 1_500);
  superviseCall(broken);
  superviseCall(next);
  assert.throws(() => clock.advance(1_000), /end failed/);
  clock.advance(1_000);
  assert.deepEqual(next.ends, ['max_duration']);
  clock.advance(5_000);
  assert.equal(clock.pendingTimers(), 0);
});
