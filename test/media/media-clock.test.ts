import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MediaClock } from '../../src/media/media-clock.js';
import { FakeClock } from '../../src/util/index.js';

test('ticks at exact absolute deadlines', () => {
  const clock = new FakeClock(1000);
  const media = new MediaClock(clock, 20);
  const ticks: number[] = [];
  const seen: number[] = [];
  media.subscribe((tickMs) => {
    ticks.push(tickMs);
    seen.push(clock.now());
  });
  media.start();
  clock.advance(100);
  assert.deepEqual(ticks, [1020, 1040, 1060, 1080, 1100]);
  assert.deepEqual(seen, ticks);
  assert.equal(media.frameMs, 20);
});

test('one timer for the whole clock, whatever the number of subscribers', () => {
  const clock = new FakeClock();
  const media = new MediaClock(clock);
  for (let i = 0; i < 100; i++) media.subscribe(() => {});
  media.start();
  assert.equal(clock.pendingTimers(), 1);
  media.stop();
  assert.equal(clock.pendingTimers(), 0);
});

test('a late timer catches up missed ticks, bounded, without drifting', () => {
  const clock = new FakeClock();
  const media = new MediaClock(clock, 20);
  const ticks: number[] = [];
  media.subscribe((t) => ticks.push(t));
  // Intercept setTimer so that one firing comes `lateBy` ms after its deadline.
  const original = clock.setTimer.bind(clock);
  let lateBy = 50;
  clock.setTimer = (ms, fn) => {
    const extra = lateBy;
    lateBy = 0;
    return original(ms + extra, fn);
  };
  media.start();
  clock.advance(120);
  assert.deepEqual(ticks, [20, 40, 60, 80, 100, 120]);

  // A stall of 1 s: only 5 ticks are replayed at once, the other 46 are dropped and counted.
  ticks.length = 0;
  lateBy = 1000;
  clock.advance(1100);
  assert.equal(media.droppedTicks, 46);
  // The timer armed at 120 fires on time (140); the next one comes 1 s late.
  assert.deepEqual(ticks.slice(0, 6), [140, 1080, 1100, 1120, 1140, 1160]);
  assert.equal(ticks.at(-1), 1220);
  // Deadlines stay on the 20 ms grid.
  assert.ok(ticks.every((t) => t % 20 === 0));
});

test('unsubscribe stops delivery; stop() stops the timer', () => {
  const clock = new FakeClock();
  const media = new MediaClock(clock);
  let a = 0;
  let b = 0;
  const unsubscribeA = media.subscribe(() => a++);
  media.subscribe(() => b++);
  media.start();
  clock.advance(40);
  unsubscribeA();
  clock.advance(40);
  assert.equal(a, 2);
  assert.equal(b, 4);
  media.stop();
  clock.advance(100);
  assert.equal(b, 4);
});

test('a throwing subscriber is isolated and reported', () => {
  const clock = new FakeClock();
  const errors: unknown[] = [];
  const media = new MediaClock(clock, 20, (error) => errors.push(error));
  let good = 0;
  media.subscribe(() => {
    throw new Error('boom');
  });
  media.subscribe(() => good++);
  media.start();
  clock.advance(60);
  assert.equal(good, 3);
  assert.equal(errors.length, 3);
  assert.equal(media.errors, 3);
});

test('tick() drives subscribers manually (replay)', () => {
  const media = new MediaClock(new FakeClock());
  const ticks: number[] = [];
  media.subscribe((t) => ticks.push(t));
  media.tick(5);
  media.tick(25);
  assert.deepEqual(ticks, [5, 25]);
});
