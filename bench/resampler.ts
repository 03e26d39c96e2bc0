/**
 * The resampler on the per-frame path: speexdsp's own (WASM, SIMD; src/media/resample.ts)
 * against the pure TypeScript polyphase filter it replaced (bench/lib/polyphase-resampler.ts),
 * the baseline, in the same run, interleaved round by round so machine noise hits both alike.
 * For each bridge direction: µs per 20 ms frame (median of the rounds) and their ratio, and
 * how far the outputs differ on the speech fixture (SNR of the difference, after aligning
 * the two filters' delays).
 *
 *   npx tsx bench/resampler.ts [rounds=30] [framesPerRound=500]
 */
import { readFileSync } from 'node:fs';
import { Resampler } from '../src/media/resample.js';
import { decodeWav } from '../src/media/wav.js';
import { PolyphaseResampler } from './lib/polyphase-resampler.js';
import { SPEECH_FIXTURE } from './opus-fec.js';

const rounds = Number(process.argv[2] ?? 30);
const perRound = Number(process.argv[3] ?? 500);
const PAIRS: Array<[number, number]> = [
  [8000, 16000],
  [16000, 8000],
  [8000, 24000],
  [24000, 8000],
  [16000, 48000],
  [48000, 16000],
];

interface Stage {
  process(input: Int16Array): Int16Array;
  readonly delaySamples: number;
}

/** The speech fixture at `rate` (made with the reference, so both start from the same input). */
function speechAt(rate: number, speech16k: Int16Array): Int16Array {
  return rate === 16000 ? speech16k : new PolyphaseResampler(16000, rate).process(speech16k).slice();
}

/** Runs `input` through `stage` in 20 ms frames; the whole output. */
function inFrames(stage: Stage, input: Int16Array, frame: number): Int16Array {
  const out: number[] = [];
  for (let at = 0; at + frame <= input.length; at += frame)
    out.push(...stage.process(input.subarray(at, at + frame)));
  return Int16Array.from(out);
}

/** SNR in dB of `b` against `a`, `b` shifted by `shift` samples. */
function snrDb(a: Int16Array, b: Int16Array, shift: number): number {
  let signal = 0;
  let noise = 0;
  for (let n = 2000; n < a.length - 2000; n++) {
    const x = a[n] ?? 0;
    signal += x * x;
    noise += (x - (b[n + shift] ?? 0)) ** 2;
  }
  return 10 * Math.log10(signal / Math.max(noise, 1));
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const speech16k = decodeWav(readFileSync(SPEECH_FIXTURE)).samples;
console.log(`resampling, µs per 20 ms frame (median of ${rounds} rounds of ${perRound} frames)\n`);
console.log(
  '| direction | TypeScript polyphase (baseline) | speexdsp WASM | ratio | outputs differ by (SNR) |',
);
console.log('| --- | --- | --- | --- | --- |');
for (const [inRate, outRate] of PAIRS) {
  const input = speechAt(inRate, speech16k);
  const frame = inRate / 50;
  const speex = await Resampler.create(inRate, outRate);
  const polyphase = new PolyphaseResampler(inRate, outRate);
  const timings = { speex: [] as number[], polyphase: [] as number[] };
  const frames = Math.floor(input.length / frame);
  for (let round = 0; round < rounds; round++) {
    for (const [name, stage] of [
      ['polyphase', polyphase],
      ['speex', speex],
    ] as const) {
      const started = performance.now();
      for (let i = 0; i < perRound; i++) {
        const at = ((round * perRound + i) % frames) * frame;
        stage.process(input.subarray(at, at + frame));
      }
      timings[name].push(((performance.now() - started) * 1000) / perRound);
    }
  }
  speex.close();
  const fresh = await Resampler.create(inRate, outRate);
  const ours = inFrames(fresh, input, frame);
  const reference = inFrames(new PolyphaseResampler(inRate, outRate), input, frame);
  fresh.close();
  const shift = Math.round(fresh.delaySamples - new PolyphaseResampler(inRate, outRate).delaySamples);
  const base = median(timings.polyphase);
  const wasm = median(timings.speex);
  console.log(
    `| ${inRate / 1000}k → ${outRate / 1000}k | ${base.toFixed(1)} | ${wasm.toFixed(1)} | ${(base / wasm).toFixed(1)}x | ${snrDb(reference, ours, shift).toFixed(1)} dB (delay ${shift >= 0 ? '+' : ''}${shift} samples) |`,
  );
}
