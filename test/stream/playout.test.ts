import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Playout } from '../../src/stream/index.js';
import { FakeClock, silentLogger } from '../../src/util/index.js';

/** 20 ms frames of 8 kHz audio whose samples count up, so order and gaps are visible. */
function ramp(start: number, samples: number): Int16Array {
  return Int16Array.from({ length: samples }, (_, i) => 1000 + ((start + i) % 20000));
}

test('audio enqueued faster than real time comes out one frame per pull, in order, nothing lost', () => {
  const playout = new Playout({ sampleRate: 8000 });
  // A whole second arrives at once (a bot sending at "infinite" speed).
  playout.enqueue(ramp(0, 8000));
  const out: number[] = [];
  for (let i = 0; i < 50; i++) {
    const { frame } = playout.pullFrame();
    assert.equal(frame.length, 160);
    out.push(...frame);
  }
  // The first 2 ms fade in from silence; everything after is exactly the input.
  assert.deepEqual(out.slice(16), [...ramp(16, 8000 - 16)]);
  assert.equal(playout.queuedMs, 0);
  assert.equal(playout.stats.underrunFrames, 0);
});

test('a mark is released only with the frame that hands out the last sample queued before it', () => {
  const playout = new Playout({ sampleRate: 8000 });
  playout.enqueue(ramp(0, 400)); // 50 ms: frames 1-2 full, frame 3 half
  assert.equal(playout.mark('after-50ms'), true);
  playout.enqueue(ramp(400, 160));
  assert.deepEqual(playout.pullFrame().marks, []);
  assert.deepEqual(playout.pullFrame().marks, []);
  assert.deepEqual(playout.pullFrame().marks, ['after-50ms']);
  assert.deepEqual(playout.pullFrame().marks, []);
  assert.equal(playout.stats.marksEchoed, 1);
});

test('a mark with no audio before it comes back on the next pull', () => {
  const playout = new Playout({ sampleRate: 8000 });
  playout.mark('idle');
  assert.deepEqual(playout.pullFrame().marks, ['idle']);
});

test('clear drops queued audio at once and returns every pending mark in order', () => {
  const playout = new Playout({ sampleRate: 8000 });
  playout.enqueue(ramp(0, 8000));
  playout.mark('a');
  playout.enqueue(ramp(0, 800));
  playout.mark('b');
  playout.pullFrame();
  assert.deepEqual(playout.clear(), ['a', 'b']);
  const { frame, marks } = playout.pullFrame();
  assert.deepEqual(marks, []);
  // The frame after clear fades out within 2 ms (16 samples) and is silent after that.
  assert.ok(frame.subarray(16).every((s) => s === 0));
  assert.equal(playout.queuedMs, 0);
});

test('underrun fades out without a click and is counted; idle silence is not an underrun', () => {
  const playout = new Playout({ sampleRate: 8000 });
  playout.pullFrame();
  assert.equal(playout.stats.underrunFrames, 0);
  playout.enqueue(new Int16Array(240).fill(12000)); // 1.5 frames of loud DC
  playout.pullFrame();
  const { frame } = playout.pullFrame();
  assert.equal(playout.stats.underrunFrames, 1);
  for (let i = 1; i < frame.length; i++) {
    assert.ok(Math.abs((frame[i] ?? 0) - (frame[i - 1] ?? 0)) <= 12000 / 16 + 1, `step at ${i}`);
  }
});

test('the queue is bounded: audio beyond maxQueueMs is refused and counted, queued audio kept', () => {
  const playout = new Playout({ sampleRate: 8000, maxQueueMs: 100 });
  assert.equal(playout.enqueue(ramp(0, 600)), 0);
  assert.equal(playout.enqueue(ramp(600, 600)), 400);
  assert.equal(playout.stats.overflowSamples, 400);
  assert.equal(playout.queuedMs, 100);
});

test('pending marks are bounded: beyond the limit a mark is refused, never echoed early or out of order', () => {
  const playout = new Playout({ sampleRate: 8000, maxPendingMarks: 2 });
  playout.enqueue(ramp(0, 160));
  assert.equal(playout.mark('1'), true);
  playout.enqueue(ramp(160, 160));
  assert.equal(playout.mark('2'), true);
  assert.equal(playout.mark('3'), false);
  assert.equal(playout.stats.marksRefused, 1);
  assert.deepEqual(playout.pullFrame().marks, ['1']);
  // One mark has been echoed, so there is room again, behind '2'.
  assert.equal(playout.mark('4'), true);
  assert.deepEqual(playout.pullFrame().marks, ['2', '4']);
  assert.equal(playout.stats.marksEchoed, 3);
});

test('marks due together are handed out at most maxMarksPerFrame per frame, in order, and stay pending until then', () => {
  const playout = new Playout({ sampleRate: 8000, maxPendingMarks: 30, maxMarksPerFrame: 10 });
  playout.enqueue(ramp(0, 160));
  for (let i = 0; i < 25; i++) playout.mark(`m${i}`);
  const names = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `m${from + i}`);
  assert.deepEqual(playout.pullFrame().marks, names(0, 10));
  // 15 are still due: with 30 allowed, 15 more fit and the 16th is refused.
  for (let i = 25; i < 40; i++) assert.equal(playout.mark(`m${i}`), true);
  assert.equal(playout.mark('m40'), false);
  assert.deepEqual(playout.pullFrame().marks, names(10, 20));
  assert.deepEqual(playout.pullFrame().marks, names(20, 30));
  assert.deepEqual(playout.pullFrame().marks, names(30, 40));
  assert.deepEqual(playout.pullFrame().marks, []);
  assert.equal(playout.stats.marksEchoed, 40);
});

test('clear makes every pending mark due: the first maxMarksPerFrame at once, the rest with the next frames', () => {
  const playout = new Playout({ sampleRate: 8000, maxMarksPerFrame: 2 });
  for (let i = 0; i < 5; i++) {
    playout.enqueue(ramp(0, 800));
    playout.mark(`m${i}`);
  }
  assert.deepEqual(playout.clear(), ['m0', 'm1']);
  playout.mark('after');
  assert.deepEqual(playout.pullFrame().marks, ['m2', 'm3']);
  assert.deepEqual(playout.pullFrame().marks, ['m4', 'after']);
});

test('a refused mark is logged at most every 5 s, with the count suppressed in between', () => {
  const clock = new FakeClock();
  const lines: Array<Record<string, unknown>> = [];
  const logger = { ...silentLogger, warn: (fields: object) => lines.push(fields as Record<string, unknown>) };
  const playout = new Playout({ sampleRate: 8000, maxPendingMarks: 1, log: { logger, clock } });
  playout.mark('kept');
  for (let i = 0; i < 1000; i++) playout.mark(`refused-${i}`);
  clock.advance(5000);
  playout.mark('refused-late');
  assert.equal(playout.stats.marksRefused, 1001);
  assert.deepEqual(
    lines.map((line) => line['suppressed']),
    [0, 999],
  );
  assert.deepEqual(playout.pullFrame().marks, ['kept']);
});
