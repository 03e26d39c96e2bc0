/** The load bench's table rows and profile lines, as markdown (pasted into bench/RESULTS.md). */
import { TAIL_MS } from './frame-stats.js';
import type { ProfileSummary } from './profile.js';
import type { StepFigures } from './step.js';

export const TABLE_HEADER = [
  '| calls | system | CPU ms per call-s | CPU % of a core | RSS MiB | RSS KiB per call | loop lag p99 ms | caller->bot p50 / p99 ms | bot->caller p50 / p99 ms | late c->b / b->c | tagged frames missing c->b / b->c | failed |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
].join('\n');

function fixed(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

export function tableRow(step: StepFigures): string {
  const { callerToBot: up, botToCaller: down } = step;
  const cells = [
    step.calls,
    step.mediaWorkers > 0 ? `${step.system}, ${step.mediaWorkers} media workers` : step.system,
    fixed(step.cpuMsPerCallSecond, 2),
    fixed(step.cpuPercent, 0),
    fixed(step.rssMiB, 0),
    fixed(step.rssKiBPerCall, 0),
    fixed(step.loopLagP99Ms),
    `${fixed(up.p50Ms)} / ${fixed(up.p99Ms)}`,
    `${fixed(down.p50Ms)} / ${fixed(down.p99Ms)}`,
    `${up.late} / ${down.late}`,
    `${up.missing} / ${down.missing} of ${up.sent} / ${down.sent}`,
    step.failed,
  ];
  return `| ${cells.join(' | ')} |`;
}

/**
 * How the calls and the work split over the media workers: each worker's calls and busy share,
 * and the largest distance of a worker's busy share from the workers' mean.
 */
export function workerSplitLine(step: StepFigures): string | undefined {
  const workers = step.workers;
  if (!workers || workers.length === 0) return undefined;
  const mean = workers.reduce((sum, worker) => sum + worker.busyShare, 0) / workers.length;
  const spread = Math.max(...workers.map((worker) => Math.abs(worker.busyShare - mean)));
  return (
    `${step.calls} calls over ${workers.length} media workers: calls ${workers.map((w) => w.calls).join(' / ')}, ` +
    `busy ${workers.map((w) => fixed(100 * w.busyShare, 0)).join(' / ')} % of a core, ` +
    `each within ${mean > 0 ? fixed((100 * spread) / mean, 0) : 'n/a'} % of the mean`
  );
}

/** The jitter buffers' mean target and delay, beside caller->bot p99 (judged against 40 ms plus the target). */
export function jitterBufferLine(step: StepFigures): string | undefined {
  const jitter = step.jitterBuffer;
  if (!jitter) return undefined;
  const p99 = step.callerToBot.p99Ms;
  return (
    `${step.calls} calls: jitter buffers' target ${fixed(jitter.targetMs, 1)} ms and delay ${fixed(jitter.delayMs, 1)} ms ` +
    `(means over every sample emitted); caller->bot p99 ${fixed(p99, 1)} ms is ${fixed(p99 - jitter.targetMs, 1)} ms over the target; ` +
    `since set-up (warm-up and window) ${jitter.sinceSetUp.concealmentEvents} concealment events, ${jitter.sinceSetUp.packetsLate} packets late, ` +
    `${jitter.sinceSetUp.packetsDiscarded} discarded, ${fixed(jitter.sinceSetUp.acceleratedMs, 0)} ms removed by acceleration; ` +
    `${jitter.sinceSetUp.framesWaited} frames waited for a late packet, ${jitter.sinceSetUp.framesArrived} of them got it`
  );
}

/**
 * The playouts' underruns and trimmed frames per call (whether the frame of margin is in use),
 * and what the gateway dropped on purpose: where a missing tagged frame may have gone.
 */
export function playoutLine(step: StepFigures): string | undefined {
  const playout = step.playout;
  if (!playout) return undefined;
  return (
    `${step.calls} calls: bot audio playout, per call since set-up (warm-up and window): ${fixed(playout.underrunsPerCall, 2)} underruns ` +
    `(a frame of faded silence each), ${fixed(playout.trimmedFramesPerCall, 2)} standing frames given back, ` +
    `${fixed(playout.slotsHeldPerCall, 2)} RTP slots held for a late bot frame, ${fixed(playout.slotsFilledPerCall, 2)} filled by it, ` +
    `${fixed(playout.compressedMsPerCall, 0)} ms of unpaused audio shortened; dropped over all calls: ` +
    `${playout.dropped.callerFrames} caller frames (a bot's socket over its bound), ${playout.dropped.botMessages} bot messages ` +
    `(its inbound queue full), ${fixed(playout.dropped.botAudioMs, 0)} ms of bot audio (over the playout's bound)`
  );
}

/**
 * Where each direction's slow frames (over TAIL_MS) came from: a few calls a stall left behind
 * (their standing delay), or every call (the node or the box too slow throughout).
 */
export function tailLine(step: StepFigures): string {
  const spread = (figures: StepFigures['callerToBot']) =>
    `${figures.tailFrames} from ${figures.tailCalls} of ${step.calls} calls`;
  const ticks = step.ticks;
  const clock = ticks
    ? `; media clock ticks ${ticks.onTime} on time, ${ticks.late} late, ${ticks.skipped} skipped`
    : '';
  return `${step.calls} calls: frames over ${TAIL_MS} ms caller->bot ${spread(step.callerToBot)}, bot->caller ${spread(step.botToCaller)}${clock}`;
}

/** The instrument's own share of the box beside the system under test, and its sender's worst lag. */
export function instrumentLine(step: StepFigures): string {
  return (
    `${step.calls} calls: the ${step.instrument.kind} instrument (callers and echo bot) took ` +
    `${fixed(step.instrument.cpuPercent, 0)} % of a core; its sender fell ${fixed(step.senderLagMaxMs)} ms behind at worst` +
    (step.instrument.receiveDrops
      ? `; its socket dropped ${step.instrument.receiveDrops} echoes (counted as missing)`
      : '')
  );
}

/**
 * Both systems' CPU per call-second split into user mode and the kernel: the kernel's share is
 * mostly the sockets' system calls, which the gateway and the forwarder make alike.
 */
export function cpuSplitLine(patchbay: StepFigures, forwarder: StepFigures | undefined): string {
  const split = (step: StepFigures) =>
    `${fixed(step.cpuMsPerCallSecond - step.kernelMsPerCallSecond, 2)} user + ${fixed(step.kernelMsPerCallSecond, 2)} kernel`;
  const theirs = forwarder ? `, forwarder ${split(forwarder)}` : '';
  return `${patchbay.calls} calls: CPU ms per call-second, patchbay ${split(patchbay)}${theirs}`;
}

/** patchbay / forwarder CPU per call-second. */
export function cpuRatio(patchbay: StepFigures, forwarder: StepFigures): number {
  return patchbay.cpuMsPerCallSecond / forwarder.cpuMsPerCallSecond;
}

export function profileLines(summary: ProfileSummary, calls: number): string {
  return [
    `CPU profile of the gateway (node --cpu-prof) at ${calls} calls, samples of the measured window only:`,
    `every thread summed: busy ${fixed(summary.busyMs / 1000)} s, idle ${fixed(summary.idleMs / 1000)} s, ` +
      `in the media clocks' precise wait (blocked, not busy) ${fixed(summary.clockWaitMs / 1000)} s. ` +
      `Self time by file, top ${summary.top.length}:`,
    '',
    '| file | self ms | % of busy |',
    '| --- | --- | --- |',
    ...summary.top.map((row) => `| ${row.file} | ${fixed(row.selfMs, 0)} | ${fixed(row.percent)} |`),
    '',
    `By function, top ${summary.topFunctions.length}:`,
    '',
    '| function | self ms | % of busy |',
    '| --- | --- | --- |',
    ...summary.topFunctions.map(
      (row) => `| ${row.function} | ${fixed(row.selfMs, 0)} | ${fixed(row.percent)} |`,
    ),
  ].join('\n');
}
