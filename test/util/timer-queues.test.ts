import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock, TimerQueues } from '../../src/util/index.js';

test('TimerQueues fires each timer at its own time, one clock timer per delay', () => {
  const clock = new FakeClock();
  const timers = new TimerQueues(clock);
  const fired: Array<[string, number]> = [];
  timers.setTimer(100, () => fired.push(['a', clock.now()]));
  clock.advance(10);
  timers.setTimer(100, () => fired.push(['b', clock.now()]));
  timers.setTimer(30, () => {
    fired.push(['c', clock.now()]);
    timers.setTimer(30, () => fired.push(['d', clock.now()]));
  });
  assert.equal(clock.pendingTimers(), 2, 'one per delay, not one per timer');
  clock.advance(200);
  assert.deepEqual(fired, [
    ['c', 40],
    ['d', 70],
    ['a', 100],
    ['b', 110],
  ]);
  assert.equal(clock.pendingTimers(), 0);
});

test('TimerQueues: a cancelled timer never fires; cancelling the last releases the clock timer', () => {
  const clock = new FakeClock();
  const timers = new TimerQueues(clock);
  const fired: string[] = [];
  const first = timers.setTimer(50, () => fired.push('first'));
  const second = timers.setTimer(50, () => fired.push('second'));
  first.cancel();
  first.cancel();
  clock.advance(50);
  assert.deepEqual(fired, ['second']);
  second.cancel();
  const third = timers.setTimer(50, () => fired.push('third'));
  third.cancel();
  assert.equal(clock.pendingTimers(), 0);
  clock.advance(100);
  assert.deepEqual(fired, ['second']);
});

test('TimerQueues: a zero delay fires on the next advance; a throwing callback does not stop the others', () => {
  const clock = new FakeClock();
  const timers = new TimerQueues(clock);
  const fired: number[] = [];
  timers.setTimer(0, () => {
    fired.push(1);
    throw new Error('callback failed');
  });
  timers.setTimer(0, () => fired.push(2));
  assert.throws(() => clock.advance(0), /callback failed/);
  clock.advance(0);
  assert.deepEqual(fired, [1, 2]);
  assert.equal(clock.pendingTimers(), 0);
});

test('TimerQueues: 5,000 timers of one delay each fire once, on one clock timer at a time', () => {
  const clock = new FakeClock();
  const timers = new TimerQueues(clock);
  let fired = 0;
  for (let i = 0; i < 5000; i++) {
    timers.setTimer(1000, () => fired++);
    clock.advance(1);
  }
  clock.advance(1000);
  assert.equal(fired, 5000);
  assert.equal(clock.pendingTimers(), 0);
});
