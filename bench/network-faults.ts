/**
 * Carrier network faults against a real `patchbay start` (media in worker threads, its default
 * `media.workers: auto`): each cell of a grid of impairments holds `--calls` concurrent calls for
 * `--seconds`, their RTP both ways through an impairing relay on loopback
 * (test/interop/helpers/lossy-relay.ts: seeded uniform or Gilbert-Elliott bursty loss, and a
 * random per-datagram delay that reorders; this box has no netem), beside one clean call in the
 * same seconds as the baseline. The caller sends a continuous 1 kHz tone; the test bot hears what
 * the gateway's jitter buffer made of it, and streams a tone back that the caller counts.
 *
 * Per cell: datagrams the relay dropped towards the gateway against the records' loss; the
 * frames the bot heard without the tone (holes) and the longest run of them, against the clean
 * call's; the drops past what G.711's concealment reaches; the records' concealed share, jitter
 * buffer delay and target, MOS; what the relay dropped towards the caller against the loss the
 * caller saw; whether every record is complete. Then a silent carrier: calls whose caller stops
 * sending mid-call, timed from its last packet to the gateway's BYE.
 *
 * Asserts (exit 1 otherwise): every record complete with the expected cause; in the cells whose
 * loss concealment is expected to cover (all but 20 %), no call has more holes than the clean
 * call plus the drops past the concealment's reach plus a margin; the bot got a frame every
 * tick; the silent calls end by a BYE within the inactivity timeout plus one supervision tick
 * plus a margin, the bot gets `stop`, one complete `rtp_timeout` record each. Runs the compiled
 * gateway: `npm run build` first.
 *
 *   npx tsx bench/network-faults.ts [--seconds 15] [--calls 8] [--workers N] [--seed 1]
 */
import { loadavg } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { CallRecord } from '../src/gateway/index.js';
import {
  type Heard,
  heardBy,
  type ImpairedCall,
  ImpairedCallRig,
  type Impairment,
  recordGaps,
} from '../test/interop/helpers/impaired-call.js';
import { parseBenchArgs } from './lib/bench-args.js';

const { values } = parseBenchArgs(
  'usage: npx tsx bench/network-faults.ts [--seconds 15] [--calls 8] [--workers N] [--seed 1]',
  {
    seconds: { type: 'string', default: '15' },
    calls: { type: 'string', default: '8' },
    workers: { type: 'string' },
    seed: { type: 'string', default: '1' },
  },
);
const seconds = Number(values.seconds);
const callsPerCell = Math.min(10, Number(values.calls));
const workers = values.workers === undefined ? undefined : Number(values.workers);
const seed = Number(values.seed);

const INACTIVITY_SEC = 2;
const SILENT_CALLS = 4;
/** The silent calls talk this long before their carrier goes quiet. */
const SILENT_AFTER_MS = 3000;
/** The gateway checks RTP inactivity once a second (call-controller.ts's supervision). */
const SUPERVISION_MS = 1000;
/** Scheduling on a loaded 2-core box on top of timeout plus one tick, for the BYE to arrive. */
const BYE_MARGIN_MS = 1000;
/**
 * G.711 Appendix I concealment plays the first 10 ms of a gap at full level, then fades 20 % per
 * 10 ms to silence at 60 ms: the second lost 20 ms frame still carries a third of the tone's
 * power (over the hole threshold, a tenth), the third under a twentieth. So of each run of n
 * consecutive drops, n - 2 frames are holes by design, beyond what concealment is built to cover.
 */
const CONCEALMENT_REACH_FRAMES = 2;
/**
 * Holes a call may have beyond the clean call's and those past the concealment's reach: 1 % of
 * its frames. Late datagrams (the relay's own timers on a busy box stretch its delays past the
 * jitter buffer's target) are concealed like drops and may leave a hole of their own.
 */
const HOLE_MARGIN = 0.01;
/** The bot gets a frame every 20 ms: at least this share of the cell's seconds' frames. */
const MIN_FRAME_SHARE = 0.95;
const BOT_TONE_HZ = 440;

interface Cell {
  name: string;
  impairment: Impairment;
  /** Concealment is expected to cover this loss (asserted); otherwise only reported. */
  concealable: boolean;
}

const uniform = (lossRate: number, jitterMs = 0): Impairment => ({ lossRate, jitterMs });
const bursty = (lossRate: number, jitterMs = 0): Impairment => ({ lossRate, jitterMs, meanBurstPackets: 3 });
const CELLS: Cell[] = [
  // The first calls of a fresh gateway (workers and code still cold): reported, not judged.
  { name: 'relay only, cold gateway', impairment: uniform(0), concealable: false },
  { name: 'relay only', impairment: uniform(0), concealable: true },
  { name: '1 % loss', impairment: uniform(0.01), concealable: true },
  { name: '5 % loss', impairment: uniform(0.05), concealable: true },
  { name: '10 % loss', impairment: uniform(0.1), concealable: true },
  { name: '20 % loss', impairment: uniform(0.2), concealable: false },
  { name: '5 % bursty loss', impairment: bursty(0.05), concealable: true },
  { name: '30 ms jitter', impairment: uniform(0, 30), concealable: true },
  { name: '60 ms jitter', impairment: uniform(0, 60), concealable: true },
  { name: '5 % loss + 30 ms jitter', impairment: uniform(0.05, 30), concealable: true },
  { name: '10 % loss + 60 ms jitter', impairment: uniform(0.1, 60), concealable: true },
  { name: '5 % bursty + 30 ms jitter', impairment: bursty(0.05, 30), concealable: true },
];

/** One impaired call's figures, from the relay, the bot, the caller and the record. */
interface CallFigures {
  heard: Heard;
  /** Datagrams the relay dropped towards the gateway, and those past the concealment's reach. */
  droppedToGateway: number;
  pastReach: number;
  sentToGateway: number;
  droppedToCaller: number;
  /** Datagrams (RTP and RTCP) the gateway sent the caller through the relay. */
  sentToCaller: number;
  /** RFC 3550 loss of the gateway's RTP as the caller saw it. */
  callerLost: number;
  callerReceived: number;
  callerOutOfOrder: number;
  record: CallRecord | undefined;
  /** What is wrong with its record: gaps, a second record, another cause. */
  recordFaults: string[];
}

const failures: string[] = [];
/** Calls whose record or caller counted another loss than the relay dropped, with what explains it. */
const disagreements: string[] = [];
const check = (ok: boolean, what: string): void => {
  if (!ok) failures.push(what);
};

/** Drops past the concealment's reach: n - reach of each run of n consecutive drops. */
function dropsPastReach(dropRuns: readonly number[]): number {
  return dropRuns.reduce(
    (sum, runs, length) => sum + runs * Math.max(0, length - CONCEALMENT_REACH_FRAMES),
    0,
  );
}

/** What is wrong with a call's records: none, several, incomplete or ended otherwise. */
function recordFaults(records: CallRecord[], cause: string): string[] {
  const [record] = records;
  if (!record) return ['no record'];
  return [
    ...(records.length === 1 ? [] : [`${records.length} records`]),
    ...recordGaps(record).map((gap) => `no ${gap}`),
    ...(record.end.cause === cause ? [] : [`cause ${record.end.cause}`]),
  ];
}

async function figuresOf(rig: ImpairedCallRig, call: ImpairedCall, cause: string): Promise<CallFigures> {
  const records = await rig.recordsOf(call.session);
  const { toTarget, toClient } = call.relay;
  return {
    heard: heardBy(call.botCall),
    droppedToGateway: toTarget.dropped,
    pastReach: dropsPastReach(toTarget.dropRuns),
    sentToGateway: toTarget.dropped + toTarget.forwarded,
    droppedToCaller: toClient.dropped,
    sentToCaller: toClient.dropped + toClient.forwarded,
    callerLost: call.caller.received?.cumulativeLost ?? 0,
    callerReceived: call.caller.received?.packetsReceived ?? 0,
    callerOutOfOrder: call.caller.received?.outOfOrder ?? 0,
    record: records[0],
    recordFaults: recordFaults(records, cause),
  };
}

/** Holds the clean call and the cell's calls for `seconds`, hangs them all up, measures each. */
async function runCell(
  rig: ImpairedCallRig,
  cell: Cell,
  cellSeed: number,
): Promise<{ clean: CallFigures; calls: CallFigures[] }> {
  const clean = await rig.call(cellSeed, uniform(0));
  const impaired: ImpairedCall[] = [];
  for (let i = 1; i <= callsPerCell; i++) impaired.push(await rig.call(cellSeed + i, cell.impairment));
  const all = [clean, ...impaired];
  await delay(seconds * 1000);
  // BYE before the tone stops, so what the bot heard ends with the tone, not the buffer running
  // dry; the tone stops once the BYE is answered, so the relay counts no drop after the record's.
  await Promise.all(
    all.map(async (call) => {
      await call.session.bye();
      call.caller.stop();
    }),
  );
  for (const call of all) {
    call.caller.close();
    call.relay.close();
  }
  const figures = await Promise.all(all.map((call) => figuresOf(rig, call, 'caller_bye')));
  return { clean: figures[0] as CallFigures, calls: figures.slice(1) };
}

const sum = (calls: CallFigures[], of: (call: CallFigures) => number): number =>
  calls.reduce((total, call) => total + of(call), 0);
const pct = (part: number, whole: number): string => (whole > 0 ? ((100 * part) / whole).toFixed(1) : '-');

/** Mean jitter buffer delay and target over the calls' emitted samples, in ms. */
function jitterBufferMs(calls: CallFigures[]): { delayMs: number; targetMs: number } {
  const buffers = calls.flatMap((call) =>
    call.record?.media.jitterBuffer ? [call.record.media.jitterBuffer] : [],
  );
  const emitted = buffers.reduce((total, jb) => total + jb.jitterBufferEmittedCount, 0);
  const seconds = (of: (jb: (typeof buffers)[number]) => number) =>
    emitted > 0 ? (1000 * buffers.reduce((total, jb) => total + of(jb), 0)) / emitted : 0;
  return {
    delayMs: seconds((jb) => jb.jitterBufferDelay),
    targetMs: seconds((jb) => jb.jitterBufferTargetDelay),
  };
}

function noteDisagreement(who: string, call: CallFigures): void {
  const rtp = call.record?.media.rtp;
  if (!rtp || (rtp.packetsLost === call.droppedToGateway && call.callerLost === call.droppedToCaller)) return;
  disagreements.push(
    `${who}: → gateway relay dropped ${call.droppedToGateway}, record lost ${rtp.packetsLost} ` +
      `(received ${rtp.packetsReceived}, out of order ${rtp.outOfOrder}, duplicates ${rtp.duplicates}, ` +
      `socket drops ${rtp.socketDrops}); → caller relay dropped ${call.droppedToCaller} of ${call.sentToCaller}, ` +
      `caller lost ${call.callerLost} (received ${call.callerReceived}, out of order ${call.callerOutOfOrder}), ` +
      `gateway sent ${rtp.packetsSent} (socket errors ${rtp.socketErrors})`,
  );
}

/** The cell's table row; records its assertions' failures. */
function reportCell(cell: Cell, clean: CallFigures, calls: CallFigures[]): string {
  const frames = sum(calls, (call) => call.heard.frames);
  const holes = sum(calls, (call) => call.heard.holes);
  const worst = calls.reduce((max, call) => Math.max(max, call.heard.holes / call.heard.frames), 0);
  const longest = Math.max(...calls.map((call) => call.heard.longestRun));
  const rtp = (of: (r: NonNullable<CallRecord['media']['rtp']>) => number) =>
    sum(calls, (call) => (call.record?.media.rtp ? of(call.record.media.rtp) : 0));
  const jb = (of: (j: NonNullable<CallRecord['media']['jitterBuffer']>) => number) =>
    sum(calls, (call) => (call.record?.media.jitterBuffer ? of(call.record.media.jitterBuffer) : 0));
  const { delayMs, targetMs } = jitterBufferMs(calls);
  const mos = calls.map((call) => call.record?.mos ?? 0);
  const complete = [clean, ...calls].filter((call) => call.recordFaults.length === 0).length;
  for (const [i, call] of calls.entries()) noteDisagreement(`${cell.name}, call ${i + 1}`, call);
  for (const [i, call] of [clean, ...calls].entries()) {
    const who = `${cell.name}, ${i === 0 ? 'clean call' : `call ${i}`}`;
    check(call.recordFaults.length === 0, `${who}: record ${call.recordFaults.join(', ')}`);
    check(call.heard.frames >= seconds * 50 * MIN_FRAME_SHARE, `${who}: bot got ${call.heard.frames} frames`);
    if (i === 0 || !cell.concealable) continue;
    const bound = clean.heard.holes + call.pastReach + Math.ceil(call.heard.frames * HOLE_MARGIN);
    check(
      call.heard.holes <= bound,
      `${who}: ${call.heard.holes} holes > ${bound} (clean ${clean.heard.holes}, ${call.pastReach} past reach)`,
    );
  }
  return [
    cell.name,
    `${sum(calls, (c) => c.droppedToGateway)} / ${sum(calls, (c) => c.sentToGateway)}`,
    `${rtp((r) => r.packetsLost)}`,
    `${((sum(calls, (c) => c.sentToGateway - c.droppedToGateway) - rtp((r) => r.packetsReceived)) / calls.length).toFixed(1)}`,
    `${pct(holes, frames)} / ${(100 * worst).toFixed(1)} (${pct(clean.heard.holes, clean.heard.frames)})`,
    `${longest} (${clean.heard.longestRun})`,
    `${sum(calls, (c) => c.pastReach)}`,
    `${pct(
      jb((j) => j.concealedSamples),
      jb((j) => j.totalSamplesReceived),
    )}`,
    `${jb((j) => j.packetsLate)}`,
    `${delayMs.toFixed(0)} / ${targetMs.toFixed(0)}`,
    `${Math.min(...mos).toFixed(2)}-${Math.max(...mos).toFixed(2)}`,
    `${sum(calls, (c) => c.droppedToCaller)} / ${sum(calls, (c) => c.callerLost)} of ${rtp((r) => r.packetsSent)}`,
    `${complete}/${calls.length + 1}`,
  ].join(' | ');
}

/** Calls whose carrier stops mid-call: from its last packet to the BYE, the bot's stop, the records. */
async function silentCarrier(rig: ImpairedCallRig, cellSeed: number): Promise<string> {
  const calls: ImpairedCall[] = [];
  for (let i = 0; i < SILENT_CALLS; i++) calls.push(await rig.call(cellSeed + i, uniform(0)));
  await delay(SILENT_AFTER_MS);
  for (const call of calls) call.caller.stop();
  const limitMs = INACTIVITY_SEC * 1000 + SUPERVISION_MS + BYE_MARGIN_MS;
  const endedAfterMs = await Promise.all(
    calls.map(async (call) => {
      const cause = await Promise.race([call.terminated, delay(limitMs + 5000)]);
      const afterMs = performance.now() - call.caller.lastSentAt;
      check(
        cause?.by === 'remote',
        `silent call: not ended by a BYE from the gateway (${JSON.stringify(cause)})`,
      );
      return afterMs;
    }),
  );
  for (const call of calls) {
    await Promise.race([call.botCall.closed, delay(3000)]);
    check(call.botCall.stopped, 'silent call: the bot got no stop');
    call.caller.close();
    call.relay.close();
  }
  const faults = await Promise.all(
    calls.map(async (call) => (await figuresOf(rig, call, 'rtp_timeout')).recordFaults),
  );
  for (const recordFault of faults)
    check(recordFault.length === 0, `silent call: record ${recordFault.join(', ')}`);
  for (const afterMs of endedAfterMs)
    check(
      afterMs >= INACTIVITY_SEC * 1000 - 100 && afterMs <= limitMs,
      `silent call: BYE ${afterMs.toFixed(0)} ms after the last packet (limit ${limitMs} ms)`,
    );
  const sorted = [...endedAfterMs].sort((a, b) => a - b);
  return [
    `${SILENT_CALLS} silent after ${SILENT_AFTER_MS / 1000} s`,
    `${INACTIVITY_SEC * 1000}`,
    sorted.map((ms) => ms.toFixed(0)).join(', '),
    `${limitMs}`,
    `${calls.filter((call) => call.botCall.stopped).length}/${SILENT_CALLS}`,
    `${faults.filter((fault) => fault.length === 0).length}/${SILENT_CALLS}`,
  ].join(' | ');
}

const rig = await ImpairedCallRig.start(
  {
    rtpInactivityTimeoutSec: INACTIVITY_SEC,
    maxCalls: 50,
    ...(workers === undefined ? {} : { mediaWorkers: workers }),
  },
  { stream: { frequency: BOT_TONE_HZ } },
);
const load = () => (loadavg()[0] ?? 0).toFixed(2);
console.log(
  `network faults: ${callsPerCell} calls per cell + 1 clean, ${seconds} s each, media.workers ${workers ?? 'default (auto)'}, seed ${seed}, loadavg ${load()}`,
);
const rows: string[] = [];
try {
  for (const [index, cell] of CELLS.entries()) {
    const { clean, calls } = await runCell(rig, cell, seed * 1000 + index * 20);
    rows.push(reportCell(cell, clean, calls));
    console.log(`${rows.at(-1)} (loadavg ${load()})`);
  }
  const silentRow = await silentCarrier(rig, seed * 1000 + CELLS.length * 20);
  console.log(
    [
      '',
      '| cell | dropped → gateway (relay) / sent | lost (records) | forwarded, not in the record, per call | holes % all / worst call (clean) | longest hole run (clean) | drops past concealment | concealed % | late | JB delay / target ms | MOS | → caller: dropped (relay) / lost (caller) of sent | complete records |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...rows.map((row) => `| ${row} |`),
      '',
      '| silent carrier | inactivity timeout ms | last packet → BYE ms | limit ms | bot got stop | complete rtp_timeout records |',
      '|---|---|---|---|---|---|',
      `| ${silentRow} |`,
      '',
      `loadavg at the end ${load()}`,
    ].join('\n'),
  );
  if (disagreements.length > 0)
    console.log(`\nlosses counted otherwise than the relay dropped them:\n${disagreements.join('\n')}`);
} finally {
  await rig.close();
}
if (failures.length > 0) {
  console.error(`\n${failures.length} expectation(s) failed:\n${failures.join('\n')}`);
  process.exit(1);
}
console.log('\nevery expectation held');
