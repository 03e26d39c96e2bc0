/**
 * Overload for a long run with a witness call (bench/lib/overload-run.ts): a real `patchbay
 * start` with one media worker and the strict `limits.overload` thresholds, an echo bot process,
 * and a witness call (with an echo bot process of its own) with tagged RTP both ways, while SIPp offers twice the sustainable call
 * rate for `--seconds`, each answered call held `--hold-ms`, so the calls held at once pass the
 * node's media capacity. The sustainable rate, unless `--rate` is given, is found first in the
 * same run: the most calls per second the node answered in short rising SIPp steps (calls hung
 * up at once) after a warm-up step.
 *
 * Per run: the witness's tagged frames (one in 4 of its speech, bench/load/talker.ts) lost and
 * gaps over 60 ms both ways next to a bare pacer process's gaps in the same seconds; the calls
 * offered, answered, refused with 503 as overloaded and failed otherwise; the peak of
 * `patchbay_active_calls`, how long after SIPp ended only the witness was left and how long
 * after its BYE none; the gateway's peak RSS and its CPU as a share of one core; the bot audio
 * the playouts removed to give back standing delay (voice and pauses only: a tagged frame is
 * neither trimmed nor compressed). Then the median of each figure. Runs the compiled gateway:
 * `npm run build` first.
 *
 *   npx tsx bench/overload.ts [--seconds 30] [--runs 2] [--rate R] [--hold-ms MS] [--load-nice N]
 *
 * The witness has an echo bot process of its own. `--load-nice N` runs SIPp and the offered
 * calls' echo bot at niceness N, as carriers and bots on machines of their own would be: on a
 * 2-core box they otherwise take CPU the node needs for the calls it carries.
 */
import { loadavg } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { CallRecord } from '../src/gateway/call-record.js';
import { percentile } from '../test/interop/helpers/sipp.js';
import { parseBenchArgs } from './lib/bench-args.js';
import { type Flood, type FloodResult, framesLost, OverloadRig } from './lib/overload-run.js';
import { cpuSeconds, rssBytes } from './lib/proc-stat.js';
import { LATE_GAP_MS } from './load/frame-stats.js';

const { values } = parseBenchArgs(
  'usage: npx tsx bench/overload.ts [--seconds 30] [--runs 2] [--rate R] [--hold-ms MS] [--load-nice N]',
  {
    seconds: { type: 'string', default: '30' },
    runs: { type: 'string', default: '2' },
    rate: { type: 'string' },
    'hold-ms': { type: 'string' },
    'load-nice': { type: 'string', default: '0' },
  },
);
const seconds = Number(values.seconds);
const runs = Number(values.runs);

/** The probe's steps (calls per second, each for PROBE_SECONDS, calls hung up at once). */
const PROBE_RATES = [10, 20, 40, 60, 80, 100, 150, 200, 300];
const PROBE_SECONDS = 3;
/** Calls held at once the offer reaches at least: past one media worker's capacity. */
const MIN_HELD_AT_ONCE = 400;
const MIN_HOLD_MS = 4000;
/** Room in the node and its trunk for the probe's and the flood's calls: its own load refuses. */
const MAX_CALLS = 4000;
/**
 * SIPp's uac sends no RTP: its calls must outlive their hold, and one whose BYE was lost shows
 * as stuck at SETTLE_LIMIT_MS rather than being ended by the inactivity timer first.
 */
const RTP_INACTIVITY_TIMEOUT_SEC = 120;
const BASELINE_MS = 2500;
/**
 * How long SIPp's calls may take to end once it is done: past Timer H (32 s, a 200 never ACKed,
 * RFC 3261 §13.3.1.4) and the bot's connect timeout, a call still active is stuck.
 */
const SETTLE_LIMIT_MS = 45_000;
const SETTLE_POLL_MS = 250;
const SAMPLE_MS = 500;
const SIPP_GRACE_MS = 60_000;

interface RunFigures {
  loadavg: number;
  offered: number;
  answered: number;
  refused503: number;
  otherFailures: number;
  witnessLostToBot: number;
  witnessLostToCaller: number;
  witnessGapsToBot: number;
  witnessGapsToCaller: number;
  witnessSenderLagMs: number;
  pacerMaxGapMs: number;
  pacerGaps: number;
  peakActive: number;
  /** Seconds after SIPp ended until only the witness was active (NaN: never within the limit). */
  onlyWitnessAfterSec: number;
  /** Calls left active beside the witness at the limit. */
  stuck: number;
  /** Seconds after the witness's BYE until no call was active. */
  noneAfterByeSec: number;
  rssPeakMb: number;
  cpuPercent: number;
  /**
   * Bot audio the node's playouts removed to give back standing delay (whole pitch periods, and
   * silent frames): played faster, not lost; never a tagged frame (see bench/load/talker.ts).
   */
  compressedMs: number;
  trimmedFrames: number;
}

/** The playouts' removed audio so far: counted as each call ends. */
async function playoutRemoved(rig: OverloadRig): Promise<{ compressedMs: number; trimmedFrames: number }> {
  return {
    compressedMs: 1000 * (await rig.metric('patchbay_playout_compressed_seconds_total')),
    trimmedFrames: await rig.metric('patchbay_playout_trimmed_frames_total'),
  };
}

/** One probe step: SIPp at `rate` for PROBE_SECONDS, calls hung up at once; printed. */
async function probeStep(
  rig: OverloadRig,
  rate: number,
  name: string,
): Promise<{ answered: number; achieved: number }> {
  const { offered, sipp, refused } = await rig.offer(
    { rate, seconds: PROBE_SECONDS, holdMs: 0 },
    PROBE_SECONDS * 1000 + SIPP_GRACE_MS,
  );
  const achieved = sipp.successfulCalls / (sipp.elapsedMs / 1000);
  console.log(
    `${name} ${rate}/s for ${PROBE_SECONDS} s: ${sipp.successfulCalls} of ${offered} answered (${achieved.toFixed(1)}/s), ` +
      `${refused} refused with 503 (loadavg ${(loadavg()[0] ?? 0).toFixed(1)})`,
  );
  await rig.untilActiveCalls(0, SETTLE_LIMIT_MS, SETTLE_POLL_MS);
  // The overload window judged before the next step is one without this step's calls.
  await delay(1000);
  return { answered: sipp.successfulCalls / offered, achieved };
}

/**
 * The most calls per second the node answered in any probe step (calls hung up at once, as
 * bench/sip-cps.ts's achieved CPS), after a warm-up step (a cold process refuses its first
 * calls' setup as overload), stepping up until a step has less than half its calls answered
 * after one had at least half: past the knee. A step the node refuses part of still counts what
 * it carried.
 */
async function sustainableRate(rig: OverloadRig): Promise<number> {
  await probeStep(rig, PROBE_RATES[0] ?? 10, 'warm-up');
  let sustainable = 0;
  let carried = false;
  for (const rate of PROBE_RATES) {
    const { answered, achieved } = await probeStep(rig, rate, 'probe');
    sustainable = Math.max(sustainable, achieved);
    if (answered >= 0.5) carried = true;
    else if (carried) break;
  }
  return Math.max(1, Math.floor(sustainable));
}

/** Peak active calls and gateway RSS, sampled until `stop` is called. */
function sampleGateway(
  rig: OverloadRig,
  pid: number,
): { stop: () => Promise<{ peakActive: number; rssPeak: number }> } {
  let stopped = false;
  let peakActive = 0;
  let rssPeak = 0;
  const loop = (async () => {
    while (!stopped) {
      rssPeak = Math.max(rssPeak, rssBytes(pid));
      peakActive = Math.max(peakActive, await rig.activeCalls());
      await delay(SAMPLE_MS);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { peakActive, rssPeak };
    },
  };
}

async function run(rig: OverloadRig, flood: Flood): Promise<RunFigures> {
  const load = loadavg()[0] ?? 0;
  const pid = rig.gateway.child.pid ?? 0;
  const removedBefore = await playoutRemoved(rig);
  const witness = await rig.placeWitness();
  await delay(500);
  const baseline = await rig.witnessWindow(BASELINE_MS);
  const [baselineToBot, baselineToCaller] = framesLost(baseline);
  console.log(
    `baseline ${BASELINE_MS} ms: witness tagged frames lost ${baselineToBot} / ${baselineToCaller}, gaps over ${LATE_GAP_MS} ms ` +
      `${baseline.callerToBot.late} / ${baseline.botToCaller.late} (caller->bot / bot->caller)`,
  );
  const sampler = sampleGateway(rig, pid);
  const cpuBefore = cpuSeconds(pid);
  const startedMs = performance.now();
  // The witness and the pacer are measured over the whole offer and its calls' hold.
  const result: FloodResult = await rig.flood(
    flood,
    flood.seconds * 1000 + flood.holdMs + SIPP_GRACE_MS,
    flood.seconds * 1000 + flood.holdMs,
  );
  const cpuPercent = (100 * (cpuSeconds(pid) - cpuBefore)) / ((performance.now() - startedMs) / 1000);
  const onlyWitness = await rig.untilActiveCalls(1, SETTLE_LIMIT_MS, SETTLE_POLL_MS);
  const { peakActive, rssPeak } = await sampler.stop();
  const byeAtMs = performance.now();
  await rig.endWitness(witness);
  const none = await rig.untilActiveCalls(0, SETTLE_LIMIT_MS, SETTLE_POLL_MS);
  const removedAfter = await playoutRemoved(rig);
  const [lostToBot, lostToCaller] = framesLost(result.witness);
  console.log(`the witness's record: ${witnessRecordLine(rig)}`);
  return {
    loadavg: load,
    offered: result.offered,
    answered: result.sipp.successfulCalls,
    refused503: result.refused,
    otherFailures: result.offered - result.sipp.successfulCalls - result.refused,
    witnessLostToBot: lostToBot,
    witnessLostToCaller: lostToCaller,
    witnessGapsToBot: result.witness.callerToBot.late,
    witnessGapsToCaller: result.witness.botToCaller.late,
    witnessSenderLagMs: result.witness.senderLagMaxMs,
    pacerMaxGapMs: result.pacer.maxGapMs,
    pacerGaps: result.pacer.gapsOverLateMs,
    peakActive,
    onlyWitnessAfterSec:
      onlyWitness.active <= 1 ? (onlyWitness.atMs - result.sippEndedAtMs) / 1000 : Number.NaN,
    stuck: Math.max(0, onlyWitness.active - 1),
    noneAfterByeSec: none.active === 0 ? (none.atMs - byeAtMs) / 1000 : Number.NaN,
    rssPeakMb: rssPeak / 2 ** 20,
    cpuPercent,
    compressedMs: removedAfter.compressedMs - removedBefore.compressedMs,
    trimmedFrames: removedAfter.trimmedFrames - removedBefore.trimmedFrames,
  };
}

/**
 * What the gateway itself counted for the witness (its call record's media figures), to tell
 * where a frame the witness missed went: caller->bot, packets the jitter buffer got too late
 * or the kernel dropped at the socket, and audio it concealed; bot->caller, frames the bot
 * playout had nothing to play for (the echo came late).
 */
function witnessRecordLine(rig: OverloadRig): string {
  const records = rig.gateway.records() as unknown as CallRecord[];
  const record = records.filter((candidate) => candidate.to.includes('witness')).at(-1);
  const media = record?.media;
  if (!media) return 'none';
  const jitter = media.jitterBuffer;
  const stream = media.stream;
  return [
    `rtp received ${media.rtp?.packetsReceived ?? 'n/a'}, lost ${media.rtp?.packetsLost ?? 'n/a'}, kernel drops ${media.rtp?.socketDrops ?? 'n/a'}`,
    `jitter buffer late ${jitter?.packetsLate ?? 'n/a'}, discarded ${jitter?.packetsDiscarded ?? 'n/a'}, ` +
      `concealed ${jitter ? ((1000 * jitter.concealedSamples) / 8000).toFixed(0) : 'n/a'} ms`,
    `playout underrun frames ${stream?.underrunFrames ?? 'n/a'}`,
  ].join('; ');
}

const COLUMNS: Array<[string, (figures: RunFigures) => number, number]> = [
  ['loadavg at start', (f) => f.loadavg, 1],
  ['offered', (f) => f.offered, 0],
  ['answered', (f) => f.answered, 0],
  ['503 overload', (f) => f.refused503, 0],
  ['other failures', (f) => f.otherFailures, 0],
  ['witness tagged frames lost caller->bot', (f) => f.witnessLostToBot, 0],
  ['witness tagged frames lost bot->caller', (f) => f.witnessLostToCaller, 0],
  [`witness gaps >${LATE_GAP_MS} ms caller->bot`, (f) => f.witnessGapsToBot, 0],
  [`witness gaps >${LATE_GAP_MS} ms bot->caller`, (f) => f.witnessGapsToCaller, 0],
  ['witness sender max lag ms', (f) => f.witnessSenderLagMs, 0],
  ['bare pacer max gap ms', (f) => f.pacerMaxGapMs, 0],
  [`bare pacer gaps >${LATE_GAP_MS} ms`, (f) => f.pacerGaps, 0],
  ['playout compressed ms (bot->caller)', (f) => f.compressedMs, 0],
  ['playout trimmed frames (bot->caller)', (f) => f.trimmedFrames, 0],
  ['peak active calls', (f) => f.peakActive, 0],
  ['only the witness left, s after SIPp ended', (f) => f.onlyWitnessAfterSec, 1],
  [`calls stuck at ${SETTLE_LIMIT_MS / 1000} s`, (f) => f.stuck, 0],
  ['0 active, s after witness BYE', (f) => f.noneAfterByeSec, 1],
  ['gateway RSS peak MB', (f) => f.rssPeakMb, 0],
  ['gateway CPU % of a core', (f) => f.cpuPercent, 0],
];

const rig = await OverloadRig.start({
  maxCalls: MAX_CALLS,
  cps: MAX_CALLS,
  rtpInactivityTimeoutSec: RTP_INACTIVITY_TIMEOUT_SEC,
  loadNice: Number(values['load-nice']),
});
try {
  console.log(
    `loadavg at start ${loadavg()
      .map((load) => load.toFixed(1))
      .join(' ')}`,
  );
  let rate = Number(values.rate);
  if (values.rate === undefined) {
    const sustainable = await sustainableRate(rig);
    rate = 2 * sustainable;
    console.log(
      `sustainable rate ${sustainable}/s (the most answered per second in a probe step): offering ${rate}/s`,
    );
  }
  const holdMs =
    values['hold-ms'] === undefined
      ? Math.max(MIN_HOLD_MS, Math.ceil((1000 * MIN_HELD_AT_ONCE) / rate / 1000) * 1000)
      : Number(values['hold-ms']);
  if ((rate * holdMs) / 1000 > MAX_CALLS)
    throw new Error(`--rate x --hold-ms past the node's room for ${MAX_CALLS} calls at once`);
  if (holdMs >= RTP_INACTIVITY_TIMEOUT_SEC * 1000)
    throw new Error(`--hold-ms past the node's RTP inactivity timeout (${RTP_INACTIVITY_TIMEOUT_SEC} s)`);
  const heldAtOnce = Math.round((rate * Math.min(holdMs, seconds * 1000)) / 1000);
  console.log(
    `offer: ${rate} calls/s for ${seconds} s, each held ${holdMs} ms (${heldAtOnce} at once if all were admitted` +
      `${heldAtOnce < MIN_HELD_AT_ONCE ? `: fewer than ${MIN_HELD_AT_ONCE}, not past the media capacity` : ''})\n`,
  );
  const all: RunFigures[] = [];
  for (let index = 0; index < runs; index++) {
    const figures = await run(rig, { rate, seconds, holdMs });
    all.push(figures);
    console.log(
      `run ${index + 1}: ${COLUMNS.map(([name, read, digits]) => `${name} ${read(figures).toFixed(digits)}`).join(', ')}`,
    );
  }
  console.log(
    `\n| figure | ${all.map((_, index) => `run ${index + 1}`).join(' | ')} | median (nearest rank) |`,
  );
  console.log(`| --- | ${all.map(() => '---').join(' | ')} | --- |`);
  for (const [name, read, digits] of COLUMNS) {
    const cells = all.map((figures) => read(figures).toFixed(digits));
    console.log(`| ${name} | ${cells.join(' | ')} | ${percentile(all.map(read), 50).toFixed(digits)} |`);
  }
} finally {
  await rig.close();
}
