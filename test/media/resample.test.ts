import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Resampler } from '../../src/media/resample.js';
import { concatPcm, sine, tonePower } from '../helpers/audio.js';

const RATES = [8000, 16000, 24000, 48000];

function inFrames(resampler: Resampler, input: Int16Array, frameSamples: number): Int16Array {
  const parts: Int16Array[] = [];
  for (let i = 0; i < input.length; i += frameSamples)
    parts.push(resampler.process(input.subarray(i, i + frameSamples)));
  return concatPcm(parts);
}

test('1 kHz through 8k -> 16k -> 48k -> 8k keeps frequency and amplitude (SNR > 40 dB)', () => {
  const input = sine(1000, 8000, 8000, 10000);
  const chain = [new Resampler(8000, 16000), new Resampler(16000, 48000), new Resampler(48000, 8000)];
  let signal = input;
  let delayAt8k = 0;
  for (const stage of chain) {
    signal = inFrames(stage, signal, (stage.inRate / 1000) * 20);
    delayAt8k += (stage.delaySamples * 8000) / stage.outRate;
  }
  assert.equal(signal.length, input.length);
  assert.ok(Number.isInteger(delayAt8k));
  let signalPower = 0;
  let noisePower = 0;
  // Skip the filters' warm-up; compare the steady state after delay compensation.
  for (let n = 2000; n < input.length; n++) {
    const expected = input[n - delayAt8k]!;
    signalPower += expected * expected;
    noisePower += (signal[n]! - expected) ** 2;
  }
  const snrDb = 10 * Math.log10(signalPower / noisePower);
  assert.ok(snrDb > 40, `SNR ${snrDb.toFixed(1)} dB`);
});

test('every rate pair keeps a passband tone and its level', () => {
  for (const inRate of RATES) {
    for (const outRate of RATES) {
      if (inRate === outRate) continue;
      const resampler = new Resampler(inRate, outRate);
      const out = inFrames(resampler, sine(1000, inRate, inRate / 2, 8000), inRate / 50);
      const steady = out.subarray(out.length / 2);
      const ratio =
        tonePower(steady, outRate, 1000) / tonePower(sine(1000, outRate, steady.length, 8000), outRate, 1000);
      assert.ok(Math.abs(10 * Math.log10(ratio)) < 0.2, `${inRate}->${outRate}: ${ratio}`);
    }
  }
});

test('a 6 kHz tone at 16k -> 8k is rejected by more than 40 dB (no aliasing to 2 kHz)', () => {
  const resampler = new Resampler(16000, 8000);
  const out = inFrames(resampler, sine(6000, 16000, 16000, 10000), 320);
  const steady = out.subarray(2000);
  const reference = sine(2000, 8000, steady.length, 10000);
  const rejectionDb = 10 * Math.log10(tonePower(reference, 8000, 2000) / tonePower(steady, 8000, 2000));
  assert.ok(rejectionDb > 40, `rejection ${rejectionDb.toFixed(1)} dB`);
});

test('streaming in 20 ms frames equals one-shot processing', () => {
  for (const [inRate, outRate] of [
    [8000, 16000],
    [48000, 8000],
    [16000, 24000],
    [24000, 16000],
  ] as const) {
    const input = sine(440, inRate, inRate, 9000);
    const oneShot = new Resampler(inRate, outRate).process(input);
    const streamed = inFrames(new Resampler(inRate, outRate), input, inRate / 50);
    assert.deepEqual(streamed, oneShot);
    // Odd chunk sizes too.
    const odd = inFrames(new Resampler(inRate, outRate), input, 7);
    assert.deepEqual(odd, oneShot);
  }
});

test('output length over 10,000 frames has zero drift', () => {
  for (const inRate of RATES) {
    for (const outRate of RATES) {
      if (inRate === outRate) continue;
      const resampler = new Resampler(inRate, outRate, { quality: 0 });
      const frame = new Int16Array(inRate / 50);
      let total = 0;
      for (let i = 0; i < 10_000; i++) {
        const out = resampler.process(frame);
        assert.equal(out.length, outRate / 50);
        total += out.length;
      }
      assert.equal(total, (outRate / 50) * 10_000);
      // Irregular chunks: cumulative output is exactly ceil(n * out / in).
      const irregular = new Resampler(inRate, outRate, { quality: 0 });
      let inputTotal = 0;
      let outputTotal = 0;
      for (let i = 0; i < 1000; i++) {
        const size = 1 + ((i * 37) % 101);
        inputTotal += size;
        outputTotal += irregular.process(new Int16Array(size)).length;
        assert.equal(outputTotal, Math.ceil((inputTotal * outRate) / inRate));
      }
    }
  }
});

test('reset clears history; bad arguments are rejected', () => {
  const resampler = new Resampler(8000, 16000);
  const first = resampler.process(sine(500, 8000, 160));
  resampler.process(sine(700, 8000, 333));
  resampler.reset();
  assert.deepEqual(resampler.process(sine(500, 8000, 160)), first);
  assert.throws(() => new Resampler(8000, 44100), RangeError);
  assert.throws(() => new Resampler(8000, 16000, { quality: 11 }), RangeError);
});
