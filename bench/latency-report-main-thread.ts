/**
 * Main-thread time to take one media worker's 500 ms latency report into
 * `patchbay_rtp_to_websocket_seconds`, for 200 calls' worth of frames (200 × 25 = 5,000):
 *  - before: the report carried every latency and the main thread observed each one through a
 *    prom-client Histogram (label hash, bound search, label check per value),
 *  - after: the worker binned them and the main thread adds the bucket counts (BinnedHistogram.add).
 * Also the worker's side per frame: writing the value into a preallocated array (before) against
 * binning it (after). Old and new alternate in one run; medians over the rounds.
 *
 *   node --import tsx bench/latency-report-main-thread.ts [rounds=15]
 */
import { performance } from 'node:perf_hooks';
import { Histogram, Registry } from 'prom-client';
import { BinnedHistogram } from '../src/control/binned-histogram.js';
import { BucketCounts, RTP_TO_WEBSOCKET_BOUNDS, SeededRandom } from '../src/util/index.js';
import { median } from './lib/alloc-meter.js';

const rounds = Number(process.argv[2] ?? 15);
const VALUES_PER_REPORT = 200 * 25;
const REPORTS_PER_ROUND = 200;

// Latencies as a jitter buffer gives them: mostly 20-80 ms, a few late ones past the last bound.
const random = new SeededRandom(7);
const latencies = Float64Array.from({ length: VALUES_PER_REPORT }, () =>
  random.chance(0.01) ? 0.3 + random.next() : 0.02 + random.next() * 0.06,
);

const help = 'Time from an RTP packet arriving to its audio being written to the bot socket';
const promClient = new Histogram({
  name: 'before',
  help,
  buckets: [...RTP_TO_WEBSOCKET_BOUNDS],
  registers: [new Registry()],
});
const binned = new BinnedHistogram({
  name: 'after',
  help,
  bounds: RTP_TO_WEBSOCKET_BOUNDS,
  registers: [new Registry()],
});
const worker = new BucketCounts(RTP_TO_WEBSOCKET_BOUNDS);
for (const value of latencies) worker.observe(value);
const report = worker.take();
const stored = new Float64Array(65_536);

/** Microseconds per call of `run`, over `count` calls. */
function microseconds(count: number, run: () => void): number {
  const start = performance.now();
  for (let index = 0; index < count; index++) run();
  return ((performance.now() - start) * 1000) / count;
}

const cases: Record<string, () => number> = {
  'main thread, per report: observe 5,000 values (before)': () =>
    microseconds(REPORTS_PER_ROUND, () => {
      for (const value of latencies) promClient.observe(value);
    }),
  'main thread, per report: add the bucket counts (after)': () =>
    microseconds(REPORTS_PER_ROUND, () => binned.add(report)),
  'worker, per frame: store the value (before)': () =>
    microseconds(REPORTS_PER_ROUND, () => {
      for (let index = 0; index < VALUES_PER_REPORT; index++) stored[index] = latencies[index] as number;
    }) / VALUES_PER_REPORT,
  'worker, per frame: bin the value (after)': () =>
    microseconds(REPORTS_PER_ROUND, () => {
      for (let index = 0; index < VALUES_PER_REPORT; index++) worker.observe(latencies[index] as number);
      worker.reset();
    }) / VALUES_PER_REPORT,
};

const results = new Map<string, number[]>(Object.keys(cases).map((name) => [name, []]));
for (const run of Object.values(cases)) run(); // warm-up: compiled code
for (let round = 0; round < rounds; round++)
  for (const [name, run] of Object.entries(cases)) results.get(name)?.push(run());

const medians = new Map([...results].map(([name, values]) => [name, median(values)]));
for (const [name, value] of medians) console.log(`${name.padEnd(58)} ${value.toFixed(3)} µs (median)`);
const before = medians.get('main thread, per report: observe 5,000 values (before)') ?? Number.NaN;
const after = medians.get('main thread, per report: add the bucket counts (after)') ?? Number.NaN;
console.log(`main thread per report: ${(before / after).toFixed(0)}× less time`);
