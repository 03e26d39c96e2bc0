/**
 * The jitter buffer's time-stretch pitch search (src/media/jitter/time-stretch.ts, bestLag) per
 * attempt, against the straightforward search it replaced (three products per sample and lag,
 * kept below as the reference), on 20 ms frames of speech and of loud noise at 8 and 16 kHz,
 * in the same process. Every frame's lag and correlation must be identical in both (the sums are
 * exact integers, so the order of additions cannot change a bit). The jitter buffer makes one
 * attempt per packet while its level is outside its band, and the attempt fails (and is made
 * again on the next packet) on every aperiodic loud frame: noise, or the load bench's tags.
 *
 *   npx tsx bench/time-stretch.ts [rounds=7]
 */
import { readFileSync } from 'node:fs';
import { decodeWav } from '../src/media/index.js';
import { bestLag } from '../src/media/jitter/time-stretch.js';
import { median } from './lib/alloc-meter.js';
import { PolyphaseResampler } from './lib/polyphase-resampler.js';

const rounds = Number(process.argv[2] ?? 7);
const FRAME_MS = 20;
const REPEATS = 20;

/** The search as it was: each lag's cross product and both windows' energies summed anew. */
function referenceBestLag(
  input: Int16Array,
  minLag: number,
  maxLag: number,
): { lag: number; correlation: number } {
  let best = { lag: minLag, correlation: -1 };
  for (let lag = minLag; lag <= maxLag; lag++) {
    let cross = 0;
    let energyA = 0;
    let energyB = 0;
    for (let i = 0; i < lag; i++) {
      const a = input[i] ?? 0;
      const b = input[i + lag] ?? 0;
      cross += a * b;
      energyA += a * a;
      energyB += b * b;
    }
    const norm = Math.sqrt(energyA * energyB);
    const correlation = norm > 0 ? cross / norm : 1;
    if (correlation > best.correlation) best = { lag, correlation };
  }
  return best;
}

/** 2.5 to 10 ms, capped at half the frame, as time-stretch.ts searches. */
const lagRange = (rate: number, length: number): [number, number] => [
  Math.round(2.5 * rate * 1e-3),
  Math.min(Math.round(10 * rate * 1e-3), Math.floor(length / 2)),
];

function frames(rate: number): Int16Array[] {
  const wav = decodeWav(readFileSync('fixtures/audio/speech-16k.wav'));
  const speech =
    wav.sampleRate === rate ? wav.samples : new PolyphaseResampler(wav.sampleRate, rate).process(wav.samples);
  const samples = (rate * FRAME_MS) / 1000;
  const out: Int16Array[] = [];
  for (let at = 0; at + samples <= speech.length && out.length < 500; at += samples)
    out.push(speech.slice(at, at + samples));
  let seed = 1;
  for (let frame = 0; frame < 500; frame++)
    out.push(
      Int16Array.from({ length: samples }, () => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return (seed % 40000) - 20000;
      }),
    );
  return out;
}

type Search = typeof bestLag;

function nsPerSearch(search: Search, inputs: Int16Array[], rate: number): number {
  const started = process.hrtime.bigint();
  for (let repeat = 0; repeat < REPEATS; repeat++)
    for (const input of inputs) search(input, ...lagRange(rate, input.length));
  return Number(process.hrtime.bigint() - started) / (REPEATS * inputs.length);
}

console.log(`time-stretch pitch search, ${rounds} rounds (medians); Node ${process.version}\n`);
console.log('| rate | frames | reference ns per search | now ns per search | speed-up | identical |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const rate of [8000, 16000]) {
  const inputs = frames(rate);
  const identical = inputs.every((input) => {
    const [min, max] = lagRange(rate, input.length);
    const a = referenceBestLag(input, min, max);
    const b = bestLag(input, min, max);
    return a.lag === b.lag && a.correlation === b.correlation;
  });
  const reference: number[] = [];
  const now: number[] = [];
  for (let round = 0; round < rounds; round++) {
    reference.push(nsPerSearch(referenceBestLag, inputs, rate));
    now.push(nsPerSearch(bestLag, inputs, rate));
  }
  const [r, n] = [median(reference), median(now)];
  console.log(
    `| ${rate} | ${inputs.length} (speech and noise) | ${r.toFixed(0)} | ${n.toFixed(0)} | ${(r / n).toFixed(2)}x | ${identical ? 'yes' : 'NO'} |`,
  );
}
