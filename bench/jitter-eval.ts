/**
 * Adaptive jitter buffer vs the hindsight-best fixed playout delay over seeded network
 * profiles. Run: npx tsx bench/jitter-eval.ts [seconds=60] [seed=7]
 * Exits non-zero when a profile misses its target, so it doubles as a check.
 * The experiment is exported so test/media/jitter-eval.test.ts runs short versions.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { type ImpairOptions, impair } from '../src/media/impair.js';
import type { AudioDecoder } from '../src/media/index.js';
import { simulatePlayout } from '../src/media/jitter/index.js';
import type { ReceivedRtp } from '../src/media/rtp/index.js';

const FRAME_MS = 20;
const SAMPLES_PER_FRAME = 160;
const BENCH_OPTIONS = JSON.parse(process.env['JITTER_OPTIONS'] ?? '{}');

export interface Profile {
  name: string;
  /** Stationary profiles must be within 1.15× of the fixed delay; others at or below it. */
  stationary: boolean;
  /** Impairments per segment of the trace (fractions of its length), applied in order. */
  segments: { fraction: number; impair: ImpairOptions }[];
}

export const PROFILES: Profile[] = [
  { name: 'clean', stationary: true, segments: [{ fraction: 1, impair: { baseDelayMs: 30 } }] },
  {
    name: '2% loss, 20 ms gaussian jitter',
    stationary: true,
    segments: [{ fraction: 1, impair: { lossPercent: 2, jitterMs: 20, jitterDistribution: 'gaussian' } }],
  },
  {
    name: '5% bursty loss, 60 ms pareto jitter',
    stationary: true,
    segments: [{ fraction: 1, impair: { lossPercent: 5, meanBurstLength: 3, jitterMs: 60 } }],
  },
  {
    name: 'jitter 10 -> 80 -> 10 ms',
    stationary: false,
    segments: [
      { fraction: 1 / 3, impair: { jitterMs: 10 } },
      { fraction: 1 / 3, impair: { jitterMs: 80 } },
      { fraction: 1 / 3, impair: { jitterMs: 10 } },
    ],
  },
  {
    name: '1% reorder + 1% duplicates',
    stationary: true,
    segments: [{ fraction: 1, impair: { reorderPercent: 1, duplicatePercent: 1, jitterMs: 5 } }],
  },
  {
    name: '+100 ppm drift',
    stationary: false,
    segments: [{ fraction: 1, impair: { driftPpm: 100, jitterMs: 5 } }],
  },
  {
    name: '-100 ppm drift',
    stationary: false,
    segments: [{ fraction: 1, impair: { driftPpm: -100, jitterMs: 5 } }],
  },
];

export interface ProfileResult {
  name: string;
  meanDelayMs: number;
  p95DelayMs: number;
  lateRate: number;
  expandRate: number;
  accelerateRate: number;
  preemptiveRate: number;
  /** Mean arrival-to-playout delay of the smallest fixed delay with no more late packets. */
  fixedMeanDelayMs: number;
  fixedDelayMs: number;
  passed: boolean;
}

/** Decoder that outputs a 200 Hz tone, so time stretching has a pitch to lock on. */
function toneDecoder(): AudioDecoder {
  let phase = 0;
  const tone = (samples: number, amplitude: number) =>
    Int16Array.from({ length: samples }, () =>
      Math.round(amplitude * Math.sin((2 * Math.PI * 200 * phase++) / 8000)),
    );
  return {
    name: 'tone',
    sampleRate: 8000,
    rtpClockRate: 8000,
    decode: (payload) => tone(payload.length, 6000),
    conceal: (samples) => tone(samples, 3000),
    close: () => {},
  };
}

export function buildTrace(
  profile: Profile,
  seconds: number,
  seed: number,
): ReturnType<typeof impair<ReceivedRtp>> {
  const total = Math.round((seconds * 1000) / FRAME_MS);
  const arrivals: ReturnType<typeof impair<ReceivedRtp>> = [];
  let start = 0;
  profile.segments.forEach((segment, index) => {
    const end = index === profile.segments.length - 1 ? total : start + Math.round(segment.fraction * total);
    const sent = [];
    for (let i = start; i < end; i++) {
      const packet: ReceivedRtp = {
        sequenceNumber: i & 0xffff,
        timestamp: (1000 + i * SAMPLES_PER_FRAME) >>> 0,
        ssrc: 42,
        marker: i === 0,
        payloadType: 0,
        payload: new Uint8Array(SAMPLES_PER_FRAME),
        arrivalMs: 0,
      };
      sent.push({ packet, sendMs: i * FRAME_MS });
    }
    arrivals.push(...impair(sent, { baseDelayMs: 30, ...segment.impair, seed: seed + index }));
    start = end;
  });
  return arrivals.sort((a, b) => a.arrivalMs - b.arrivalMs);
}

function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** Late rate and mean delay of a fixed playout delay measured from the first packet. */
function fixedBuffer(arrivals: { index: number; arrivalMs: number }[], delayMs: number) {
  const first = arrivals[0];
  if (!first) return { lateRate: 0, meanDelayMs: 0 };
  let late = 0;
  let delaySum = 0;
  for (const a of arrivals) {
    const playoutMs = first.arrivalMs + delayMs + (a.index - first.index) * FRAME_MS;
    if (a.arrivalMs > playoutMs) late++;
    else delaySum += playoutMs - a.arrivalMs;
  }
  return { lateRate: late / arrivals.length, meanDelayMs: delaySum / Math.max(1, arrivals.length - late) };
}

export function evaluateProfile(profile: Profile, seconds: number, seed: number): ProfileResult {
  const trace = buildTrace(profile, seconds, seed);
  const packets = trace.map((a) => ({ ...a.packet, arrivalMs: a.arrivalMs }));
  const frameDelays: number[] = [];
  let lastDelay = 0;
  let lastEmitted = 0;
  const { receiver, decisions } = simulatePlayout(
    toneDecoder(),
    packets,
    seconds * 1000 + 1000,
    BENCH_OPTIONS,
    (r) => {
      const stats = r.stats();
      const emitted = stats.jitterBufferEmittedCount - lastEmitted;
      if (emitted > 0) frameDelays.push(((stats.jitterBufferDelay - lastDelay) / emitted) * 1000);
      lastDelay = stats.jitterBufferDelay;
      lastEmitted = stats.jitterBufferEmittedCount;
    },
  );
  const stats = receiver.stats();
  const unique = new Map<number, number>();
  for (const a of trace) {
    const index = (a.packet.timestamp - 1000) / SAMPLES_PER_FRAME;
    if (!unique.has(index)) unique.set(index, a.arrivalMs);
  }
  const firstArrivals = [...unique].map(([index, arrivalMs]) => ({ index, arrivalMs }));
  firstArrivals.sort((a, b) => a.arrivalMs - b.arrivalMs);
  const lateRate = stats.packetsLate / unique.size;
  let fixedDelayMs = 0;
  while (fixedBuffer(firstArrivals, fixedDelayMs).lateRate > lateRate && fixedDelayMs < 5000) fixedDelayMs++;
  const fixedMeanDelayMs = fixedBuffer(firstArrivals, fixedDelayMs).meanDelayMs;
  const meanDelayMs = (stats.jitterBufferDelay / stats.jitterBufferEmittedCount) * 1000;
  const rate = (d: string) => decisions.filter((x) => x === d).length / decisions.length;
  const allowed = profile.stationary ? 1.15 * fixedMeanDelayMs : fixedMeanDelayMs;
  return {
    name: profile.name,
    meanDelayMs,
    p95DelayMs: percentile(frameDelays, 0.95),
    lateRate,
    expandRate: rate('expand'),
    accelerateRate: rate('accelerate'),
    preemptiveRate: rate('preemptive_expand'),
    fixedMeanDelayMs,
    fixedDelayMs,
    // A frame of tick quantisation is allowed: the fixed buffer is ideal, the receiver pulls every 20 ms.
    passed: meanDelayMs <= allowed + FRAME_MS / 2 + 1e-6 && lateRate <= 0.01,
  };
}

export function formatTable(results: ProfileResult[]): string {
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const header =
    '| profile | mean delay ms | p95 delay ms | late | expand | accelerate | preemptive | fixed delay ms (mean) | ratio | pass |';
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${r.meanDelayMs.toFixed(1)} | ${r.p95DelayMs.toFixed(1)} | ${pct(r.lateRate)} | ${pct(r.expandRate)} | ${pct(r.accelerateRate)} | ${pct(r.preemptiveRate)} | ${r.fixedDelayMs} (${r.fixedMeanDelayMs.toFixed(1)}) | ${r.fixedMeanDelayMs >= 1 ? (r.meanDelayMs / r.fixedMeanDelayMs).toFixed(2) : '-'} | ${r.passed ? 'yes' : 'NO'} |`,
  );
  return [header, '|---|---|---|---|---|---|---|---|---|---|', ...rows].join('\n');
}

function main(): void {
  const seconds = Number(process.argv[2] ?? 60);
  const seed = Number(process.argv[3] ?? 7);
  const results = PROFILES.map((p) => evaluateProfile(p, seconds, seed));
  const table = formatTable(results);
  console.log(table);
  if (process.argv.includes('--write')) {
    mkdirSync('bench/out', { recursive: true });
    writeFileSync('bench/out/jitter-table.md', `${table}\n`);
  }
  if (results.some((r) => !r.passed)) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
