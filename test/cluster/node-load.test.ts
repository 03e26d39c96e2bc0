import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DelayHistogram, NodeLoad, type OverloadThresholds } from '../../src/cluster/index.js';
import { FakeClock } from '../../src/util/index.js';

class FakeHistogram implements DelayHistogram {
  p99Ns = 0;
  resets = 0;
  enabled = false;
  percentile(): number {
    return this.p99Ns;
  }
  reset(): void {
    this.resets++;
  }
  enable(): void {
    this.enabled = true;
  }
  disable(): void {
    this.enabled = false;
  }
}

function setup(overload?: OverloadThresholds) {
  const clock = new FakeClock();
  const histogram = new FakeHistogram();
  const state = { calls: 0, maxCalls: 3, draining: false };
  const ticks = { ticks: 0, lateTicks: 0, ticksSkipped: 0 };
  const loop = { idle: 0, active: 0 };
  const threads: Array<{ threadId: number; idle: number; active: number }> = [];
  const load = new NodeLoad({
    clock,
    histogram,
    utilization: () => ({ ...loop }),
    threadUtilizations: () => threads.map((thread) => ({ ...thread })),
    mediaClockTicks: () => ({ ...ticks }),
    activeCalls: () => state.calls,
    maxCalls: () => state.maxCalls,
    draining: () => state.draining,
    overload: () => overload,
  });
  return { clock, histogram, state, ticks, loop, threads, load };
}

test('OPTIONS: 200 with the load header, 503 at maxCalls and while draining', () => {
  const { state, load } = setup();
  assert.equal(load.optionsStatus(), undefined);
  assert.deepEqual(load.headers(), [['X-Patchbay-Calls', '0/3']]);
  state.calls = 3;
  assert.equal(load.condition(), 'full');
  assert.equal(load.optionsStatus(), 503);
  assert.deepEqual(load.headers(), [['X-Patchbay-Calls', '3/3']]);
  state.calls = 1;
  state.draining = true;
  assert.equal(load.condition(), 'draining');
  load.close();
});

test('the p99 event-loop delay is the last complete window’s however often it is read: only the clock closes a window', () => {
  const { clock, histogram, load } = setup();
  histogram.p99Ns = 60e6;
  clock.advance(4999);
  assert.equal(load.eventLoopDelayP99Ms, 0, 'no window closed yet');
  clock.advance(1);
  for (let read = 0; read < 3; read++) assert.equal(load.eventLoopDelayP99Ms, 50);
  assert.equal(histogram.resets, 1, 'reads reset nothing');
  histogram.p99Ns = 30e6;
  clock.advance(4999);
  assert.equal(load.eventLoopDelayP99Ms, 50);
  clock.advance(1);
  assert.equal(load.eventLoopDelayP99Ms, 20);
  assert.equal(histogram.resets, 2);
  load.close();
});

test('overload: the last window’s p99 event-loop delay over the threshold turns OPTIONS to 503', () => {
  const { clock, histogram, load } = setup({ eventLoopDelayP99Ms: 100, windowSec: 2 });
  // Node's histogram holds the whole interval between its 10 ms timer's runs: 150 ms late.
  histogram.p99Ns = 160e6;
  assert.equal(load.condition(), 'ok', 'no window closed yet');
  clock.advance(2000);
  assert.equal(load.eventLoopDelayP99Ms, 150);
  assert.equal(load.condition(), 'overloaded');
  assert.equal(histogram.resets, 1, 'each window starts afresh');
  histogram.p99Ns = 20e6;
  clock.advance(2000);
  assert.equal(load.condition(), 'ok');
  load.close();
  load.close();
  assert.equal(histogram.enabled, false);
});

test('without overload thresholds the delay alone never refuses', () => {
  const { clock, histogram, load } = setup();
  histogram.p99Ns = 5e9;
  clock.advance(5000);
  assert.equal(load.condition(), 'ok');
  load.close();
});

test('overload: the share of media-clock ticks run late or skipped in the last window, against its threshold', () => {
  const { clock, histogram, ticks, load } = setup({ mediaClockLateShare: 0.2, windowSec: 1 });
  histogram.p99Ns = 5e9;
  // 50 ticks due in a second: 5 late, 5 skipped (45 delivered) is 20 %, not over.
  ticks.ticks = 45;
  ticks.lateTicks = 5;
  ticks.ticksSkipped = 5;
  assert.equal(load.overloadedBy('media_clock'), false, 'the window in progress: 20 %, not over');
  clock.advance(1000);
  assert.equal(load.mediaClockLateShare, 0.2);
  assert.equal(load.condition(), 'ok', 'the event-loop delay has no threshold here');
  assert.equal(load.overloadedBy('event_loop_delay'), false);
  // Next second: 40 delivered of which 10 late, and 10 skipped: 20 of 50.
  ticks.ticks += 40;
  ticks.lateTicks += 10;
  ticks.ticksSkipped += 10;
  clock.advance(1000);
  assert.equal(load.mediaClockLateShare, 0.4);
  assert.equal(load.overloadedBy('media_clock'), true);
  assert.equal(load.overloaded, true);
  assert.equal(load.condition(), 'overloaded');
  assert.equal(load.optionsStatus(), 503);
  // A window of ticks on time clears it; so does a window without any tick.
  ticks.ticks += 50;
  clock.advance(1000);
  assert.equal(load.overloaded, false);
  clock.advance(1000);
  assert.equal(load.mediaClockLateShare, 0);
  load.close();
});

test('overload: either signal alone is enough, and each reports on its own', () => {
  const { clock, histogram, ticks, load } = setup({
    eventLoopDelayP99Ms: 100,
    mediaClockLateShare: 0.5,
    windowSec: 1,
  });
  histogram.p99Ns = 150e6;
  ticks.ticks = 50;
  clock.advance(1000);
  assert.deepEqual([load.overloadedBy('event_loop_delay'), load.overloadedBy('media_clock')], [true, false]);
  assert.equal(load.condition(), 'overloaded');
  histogram.p99Ns = 1e6;
  ticks.ticks += 10;
  ticks.ticksSkipped += 40;
  clock.advance(1000);
  assert.deepEqual([load.overloadedBy('event_loop_delay'), load.overloadedBy('media_clock')], [false, true]);
  load.close();
});

test('overload: the window in progress counts for the media clock once 10 ticks fell due in it', () => {
  const { clock, ticks, load } = setup({ mediaClockLateShare: 0.2, windowSec: 5 });
  ticks.ticks = 5;
  ticks.lateTicks = 5;
  assert.equal(load.overloaded, false, 'five ticks are too few to judge');
  ticks.ticks = 10;
  ticks.lateTicks = 6;
  assert.equal(load.overloaded, true, '6 of 10 late, 1 s into a 5 s window');
  clock.advance(5000);
  assert.equal(load.mediaClockLateShare, 0.6);
  ticks.ticks += 250;
  clock.advance(5000);
  assert.equal(load.overloaded, false, 'a window on time clears it');
  load.close();
});

test('overload: a busy share of the loop over eventLoopUtilization refuses, from the window in progress once 200 ms old', () => {
  const { clock, loop, load } = setup({ eventLoopUtilization: 0.8, windowSec: 1 });
  // The loop busy 90 % of the first 100 ms: too young to judge.
  loop.active += 90;
  loop.idle += 10;
  clock.advance(100);
  assert.equal(load.condition(), 'ok');
  loop.active += 90;
  loop.idle += 10;
  clock.advance(100);
  assert.equal(load.condition(), 'overloaded', '90 % busy over 200 ms of the window in progress');
  assert.equal(load.overloadedBy('event_loop_utilization'), true);
  assert.equal(load.overloadedBy('media_clock'), false);
  // The rest of the window idle: 180 of 1000 ms busy closes it at 0.18.
  loop.idle += 800;
  clock.advance(800);
  assert.equal(load.eventLoopUtilization, 0.18);
  assert.equal(load.condition(), 'ok');
  // A window busy 85 % overloads until the next one closes.
  loop.active += 850;
  loop.idle += 150;
  clock.advance(1000);
  assert.equal(load.eventLoopUtilization, 0.85);
  loop.idle += 100;
  clock.advance(100);
  assert.equal(load.condition(), 'overloaded');
  loop.idle += 900;
  clock.advance(900);
  assert.equal(load.condition(), 'ok');
  load.close();
});

test('overload: a media worker busier than eventLoopUtilization refuses while the main thread idles; a replaced worker counts from its own start', () => {
  const { clock, loop, threads, load } = setup({ eventLoopUtilization: 0.8, windowSec: 1 });
  const worker = { threadId: 7, idle: 0, active: 0 };
  threads.push(worker);
  const advance = (ms: number, mainBusy: number, workerBusy: number) => {
    loop.active += ms * mainBusy;
    loop.idle += ms * (1 - mainBusy);
    worker.active += ms * workerBusy;
    worker.idle += ms * (1 - workerBusy);
    clock.advance(ms);
  };
  advance(300, 0.1, 0.5);
  assert.equal(load.condition(), 'ok');
  advance(700, 0.1, 0.95);
  assert.equal(load.eventLoopUtilization, 0.815, 'the busiest loop: the worker, 815 of 1000 ms');
  assert.equal(load.condition(), 'overloaded');
  advance(1000, 0.1, 0.3);
  assert.equal(load.condition(), 'ok');
  // The worker dies; its replacement (a new thread id) is judged from its own start.
  threads.splice(0, 1, { threadId: 8, idle: 50, active: 250 });
  loop.idle += 250;
  clock.advance(250);
  assert.equal(load.condition(), 'overloaded', 'the new worker busy 250 of 300 ms');
  load.close();
});
