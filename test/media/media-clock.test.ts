import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MediaClock } from '../../src/media/media-clock.js';
import { type Clock, FakeClock } from '../../src/util/index.js';

test('ticks at exact absolute deadlines', () => {
  const clock = new FakeClock(1000);
  const media = new MediaClock(clock, 20);
  const ticks: number[] = [];
  const seen: number[] = [];
  media.on('tick', (tickMs) => {
    ticks.push(tickMs);
    seen.push(clock.now());
  });
  media.start();
  clock.advance(100);
  assert.deepEqual(ticks, [1020, 1040, 1060, 1080, 1100]);
  assert.deepEqual(seen, ticks);
  assert.equal(media.frameMs, 20);
});

test('one timer for the whole clock, whatever the number of listeners', () => {
  const clock = new FakeClock();
  const media = new MediaClock(clock);
  for (let i = 0; i < 100; i++) media.on('tick', () => {});
  media.start();
  assert.equal(clock.pendingTimers(), 1);
  media.stop();
  assert.equal(clock.pendingTimers(), 0);
});

/** Makes the next timer firings of `clock` come late, as when the event loop is busy. */
function stallable(clock: FakeClock): { stallNextTimer(ms: number): void } {
  const original = clock.setTimer.bind(clock);
  let lateBy = 0;
  clock.setTimer = (ms, fn) => {
    const extra = lateBy;
    lateBy = 0;
    return original(ms + extra, fn);
  };
  return {
    stallNextTimer: (ms) => {
      lateBy = ms;
    },
  };
}

test('a stall delays ticks but loses none: the missed ones run back to back with their own times', () => {
  const clock = new FakeClock();
  const media = new MediaClock(clock, 20);
  const ticks: number[] = [];
  const seenAt: number[] = [];
  media.on('tick', (t) => {
    ticks.push(t);
    seenAt.push(clock.now());
  });
  const loop = stallable(clock);
  loop.stallNextTimer(50);
  media.start();
  clock.advance(120);
  assert.deepEqual(ticks, [20, 40, 60, 80, 100, 120]);

  // One peer's burst holds the loop for 500 ms: the timer armed at 120 fires on time (140),
  // the next one 500 ms late, and runs the 25 ticks it missed at once.
  ticks.length = 0;
  seenAt.length = 0;
  loop.stallNextTimer(500);
  clock.advance(700);
  assert.deepEqual(
    ticks,
    Array.from({ length: 35 }, (_, i) => 140 + 20 * i),
  );
  assert.equal(seenAt.filter((at) => at === 660).length, 26, 'the missed ticks and the one due, at once');
  // Late: 20 and 40 of the first stall, and the 25 missed in this one.
  assert.deepEqual(media.stats(), {
    ticks: 41,
    lateTicks: 27,
    ticksSkipped: 0,
    overruns: 0,
    listenerErrors: 0,
  });
});

test('after a stall the catch-up waits a turn, so what arrived during the stall is read before the ticks', () => {
  const clock = new FakeClock();
  const media = new MediaClock(clock, 20);
  const events: string[] = [];
  media.on('tick', (t) => events.push(`tick ${t}`));
  const loop = stallable(clock);
  media.start();
  loop.stallNextTimer(100);
  clock.advance(20);
  // RTP that arrived during the stall: read in the same turn as the late timer fires, after it.
  clock.setTimer(120, () => events.push('packets read'));
  clock.advance(120);
  assert.deepEqual(events, [
    'tick 20',
    'packets read',
    ...Array.from({ length: 6 }, (_, i) => `tick ${40 + 20 * i}`),
  ]);
  assert.equal(media.stats().lateTicks, 5);
});

test('beyond a second behind, the oldest ticks are skipped and counted, and the grid holds', () => {
  const clock = new FakeClock();
  const media = new MediaClock(clock, 20);
  const ticks: number[] = [];
  media.on('tick', (t) => ticks.push(t));
  const loop = stallable(clock);
  media.start();
  clock.advance(20);
  loop.stallNextTimer(3000);
  clock.advance(3100);
  // 40 was armed before the stall; the timer for 60 fires at 3060 with 151 ticks due: the
  // last 50 (one second) run, the 101 before them are skipped.
  assert.equal(media.stats().ticksSkipped, 101);
  assert.deepEqual(ticks.slice(0, 4), [20, 40, 2080, 2100]);
  assert.equal(ticks.at(-1), 3120);
  assert.ok(ticks.every((t) => t % 20 === 0));
});

/** A clock whose time, as the media clock reads it, also advances by the work its ticks do. */
function working(fake: FakeClock): { clock: Clock; work(ms: number): void } {
  let workMs = 0;
  return {
    clock: {
      now: () => fake.now() + workMs,
      wallNow: () => fake.wallNow() + workMs,
      setTimer: (ms, fn) => fake.setTimer(ms, fn),
    },
    work: (ms) => {
      workMs += ms;
    },
  };
}

test('after a stall the catch-up runs in slices of at most a frame of work, reading I/O between them', () => {
  const fake = new FakeClock();
  const { clock, work } = working(fake);
  const media = new MediaClock(clock, 20);
  const ticks: number[] = [];
  // The sockets, read in every loop turn (a zero timer re-armed) from the catch-up's start.
  let reads = 0;
  const poll = () => {
    if (++reads < 20) fake.setTimer(0, poll);
  };
  /** Late ticks by the number of socket reads before them: one entry per slice. */
  const slices = new Map<number, number>();
  media.on('tick', (t) => {
    ticks.push(t);
    if (clock.now() - t >= 20) slices.set(reads, (slices.get(reads) ?? 0) + 1);
    work(4); // every call's work: 4 ms a tick
    if (t === 60) fake.setTimer(0, poll);
  });
  const loop = stallable(fake);
  media.start();
  fake.advance(20);
  // The timer armed at 40 (for 60) fires 500 ms late: 26 ticks are due, and more fall due
  // while they run (4 ms each).
  loop.stallNextTimer(500);
  fake.advance(600);

  assert.deepEqual(
    ticks,
    Array.from({ length: ticks.length }, (_, i) => 20 * (i + 1)),
    'every tick once, in order, on the grid',
  );
  // Slices of 5 ticks (a frame of work), the sockets read between each and the next.
  assert.deepEqual([...slices.values()], [5, 5, 5, 5, 5, 5, 1]);
  const stats = media.stats();
  assert.equal(stats.lateTicks, 31);
  assert.equal(stats.ticksSkipped, 0);
  assert.equal(stats.overruns, 0, 'no slice ran past a frame');
});

test('a catch-up in slices still skips, and counts, what falls more than a second behind', () => {
  const fake = new FakeClock();
  const { clock, work } = working(fake);
  const media = new MediaClock(clock, 20);
  const ticks: number[] = [];
  media.on('tick', (t) => {
    ticks.push(t);
    work(4);
  });
  const loop = stallable(fake);
  media.start();
  fake.advance(20);
  loop.stallNextTimer(3000);
  fake.advance(3200);
  const stats = media.stats();
  // 151 ticks due when the timer for 40 fires at 3040: the 101 oldest are skipped.
  assert.ok(stats.ticksSkipped >= 101, `skipped ${stats.ticksSkipped}`);
  assert.ok(
    ticks.every((t, i) => i === 0 || t > (ticks[i - 1] ?? 0)),
    'in order, none twice',
  );
  assert.ok(ticks.every((t) => t % 20 === 0));
  assert.equal(stats.ticks, ticks.length);
  assert.equal(ticks.length + stats.ticksSkipped, (ticks.at(-1) ?? 0) / 20, 'every tick run or skipped');
});

test('listeners that overrun a frame are counted', () => {
  const fake = new FakeClock();
  let workMs = 0;
  // Time as the listeners see it: the fake clock plus the work done inside ticks.
  const clock: Clock = {
    now: () => fake.now() + workMs,
    wallNow: () => fake.wallNow() + workMs,
    setTimer: (ms, fn) => fake.setTimer(ms, fn),
  };
  const media = new MediaClock(clock, 20);
  let ticks = 0;
  media.on('tick', () => {
    if (++ticks === 2) workMs += 30; // one tick's work takes 30 ms
  });
  media.start();
  fake.advance(100);
  assert.equal(media.stats().overruns, 1);
  assert.equal(media.stats().ticksSkipped, 0);
});

test('off() stops delivery; stop() stops the timer', () => {
  const clock = new FakeClock();
  const media = new MediaClock(clock);
  let a = 0;
  let b = 0;
  const countA = () => a++;
  media.on('tick', countA);
  media.on('tick', () => b++);
  media.start();
  clock.advance(40);
  media.off('tick', countA);
  clock.advance(40);
  assert.equal(a, 2);
  assert.equal(b, 4);
  media.stop();
  clock.advance(100);
  assert.equal(b, 4);
});

test('a throwing listener is isolated and reported', () => {
  const clock = new FakeClock();
  const errors: unknown[] = [];
  const media = new MediaClock(clock, 20, (error) => errors.push(error));
  let good = 0;
  media.on('tick', () => {
    throw new Error('boom');
  });
  media.on('tick', () => good++);
  media.start();
  clock.advance(60);
  assert.equal(good, 3);
  assert.equal(errors.length, 3);
  assert.equal(media.stats().listenerErrors, 3);
});

test('tick() drives listeners manually (replay)', () => {
  const media = new MediaClock(new FakeClock());
  const ticks: number[] = [];
  media.on('tick', (t) => ticks.push(t));
  media.tick(5);
  media.tick(25);
  assert.deepEqual(ticks, [5, 25]);
});
