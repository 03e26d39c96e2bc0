import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PolyphaseResampler } from '../../bench/lib/polyphase-resampler.js';
import { Resampler } from '../../src/media/resample.js';
import { concatPcm, sine, tonePower } from '../helpers/audio.js';

const RATES = [8000, 16000, 24000, 48000];

interface Stage {
  process(input: Int16Array): Int16Array;
}

/** The stage's output for `input` cut into chunks of `chunk` samples, copied out as it comes. */
function inChunks(stage: Stage, input: Int16Array, chunk: number): Int16Array {
  const parts: Int16Array[] = [];
  for (let i = 0; i < input.length; i += chunk)
    parts.push(stage.process(input.subarray(i, i + chunk)).slice());
  return concatPcm(parts);
}

async function withResampler<T>(
  inRate: number,
  outRate: number,
  use: (resampler: Resampler) => T,
  options: { quality?: number } = {},
): Promise<T> {
  const resampler = await Resampler.create(inRate, outRate, options);
  try {
    return use(resampler);
  } finally {
    resampler.close();
  }
}

test('1 kHz through 8k -> 16k -> 48k -> 8k keeps frequency and amplitude (SNR > 40 dB)', async () => {
  const input = sine(1000, 8000, 8000, 10000);
  const chain = [
    await Resampler.create(8000, 16000),
    await Resampler.create(16000, 48000),
    await Resampler.create(48000, 8000),
  ];
  let signal = input;
  let delayAt8k = 0;
  for (const stage of chain) {
    signal = inChunks(stage, signal, (stage.inRate / 1000) * 20);
    delayAt8k += (stage.delaySamples * 8000) / stage.outRate;
    stage.close();
  }
  assert.equal(signal.length, input.length);
  const delay = Math.round(delayAt8k);
  let signalPower = 0;
  let noisePower = 0;
  // Skip the filters' warm-up; compare the steady state after delay compensation.
  for (let n = 2000; n < input.length; n++) {
    const expected = input[n - delay]!;
    signalPower += expected * expected;
    noisePower += (signal[n]! - expected) ** 2;
  }
  const snrDb = 10 * Math.log10(signalPower / noisePower);
  assert.ok(snrDb > 40, `SNR ${snrDb.toFixed(1)} dB`);
});

test('every rate pair keeps a passband tone and its level', async () => {
  for (const inRate of RATES) {
    for (const outRate of RATES) {
      if (inRate === outRate) continue;
      const out = await withResampler(inRate, outRate, (resampler) =>
        inChunks(resampler, sine(1000, inRate, inRate / 2, 8000), inRate / 50),
      );
      const steady = out.subarray(out.length / 2);
      const ratio =
        tonePower(steady, outRate, 1000) / tonePower(sine(1000, outRate, steady.length, 8000), outRate, 1000);
      assert.ok(Math.abs(10 * Math.log10(ratio)) < 0.2, `${inRate}->${outRate}: ${ratio}`);
    }
  }
});

test('a 6 kHz tone at 16k -> 8k is rejected by more than 40 dB (no aliasing to 2 kHz)', async () => {
  const out = await withResampler(16000, 8000, (resampler) =>
    inChunks(resampler, sine(6000, 16000, 16000, 10000), 320),
  );
  const steady = out.subarray(2000);
  const reference = sine(2000, 8000, steady.length, 10000);
  const rejectionDb = 10 * Math.log10(tonePower(reference, 8000, 2000) / tonePower(steady, 8000, 2000));
  assert.ok(rejectionDb > 40, `rejection ${rejectionDb.toFixed(1)} dB`);
});

test('the same audio as the TypeScript polyphase filter it replaced, within 40 dB, for every pair', async () => {
  for (const inRate of RATES) {
    for (const outRate of RATES) {
      if (inRate === outRate) continue;
      const input = sine(700, inRate, inRate, 9000);
      const reference = new PolyphaseResampler(inRate, outRate);
      const expected = inChunks(reference, input, inRate / 50);
      const { out, delay } = await withResampler(inRate, outRate, (resampler) => ({
        out: inChunks(resampler, input, inRate / 50),
        delay: resampler.delaySamples,
      }));
      const shift = Math.round(delay - reference.delaySamples);
      let signal = 0;
      let noise = 0;
      for (let n = outRate / 10; n < out.length - outRate / 10; n++) {
        const x = expected[n] ?? 0;
        signal += x * x;
        noise += (x - (out[n + shift] ?? 0)) ** 2;
      }
      const snrDb = 10 * Math.log10(signal / noise);
      assert.ok(snrDb > 40, `${inRate}->${outRate}: ${snrDb.toFixed(1)} dB`);
    }
  }
});

test('streaming in 20 ms frames or odd chunks equals one-shot processing', async () => {
  for (const [inRate, outRate] of [
    [8000, 16000],
    [48000, 8000],
    [16000, 24000],
    [24000, 16000],
  ] as const) {
    const input = sine(440, inRate, inRate, 9000);
    const oneShot = await withResampler(inRate, outRate, (resampler) => resampler.process(input).slice());
    const framed = await withResampler(inRate, outRate, (resampler) =>
      inChunks(resampler, input, inRate / 50),
    );
    assert.deepEqual(framed, oneShot);
    const odd = await withResampler(inRate, outRate, (resampler) => inChunks(resampler, input, 7));
    assert.equal(odd.length, oneShot.length);
    assert.deepEqual(odd, oneShot);
  }
});

test('every 20 ms frame gives exactly 20 ms out, over 10,000 frames (no drift)', async () => {
  for (const inRate of RATES) {
    for (const outRate of RATES) {
      if (inRate === outRate) continue;
      await withResampler(inRate, outRate, (resampler) => {
        const frame = new Int16Array(inRate / 50);
        for (let i = 0; i < 10_000; i++) assert.equal(resampler.process(frame).length, outRate / 50);
      });
    }
  }
});

test('close is idempotent, frees the WASM memory, and a closed resampler returns nothing', async () => {
  const resampler = await Resampler.create(8000, 16000);
  resampler.close();
  resampler.close();
  assert.equal(resampler.process(sine(500, 8000, 160)).length, 0);
  // One per call, opened and closed 20,000 times: what close frees is reused. Leaked, the WASM
  // state and buffers (~6 KB each) would add ~120 MB of resident memory.
  const rssBefore = process.memoryUsage().rss;
  for (let i = 0; i < 20_000; i++) (await Resampler.create(48000, 8000)).close();
  const grownMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  assert.ok(grownMb < 30, `resident memory grew ${grownMb.toFixed(1)} MB`);
});

test('bad rates and qualities are refused', async () => {
  await assert.rejects(Resampler.create(8000, 44100), RangeError);
  await assert.rejects(Resampler.create(8000, 16000, { quality: 11 }), RangeError);
});
