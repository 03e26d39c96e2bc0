import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accelerate, mergeAfterConcealment, preemptiveExpand } from '../../src/media/jitter/index.js';

const RATE = 8000;

function sine(frequency: number, samples: number, amplitude = 8000): Int16Array {
  return Int16Array.from({ length: samples }, (_, i) =>
    Math.round(amplitude * Math.sin((2 * Math.PI * frequency * i) / RATE)),
  );
}

function maxStep(samples: Int16Array): number {
  let step = 0;
  for (let i = 1; i < samples.length; i++)
    step = Math.max(step, Math.abs((samples[i] ?? 0) - (samples[i - 1] ?? 0)));
  return step;
}

/** Frequency from the mean distance between the first and last rising zero crossings. */
function frequencyOf(samples: Int16Array): number {
  const crossings: number[] = [];
  for (let i = 1; i < samples.length; i++)
    if ((samples[i - 1] ?? 0) < 0 && (samples[i] ?? 0) >= 0) crossings.push(i);
  const span = (crossings.at(-1) ?? 0) - (crossings[0] ?? 0);
  return ((crossings.length - 1) * RATE) / span;
}

test('accelerate removes one pitch period of a sine without clicks, keeping its pitch', () => {
  const input = sine(200, 320);
  const { output, changedSamples } = accelerate(input, RATE);
  assert.equal(changedSamples, -40);
  assert.equal(output.length, input.length + changedSamples);
  assert.ok(maxStep(output) <= maxStep(input) * 1.1, `step ${maxStep(output)} vs ${maxStep(input)}`);
  assert.ok(Math.abs(frequencyOf(output) - 200) < 15, `freq ${frequencyOf(output)}`);
});

test('preemptive expand inserts one pitch period without clicks, keeping its pitch', () => {
  const input = sine(250, 320);
  const { output, changedSamples } = preemptiveExpand(input, RATE);
  assert.equal(changedSamples, 32);
  assert.equal(output.length, input.length + changedSamples);
  assert.ok(maxStep(output) <= maxStep(input) * 1.1);
  assert.ok(Math.abs(frequencyOf(output) - 250) < 15);
});

test('loud aperiodic noise is left unchanged', () => {
  let seed = 1;
  const noise = Int16Array.from({ length: 160 }, () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed % 20000) - 10000;
  });
  assert.equal(accelerate(noise, RATE).changedSamples, 0);
  assert.equal(preemptiveExpand(noise, RATE).changedSamples, 0);
});

test('for audio far too late, accelerate removes the longest lag from noise and whole periods from a tone', () => {
  let seed = 1;
  const noise = Int16Array.from({ length: 160 }, () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed % 20000) - 10000;
  });
  assert.equal(accelerate(noise, RATE, true).changedSamples, -80); // 10 ms, the longest lag
  // A 250 Hz tone's period is 32 samples: two fit in the longest lag, and the join stays in phase.
  const tone = sine(250, 160);
  const { output, changedSamples } = accelerate(tone, RATE, true);
  assert.equal(changedSamples, -64);
  assert.ok(maxStep(output) <= maxStep(tone) * 1.1, `step ${maxStep(output)} vs ${maxStep(tone)}`);
});

test('quiet segments are stretched whatever their shape', () => {
  const quiet = Int16Array.from({ length: 160 }, (_, i) => (i * 7919) % 200);
  assert.ok(accelerate(quiet, RATE).changedSamples < 0);
});

test('merge starts on the concealment and ends on the decoded frame', () => {
  const continuation = new Int16Array(40).fill(1000);
  const decoded = new Int16Array(160).fill(-1000);
  const merged = mergeAfterConcealment(continuation, decoded);
  assert.equal(merged.length, 160);
  assert.ok((merged[0] ?? 0) > 900);
  assert.equal(merged[40], -1000);
  assert.ok(maxStep(merged) < 100);
});
