/**
 * One step of the load bench: N calls into one system under test (a fresh gateway or bare
 * forwarder process), a warm-up, then a measured window in which the system's CPU (from
 * /proc), its memory, its event-loop delay and both directions of audio are measured.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { pinProcess } from '../lib/cpu-pin.js';
import { cpuSeconds, cpuTimes, rssBytes } from '../lib/proc-stat.js';
import type { ReceivedFigures } from './frame-stats.js';
import { nowUs } from './frame-tag.js';
import type { LoadInstrument } from './instrument.js';
import { PatchbayTarget } from './patchbay-target.js';
import {
  ForwarderTarget,
  type JitterBufferFigures,
  type PlayoutFigures,
  type SystemUnderTest,
  type TickOutcomes,
  type WorkerShare,
} from './targets.js';
import type { TimelineSecond } from './timeline.js';

/** After the window, frames still in flight get this long to arrive. */
const IN_FLIGHT_GRACE_MS = 1000;

export type SystemKind = 'patchbay' | 'forwarder';

export interface StepOptions {
  warmupSec: number;
  windowSec: number;
  /** INVITEs per second while setting up the gateway's calls. */
  cps: number;
  /** The gateway runs under --cpu-prof and writes its profile here on exit. */
  profileDir?: string;
  /** Floor of the gateway trunk's jitter buffer (`media.jitterBuffer.minDelayMs`); default 0. */
  jitterFloorMs?: number;
  /** The gateway's `media.workers` (default 0: media on its main thread). */
  mediaWorkers?: number;
  /** The gateway alone runs with MALLOC_ARENA_MAX set to this (glibc's cap on malloc arenas). */
  mallocArenaMax?: number;
  /** The system under test's threads are pinned to these CPUs (a taskset list) once it has started. */
  pinCpus?: string;
}

/** One direction's tagged frames (one in TAG_EVERY of a spurt, see talker.ts) over the window. */
export interface DirectionFigures extends ReceivedFigures {
  sent: number;
  /** Tagged frames sent in the window and never received intact. */
  missing: number;
  lossPercent: number;
}

export interface StepFigures {
  system: SystemKind;
  /** The gateway's `media.workers` (0 for the forwarder). */
  mediaWorkers: number;
  calls: number;
  /** Calls that could not be set up, plus calls that ended before the bench hung up. */
  failed: number;
  cpuMsPerCallSecond: number;
  /** Of cpuMsPerCallSecond, the part spent in the kernel (system calls, the network stack). */
  kernelMsPerCallSecond: number;
  /** Of one core, over the window. */
  cpuPercent: number;
  rssMiB: number;
  /** Resident memory with the calls minus before them, per call. */
  rssKiBPerCall: number;
  loopLagP99Ms: number;
  /** Per media worker: calls carried and its thread's busy share over the window. */
  workers?: WorkerShare[];
  /** The gateway's jitter buffers over the calls so far: caller->bot is judged against the target. */
  jitterBuffer?: JitterBufferFigures;
  /** The gateway's playouts of bot audio since the calls were set up: underruns and trimmed frames per call. */
  playout?: PlayoutFigures;
  /** The gateway's media clock ticks over the window, by outcome. */
  ticks?: TickOutcomes;
  callerToBot: DirectionFigures;
  botToCaller: DirectionFigures;
  /** How far the load generator itself fell behind its send deadlines (not the system's doing). */
  senderLagMaxMs: number;
  /** Which instrument measured the step, and the CPU its callers and bot took, % of a core. */
  instrument: { kind: LoadInstrument['kind']; cpuPercent: number; receiveDrops?: number };
  /** Latency second by second from the warm-up on (the native instrument only). */
  timeline?: TimelineSecond[];
  /** The measured window, CLOCK_MONOTONIC µs (a --cpu-prof profile's clock). */
  window: { startUs: number; endUs: number };
}

/** What is open right now, so an interrupted run can close it all. */
const open = new Set<{ close(): unknown }>();

export async function closeEverything(): Promise<void> {
  await Promise.allSettled([...open].map(async (resource) => resource.close()));
  open.clear();
}

export function track<T extends { close(): unknown }>(resource: T): T {
  open.add(resource);
  return resource;
}

async function untrack(resource: { close(): unknown }): Promise<void> {
  open.delete(resource);
  await resource.close();
}

function direction(sent: number, received: ReceivedFigures): DirectionFigures {
  const missing = Math.max(0, sent - received.received);
  return { ...received, sent, missing, lossPercent: sent > 0 ? (100 * missing) / sent : Number.NaN };
}

function instrumentCpuSeconds(instrument: LoadInstrument): number {
  return instrument.pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

async function sleepUntilUs(targetUs: number): Promise<void> {
  const waitMs = (targetUs - nowUs()) / 1000;
  if (waitMs > 0) await delay(waitMs);
}

export async function measureStep(
  system: SystemKind,
  calls: number,
  instrument: LoadInstrument,
  options: StepOptions,
): Promise<StepFigures> {
  const callers = track(await instrument.openCallers(calls));
  let target: SystemUnderTest | undefined;
  try {
    target = track(
      system === 'patchbay'
        ? await PatchbayTarget.start({
            botUrl: instrument.botUrl,
            maxCalls: calls,
            cps: options.cps,
            ...(options.profileDir ? { profileDir: options.profileDir } : {}),
            ...(options.jitterFloorMs ? { jitterFloorMs: options.jitterFloorMs } : {}),
            ...(options.mediaWorkers === undefined ? {} : { mediaWorkers: options.mediaWorkers }),
            ...(options.mallocArenaMax === undefined ? {} : { mallocArenaMax: options.mallocArenaMax }),
          })
        : await ForwarderTarget.start(instrument.botUrl),
    );
    const pid = target.pid;
    if (options.pinCpus) pinProcess(pid, options.pinCpus);
    // The first /metrics scrape compiles its route: done here, not at the window's start.
    await target.resetLag();
    const idleRss = rssBytes(pid);
    const failedSetups = await target.connect(callers.ports, (call, port) => callers.connect(call, port));
    const connected = calls - failedSetups;
    const startUs = nowUs() + options.warmupSec * 1e6;
    const endUs = startUs + options.windowSec * 1e6;
    instrument.setWindow(startUs, endUs);

    await sleepUntilUs(startUs);
    const cpuBefore = cpuTimes(pid);
    const instrumentCpuBefore = instrumentCpuSeconds(instrument);
    const wallBefore = performance.now();
    // Not awaited before the window: an overloaded gateway may answer its scrape late.
    const lagReset = target.resetLag();
    await sleepUntilUs(endUs);
    const cpuAfter = cpuTimes(pid);
    const kernelCpu = cpuAfter.kernel - cpuBefore.kernel;
    const cpu = cpuAfter.user - cpuBefore.user + kernelCpu;
    const instrumentCpu = instrumentCpuSeconds(instrument) - instrumentCpuBefore;
    const wallSeconds = (performance.now() - wallBefore) / 1000;
    const rss = rssBytes(pid);
    await lagReset;
    const status = await target.status();
    await delay(IN_FLIGHT_GRACE_MS);

    const report = await instrument.report();
    return {
      system,
      mediaWorkers: system === 'patchbay' ? (options.mediaWorkers ?? 0) : 0,
      calls,
      failed: failedSetups + status.dropped,
      cpuMsPerCallSecond: (1000 * cpu) / (Math.max(1, connected) * wallSeconds),
      kernelMsPerCallSecond: (1000 * kernelCpu) / (Math.max(1, connected) * wallSeconds),
      cpuPercent: (100 * cpu) / wallSeconds,
      rssMiB: rss / 2 ** 20,
      rssKiBPerCall: (rss - idleRss) / 1024 / Math.max(1, connected),
      loopLagP99Ms: status.lagP99Ms,
      ...(status.workers ? { workers: status.workers } : {}),
      ...(status.jitterBuffer ? { jitterBuffer: status.jitterBuffer } : {}),
      ...(status.playout ? { playout: status.playout } : {}),
      ...(status.ticks ? { ticks: status.ticks } : {}),
      callerToBot: direction(report.sentInWindow, report.callerToBot),
      botToCaller: direction(report.echoed, report.botToCaller),
      senderLagMaxMs: report.senderLagMaxMs,
      instrument: {
        kind: instrument.kind,
        cpuPercent: (100 * instrumentCpu) / wallSeconds,
        ...(report.receiveDrops === undefined ? {} : { receiveDrops: report.receiveDrops }),
      },
      ...(report.timeline ? { timeline: report.timeline } : {}),
      window: { startUs, endUs },
    };
  } finally {
    await untrack(callers);
    if (target) await untrack(target);
  }
}

/** Why a gateway step counts as saturated, or an empty list. */
export function saturationReasons(step: StepFigures): string[] {
  const reasons: string[] = [];
  const loss = Math.max(step.callerToBot.lossPercent, step.botToCaller.lossPercent);
  if (!(loss <= 0.5)) reasons.push(`loss ${loss.toFixed(2)} % > 0.5 %`);
  if (!(step.callerToBot.p99Ms <= 200)) reasons.push(`caller->bot p99 ${step.callerToBot.p99Ms} ms > 200 ms`);
  if (step.failed > 0) reasons.push(`${step.failed} failed calls`);
  return reasons;
}

/** The latency goals a node is held to at a sustained N: caller->bot p99 over the target, bot->caller p99. */
const GOAL_OVER_TARGET_MS = 40;
const GOAL_BOT_TO_CALLER_P99_MS = 60;

/**
 * Where a step misses the latency goals, stricter than saturation: caller->bot p99 under 40 ms
 * plus the jitter buffers' mean target, bot->caller p99 under 60 ms, no tagged frame missing
 * either way, no failed call. Empty when it meets them all.
 */
export function latencyGoalMisses(step: StepFigures): string[] {
  const misses: string[] = [];
  const targetMs = step.jitterBuffer?.targetMs ?? 0;
  const { callerToBot: up, botToCaller: down } = step;
  if (!(up.p99Ms < targetMs + GOAL_OVER_TARGET_MS))
    misses.push(`caller->bot p99 ${up.p99Ms} ms >= ${(targetMs + GOAL_OVER_TARGET_MS).toFixed(1)} ms`);
  if (!(down.p99Ms < GOAL_BOT_TO_CALLER_P99_MS))
    misses.push(`bot->caller p99 ${down.p99Ms} ms >= ${GOAL_BOT_TO_CALLER_P99_MS} ms`);
  if (up.missing + down.missing > 0) misses.push(`${up.missing} / ${down.missing} tagged frames missing`);
  if (step.failed > 0) misses.push(`${step.failed} failed calls`);
  return misses;
}
