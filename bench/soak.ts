/**
 * Soak: a real `patchbay start` (compiled: `npm run build` first) carrying N calls with churn
 * for a long time: each call lasts a random 30–90 s of 20 ms PCMU talk both ways to the echo
 * bot (its own process; bench/load/talker.ts: voiced spurts and pauses), then hangs up and a new call takes its place. Every 10 s the gateway's
 * own /metrics gives RSS, the main thread's heap, each media worker's heap and external memory
 * (the calls' media lives there), open file descriptors, active handles and timers, active calls
 * and the process's CPU, and /proc/<pid>/smaps where the RSS lives (glibc's malloc arenas, the rest
 * of the anonymous memory, files: bench/lib/smaps.ts). At the end: the slopes after warm-up (MB per 10 minutes, by least
 * squares), CPU per call-second, and after the load has stopped and every call has ended, what
 * is left above the idle figures taken before the first call (sockets, handles, timers, calls):
 * leaks. `--malloc-arena-max N` runs the gateway with MALLOC_ARENA_MAX=N (glibc's cap on its
 * malloc arenas, which it otherwise adds per thread up to 8 per core).
 *
 * The warm-up is long because V8 keeps compiling per-call code into its optimizing tiers for
 * the first half hour at 100 calls a minute (heap snapshots: live objects flat, compiled code
 * growing and slowing), and the main thread's old space fills and drops over 10-25 minutes.
 *
 *   npx tsx bench/soak.ts [--minutes 60] [--calls 100] [--hold 30-90] [--warmup-minutes 30]
 *     [--seed 1] [--malloc-arena-max N]
 */

import { loadavg } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { OutboundSession } from '../src/sip/index.js';
import { createOffer, parseAnswer } from '../src/sip/sdp.js';
import { seededRandom } from '../src/util/index.js';
import { endCauseCounts, startGatewayProcess } from '../test/interop/helpers/gateway-process.js';
import { startStackUa } from '../test/interop/helpers/stack-ua.js';
import { parseBenchArgs } from './lib/bench-args.js';
import { metricSum, scrapeMetrics } from './lib/metrics.js';
import { type ResidentSplit, residentSplit } from './lib/smaps.js';
import { EchoBotProcess } from './load/bot-process.js';
import { RtpCallers } from './load/rtp-callers.js';

const { values } = parseBenchArgs(
  'usage: npx tsx bench/soak.ts [--minutes 60] [--calls 100] [--hold 30-90] [--warmup-minutes 30] [--seed 1] [--malloc-arena-max N]',
  {
    minutes: { type: 'string', default: '60' },
    calls: { type: 'string', default: '100' },
    hold: { type: 'string', default: '30-90' },
    'warmup-minutes': { type: 'string', default: '30' },
    seed: { type: 'string', default: '1' },
    'malloc-arena-max': { type: 'string' },
  },
);
const arenaMax = values['malloc-arena-max'];
const minutes = Number(values.minutes);
const calls = Number(values.calls);
const [holdMinSec = 30, holdMaxSec = 90] = (values.hold ?? '30-90').split('-').map(Number);
const warmupMs = Number(values['warmup-minutes']) * 60_000;
const SAMPLE_MS = 10_000;
/** After the load: how long the calls may take to end (BYEs answered, records written). */
const SETTLE_MS = 60_000;

const MIB = 1 / 2 ** 20;
const RESIDENT_PARTS = {
  mainArenaMiB: "glibc's main malloc arena",
  threadArenasMiB: "glibc's thread malloc arenas",
  otherAnonMiB: 'other anonymous memory (V8 heaps and code, stacks, mmap)',
  fileMiB: 'file-backed pages',
} as const;
const WORKER_HEAP = 'patchbay_media_worker_heap_used_bytes';
const MAIN_SPACE = 'patchbay_nodejs_heap_space_size_total_bytes';

/** Each figure: its metric, a label its series must carry ('' for all), and a scale. */
const SERIES = {
  rssMiB: ['patchbay_process_resident_memory_bytes', '', MIB],
  /** The main thread's isolate only (prom-client's default metrics). */
  heapMiB: ['patchbay_nodejs_heap_size_used_bytes', '', MIB],
  /** Summed over the media worker threads. */
  workersHeapMiB: [WORKER_HEAP, '', MIB],
  workersExternalMiB: ['patchbay_media_worker_external_memory_bytes', '', MIB],
  /** The workers' heaps as committed: the pages V8 holds from the OS, used or not. */
  workersCommittedMiB: ['patchbay_media_worker_heap_committed_bytes', '', MIB],
  mainCommittedMiB: ['patchbay_nodejs_heap_size_total_bytes', '', MIB],
  /**
   * The main thread's committed heap by V8 space: the young generation's semi-spaces grow and
   * shrink in steps, bounded; old space climbs for 10-25 minutes between major collections
   * (finished calls' garbage, and compiled code's deoptimization data while the JIT warms up);
   * code space grows as more per-call code is optimized, slowing over the first half hour.
   */
  mainNewSpaceMiB: [MAIN_SPACE, 'space="new"', MIB],
  mainOldSpaceMiB: [MAIN_SPACE, 'space="old"', MIB],
  mainCodeSpaceMiB: [MAIN_SPACE, 'space="code"', MIB],
  mainLargeObjectsMiB: [MAIN_SPACE, 'space="large_object"', MIB],
  /** The whole process, every thread (process.cpuUsage). */
  cpuSec: ['patchbay_process_cpu_seconds_total', '', 1],
  fds: ['patchbay_process_open_fds', '', 1],
  handles: ['patchbay_nodejs_active_handles_total', '', 1],
  timers: ['patchbay_nodejs_active_resources', 'type="Timeout"', 1],
  activeCalls: ['patchbay_active_calls', '', 1],
  /** How many major (mark-compact) collections the main thread has run. */
  mainMajorCollections: ['patchbay_nodejs_gc_duration_seconds_count', 'kind="major"', 1],
} as const;

type Sample = {
  atMs: number;
  load1: number;
  workerHeapMiB: number[];
  /** Where the RSS lives: malloc's arenas, other anonymous memory (V8), files. */
  resident: ResidentSplit;
} & Record<keyof typeof SERIES, number>;

async function sample(apiUrl: string, pid: number, atMs: number): Promise<Sample> {
  const samples = await scrapeMetrics(apiUrl);
  const resident = residentSplit(pid);
  const out = { atMs, load1: loadavg()[0] ?? 0, workerHeapMiB: [], resident } as unknown as Sample;
  for (const [key, [name, label, scale]] of Object.entries(SERIES))
    out[key as keyof typeof SERIES] = metricSum(samples, name, label) * scale;
  for (let worker = 0; `${WORKER_HEAP}{worker="${worker}"}` in samples; worker++)
    out.workerHeapMiB.push((samples[`${WORKER_HEAP}{worker="${worker}"}`] ?? 0) * MIB);
  return out;
}

/** Least-squares slope of a figure over the samples, per 10 minutes. */
function slopePer10Min(samples: Sample[], figure: (s: Sample) => number): number {
  const n = samples.length;
  if (n < 2) return Number.NaN;
  const meanX = samples.reduce((sum, s) => sum + s.atMs, 0) / n;
  const meanY = samples.reduce((sum, s) => sum + figure(s), 0) / n;
  let numerator = 0;
  let denominator = 0;
  for (const s of samples) {
    numerator += (s.atMs - meanX) * (figure(s) - meanY);
    denominator += (s.atMs - meanX) ** 2;
  }
  return (numerator / denominator) * 600_000;
}

/**
 * The lowest sample of each `windowMs` window. A heap's samples swing with the collector's
 * sawtooth (garbage not yet collected); its floors are what each collection left, so a leak
 * shows as rising floors while the plain slope depends on where the samples fell on the teeth.
 */
function floors(samples: Sample[], figure: (s: Sample) => number, windowMs = 120_000): Sample[] {
  const lowest = new Map<number, Sample>();
  for (const s of samples) {
    const window = Math.floor(s.atMs / windowMs);
    const seen = lowest.get(window);
    if (!seen || figure(s) < figure(seen)) lowest.set(window, s);
  }
  return [...lowest.values()];
}

/**
 * The samples taken just before (the sawtooth's peaks) and just after (what the collection
 * left) each major collection of the main thread: judged on these, one climb of the old space
 * between collections cannot pass for a trend.
 */
function aroundMajorCollections(samples: Sample[]): { justBefore: Sample[]; justAfter: Sample[] } {
  const justBefore: Sample[] = [];
  const justAfter: Sample[] = [];
  for (let i = 1; i < samples.length; i++) {
    const [before, at] = [samples[i - 1] as Sample, samples[i] as Sample];
    if (at.mainMajorCollections === before.mainMajorCollections) continue;
    justBefore.push(before);
    justAfter.push(at);
  }
  return { justBefore, justAfter };
}

/** The process's CPU milliseconds per call-second over the samples (calls by the trapezoid rule). */
function cpuMsPerCallSecond(samples: Sample[]): number {
  let callSeconds = 0;
  for (let i = 1; i < samples.length; i++) {
    const [before, at] = [samples[i - 1] as Sample, samples[i] as Sample];
    callSeconds += (((before.activeCalls + at.activeCalls) / 2) * (at.atMs - before.atMs)) / 1000;
  }
  const first = samples[0];
  const last = samples.at(-1);
  return first && last ? ((last.cpuSec - first.cpuSec) * 1000) / callSeconds : Number.NaN;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const bot = await EchoBotProcess.start();
const gateway = await startGatewayProcess({
  botUrl: bot.url,
  codecs: ['PCMU'],
  maxCalls: calls * 2,
  cps: { rate: 50, burst: 50 },
  drainTimeoutSec: 5,
  ...(arenaMax === undefined ? {} : { env: { MALLOC_ARENA_MAX: arenaMax } }),
});
const gatewayPid = gateway.child.pid ?? 0;
const ua = await startStackUa('udp', false);
const callers = await RtpCallers.open(calls);
const random = seededRandom(Number(values.seed));
const started = performance.now();
const endAt = started + minutes * 60_000;
const counts = { placed: 0, answered: 0, failed: 0, endedEarly: 0, completed: 0 };

function invite(slot: number): OutboundSession {
  const { sipPort } = gateway;
  return ua.ua.call({
    requestUri: `sip:soak@127.0.0.1:${sipPort}`,
    destination: { transport: 'udp', address: '127.0.0.1', port: sipPort },
    from: `<sip:caller${slot}@127.0.0.1:${ua.port}>`,
    to: `<sip:soak@127.0.0.1:${sipPort}>`,
    sdp: createOffer({
      address: '127.0.0.1',
      port: callers.ports[slot] ?? 0,
      codecs: ['PCMU'],
      rtcpMux: true,
    }),
  });
}

/** One caller slot: call, hold 30–90 s, hang up, again until the end. */
async function runSlot(slot: number): Promise<void> {
  // Spread the first calls over the first 10 s.
  await delay((slot * 10_000) / calls);
  while (performance.now() < endAt) {
    counts.placed++;
    const session = invite(slot);
    const outcome = await session.outcome;
    const answer = parseAnswer(session.remoteSdp ?? '', ['PCMU']);
    if (outcome.kind !== 'answered' || !answer.ok) {
      counts.failed++;
      await delay(1000);
      continue;
    }
    counts.answered++;
    callers.connect(slot, answer.remote.port);
    const holdMs = (holdMinSec + random() * (holdMaxSec - holdMinSec)) * 1000;
    const ended = new Promise<'ended'>((resolve) => session.once('terminated', () => resolve('ended')));
    const early = await Promise.race([ended, delay(Math.min(holdMs, endAt - performance.now()))]);
    callers.disconnect(slot);
    if (early === 'ended') counts.endedEarly++;
    else {
      await session.bye().catch(() => undefined);
      counts.completed++;
    }
  }
}

await delay(2000);
const idle = await sample(gateway.apiUrl, gatewayPid, 0);
console.log(`idle: ${JSON.stringify(idle)}`);
const samples: Sample[] = [];
const sampler = setInterval(() => {
  void sample(gateway.apiUrl, gatewayPid, performance.now() - started).then((s) => {
    samples.push(s);
    const perWorker = s.workerHeapMiB.map((heap) => heap.toFixed(1)).join(' + ');
    const { mainArenaMiB, threadArenasMiB, threadArenas, otherAnonMiB } = s.resident;
    console.log(
      `${(s.atMs / 60_000).toFixed(1)} min: ${s.activeCalls} calls, RSS ${s.rssMiB.toFixed(1)} MiB (malloc main arena ${mainArenaMiB.toFixed(1)}, ${threadArenas} thread arenas ${threadArenasMiB.toFixed(1)}, other anonymous ${otherAnonMiB.toFixed(1)}), main heap ${s.heapMiB.toFixed(1)} MiB, workers' heaps ${perWorker} MiB (external ${s.workersExternalMiB.toFixed(1)}; committed: main ${s.mainCommittedMiB.toFixed(1)} (new ${s.mainNewSpaceMiB.toFixed(1)}, old ${s.mainOldSpaceMiB.toFixed(1)}, code ${s.mainCodeSpaceMiB.toFixed(1)}, large ${s.mainLargeObjectsMiB.toFixed(1)}), workers ${s.workersCommittedMiB.toFixed(1)}), CPU ${s.cpuSec.toFixed(1)} s, ${s.mainMajorCollections} major GCs, ${s.fds} fds, ${s.handles} handles, ${s.timers} timers, load ${s.load1.toFixed(2)}`,
    );
  });
}, SAMPLE_MS);
await Promise.all(Array.from({ length: calls }, (_, slot) => runSlot(slot)));
clearInterval(sampler);

// The load has stopped: wait for every call to end, then compare with the idle figures.
let after = await sample(gateway.apiUrl, gatewayPid, performance.now() - started);
for (let waited = 0; after.activeCalls > 0 && waited < SETTLE_MS; waited += 1000) {
  await delay(1000);
  after = await sample(gateway.apiUrl, gatewayPid, performance.now() - started);
}
// The last calls' SIP transactions live on for Timer J (32 s over UDP, RFC 3261 §17.2.2).
await delay(40_000);
after = await sample(gateway.apiUrl, gatewayPid, performance.now() - started);
const listed = (await (await fetch(`${gateway.apiUrl}/v1/calls`)).json()) as { calls?: unknown[] };
const allRecords = gateway.records();
const records = allRecords.length;
/** Why calls ended other than by the caller's hang-up: the records' causes (and details), counted. */
const otherEnds = endCauseCounts(allRecords, ['caller_bye']);

const steady = samples.filter((s) => s.atMs >= warmupMs);
const slope = (figure: (s: Sample) => number): string => slopePer10Min(steady, figure).toFixed(2);
/** A heap's slope over every sample, and over its 2-minute floors. */
const heapSlopes = (figure: (s: Sample) => number): string =>
  `${slope(figure)} / ${slopePer10Min(floors(steady, figure), figure).toFixed(2)}`;
const idlePeakAfter = (figure: (s: Sample) => number): string =>
  `${figure(idle).toFixed(1)} → ${Math.max(...samples.map(figure)).toFixed(1)} → ${figure(after).toFixed(1)}`;
const steadyCpu = cpuMsPerCallSecond(steady);
const collections = aroundMajorCollections(steady);
const steadyWallSec = ((steady.at(-1)?.atMs ?? 0) - (steady[0]?.atMs ?? 0)) / 1000;
const loads = samples.map((s) => s.load1);
console.log(
  `\n${arenaMax === undefined ? '' : `MALLOC_ARENA_MAX=${arenaMax}\n`}| figure | value |\n| --- | --- |`,
);
const rows: Array<[string, string]> = [
  ['calls placed / answered / failed', `${counts.placed} / ${counts.answered} / ${counts.failed}`],
  ['calls ended before their hang-up (by the gateway)', String(counts.endedEarly)],
  ['call records written', String(records)],
  [
    "records of calls not ended by the caller's hang-up, by cause",
    otherEnds.size === 0 ? 'none' : [...otherEnds].map(([end, count]) => `${end}: ${count}`).join('; '),
  ],
  ['RSS idle → peak → after MiB', idlePeakAfter((s) => s.rssMiB)],
  ['RSS slope after warm-up, MiB per 10 min', slope((s) => s.rssMiB)],
  [
    "RSS slope after warm-up over the samples just before / just after the main thread's major collections (how many), MiB per 10 min",
    `${slopePer10Min(collections.justBefore, (s) => s.rssMiB).toFixed(2)} / ${slopePer10Min(collections.justAfter, (s) => s.rssMiB).toFixed(2)} (${collections.justAfter.length})`,
  ],
  ...(['mainArenaMiB', 'threadArenasMiB', 'otherAnonMiB', 'fileMiB'] as const).map(
    (part): [string, string] => [
      `RSS in ${RESIDENT_PARTS[part]}: idle → peak → after MiB; slope after warm-up, MiB per 10 min`,
      `${idlePeakAfter((s) => s.resident[part])}; ${slope((s) => s.resident[part])}`,
    ],
  ),
  ['main thread heap idle → peak → after MiB', idlePeakAfter((s) => s.heapMiB)],
  [
    'main thread heap slope after warm-up, MiB per 10 min: samples / 2-min floors',
    heapSlopes((s) => s.heapMiB),
  ],
  ["media workers' heaps (sum) idle → peak → after MiB", idlePeakAfter((s) => s.workersHeapMiB)],
  [
    "media workers' heaps (sum) slope after warm-up, MiB per 10 min: samples / 2-min floors",
    heapSlopes((s) => s.workersHeapMiB),
  ],
  ...idle.workerHeapMiB.map((_, worker): [string, string] => [
    `media worker ${worker} heap slope after warm-up, MiB per 10 min: samples / 2-min floors`,
    heapSlopes((s) => s.workerHeapMiB[worker] ?? Number.NaN),
  ]),
  [
    "media workers' external memory (sum) idle → peak → after MiB",
    idlePeakAfter((s) => s.workersExternalMiB),
  ],
  ["media workers' external memory slope after warm-up, MiB per 10 min", slope((s) => s.workersExternalMiB)],
  [
    'V8 heaps as committed, main thread / media workers (sum): idle → peak → after MiB; slopes after warm-up',
    `${idlePeakAfter((s) => s.mainCommittedMiB)} / ${idlePeakAfter((s) => s.workersCommittedMiB)}; ${slope((s) => s.mainCommittedMiB)} / ${slope((s) => s.workersCommittedMiB)}`,
  ],
  [
    "main thread's committed heap by space (new / old / code / large objects): idle → peak → after MiB; slopes after warm-up",
    (['mainNewSpaceMiB', 'mainOldSpaceMiB', 'mainCodeSpaceMiB', 'mainLargeObjectsMiB'] as const)
      .map((space) => `${idlePeakAfter((s) => s[space])}; ${slope((s) => s[space])}`)
      .join(' / '),
  ],
  [
    'CPU after warm-up: ms per call-second (cores busy)',
    `${steadyCpu.toFixed(2)} (${(((steady.at(-1)?.cpuSec ?? 0) - (steady[0]?.cpuSec ?? 0)) / steadyWallSec).toFixed(2)})`,
  ],
  ['fds slope after warm-up, per 10 min', slope((s) => s.fds)],
  ['active calls after the load', `${after.activeCalls} (API lists ${listed.calls?.length ?? '?'})`],
  ['open fds idle → after', `${idle.fds} → ${after.fds}`],
  ['active handles idle → after', `${idle.handles} → ${after.handles}`],
  ['timers idle → after', `${idle.timers} → ${after.timers}`],
  [
    'load average (1 min) min / median / max',
    `${Math.min(...loads).toFixed(2)} / ${median(loads).toFixed(2)} / ${Math.max(...loads).toFixed(2)}`,
  ],
];
for (const [name, value] of rows) console.log(`| ${name} | ${value} |`);

callers.close();
await ua.close();
await gateway.stop();
await bot.close();
