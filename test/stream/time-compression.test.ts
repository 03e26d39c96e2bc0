import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TimeCompressor } from '../../src/stream/time-compression.js';

function fill(compressor: TimeCompressor, sample: (i: number) => number): void {
  for (let i = 0; i < compressor.input.length; i++) compressor.input[i] = Math.round(sample(i));
}

test('a voiced sound loses whole pitch periods, as many as fit, seamlessly', () => {
  const compressor = new TimeCompressor(8000, 160);
  // 200 Hz with a harmonic: a period of 40 samples at 8 kHz.
  const voice = (i: number) =>
    6000 * Math.sin((2 * Math.PI * i) / 40) + 2000 * Math.sin((4 * Math.PI * i) / 40);
  fill(compressor, voice);
  const period = compressor.findPeriod(1000);
  assert.equal(period, 120, 'three periods of 5 ms: the most under 15 ms');
  const output = new Int16Array(160);
  compressor.compress(period, output);
  // Whole periods removed from a periodic sound is the same sound: sample-for-sample.
  for (let i = 0; i < 160; i++) assert.ok(Math.abs((output[i] ?? 0) - voice(i)) <= 1, `sample ${i}`);
});

test('the period is at most the limit given (the standing delay left to give back)', () => {
  const compressor = new TimeCompressor(8000, 160);
  fill(compressor, (i) => 6000 * Math.sin((2 * Math.PI * i) / 100));
  assert.equal(compressor.findPeriod(1000), 100);
  assert.equal(compressor.findPeriod(60), 0, 'no shorter lag repeats');
  assert.equal(compressor.findPeriod(10), 0);
});

test('a budget shorter than the longest repetition takes whole periods of it, or nothing', () => {
  const compressor = new TimeCompressor(8000, 160);
  for (const period of [36, 57, 80]) {
    // A low voice with two harmonics: smooth enough that short stretches of it look alike.
    fill(
      compressor,
      (i) =>
        6000 * Math.sin((2 * Math.PI * i) / period) +
        2000 * Math.sin((4 * Math.PI * i) / period) +
        1000 * Math.sin((6 * Math.PI * i) / period),
    );
    for (let limit = compressor.minLag; limit <= 200; limit++) {
      const lag = compressor.findPeriod(limit);
      const wanted = Math.floor(Math.min(limit, compressor.maxLag) / period) * period;
      assert.ok(lag <= limit, `period ${period}, limit ${limit}: ${lag}`);
      // Never a part of a period (a jump of phase at the seam), and a period whenever one fits.
      assert.equal(lag % period, 0, `period ${period}, limit ${limit}: ${lag}`);
      assert.equal(lag === 0, wanted === 0, `period ${period}, limit ${limit}: ${lag}`);
    }
  }
});

test('noise, quiet audio and a 16 kHz frame', () => {
  const compressor = new TimeCompressor(8000, 160);
  let seed = 7;
  fill(compressor, () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed / 2147483648 - 0.5) * 20000;
  });
  assert.equal(compressor.findPeriod(1000), 0, 'noise does not repeat: left alone');
  fill(compressor, (i) => 60 * Math.sin((2 * Math.PI * i) / 40));
  assert.equal(compressor.findPeriod(1000), 0, 'below -50 dBFS: the silence trim handles it');
  const wide = new TimeCompressor(16000, 320);
  assert.equal(wide.maxLag, 240);
  fill(wide, (i) => 6000 * Math.sin((2 * Math.PI * i) / 90));
  assert.equal(wide.findPeriod(1000), 180);
  assert.equal(wide.findPeriod(170), 90);
});
