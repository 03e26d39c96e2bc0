import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Playout } from '../../src/stream/index.js';

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
  assert.deepEqual(playout.mark('after-50ms'), []);
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

test('pending marks are bounded: beyond the limit a mark is echoed at once', () => {
  const playout = new Playout({ sampleRate: 8000, maxPendingMarks: 2 });
  playout.enqueue(ramp(0, 1600));
  assert.deepEqual(playout.mark('1'), []);
  assert.deepEqual(playout.mark('2'), []);
  assert.deepEqual(playout.mark('3'), ['3']);
  assert.equal(playout.stats.marksOverflowed, 1);
});
