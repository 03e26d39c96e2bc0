import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../src/util/index.js';

test('FakeClock fires timers in due order at their own time', () => {
  const clock = new FakeClock();
  const fired: Array<[string, number]> = [];
  clock.setTimer(50, () => fired.push(['b', clock.now()]));
  clock.setTimer(10, () => {
    fired.push(['a', clock.now()]);
    clock.setTimer(15, () => fired.push(['c', clock.now()]));
  });
  const cancelled = clock.setTimer(20, () => fired.push(['x', clock.now()]));
  cancelled.cancel();
  clock.advance(100);
  assert.deepEqual(fired, [
    ['a', 10],
    ['c', 25],
    ['b', 50],
  ]);
  assert.equal(clock.now(), 100);
  assert.equal(clock.pendingTimers(), 0);
});

test('FakeClock refuses to go backwards', () => {
  const clock = new FakeClock(5);
  assert.throws(() => clock.advanceTo(1), RangeError);
});
