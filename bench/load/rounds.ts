/**
 * The load bench's repeated measurements folded per setting (calls and media.workers): on a
 * shared box one run is one sample, so a verdict is taken over rounds, each of which measures
 * every setting and the forwarder at the same step back to back (ratios within a round).
 */
import type { StepFigures } from './step.js';

/** One setting measured in one round, judged as the bench judges a step. */
export interface RoundResult {
  round: number;
  calls: number;
  loadavg: string;
  patchbay: StepFigures;
  forwarder: StepFigures | undefined;
  /** patchbay over forwarder CPU per call-second, in the same round. */
  cpuRatio: number | undefined;
  saturation: string[];
  /** Where the step missed the latency goals (empty: met). */
  goalMisses: string[];
}

/** One setting over every round it ran. */
export interface SettingSummary {
  calls: number;
  mediaWorkers: number;
  rounds: number;
  sustained: number;
  metGoals: number;
  cpuMsPerCallSecond: Spread;
  /** Of it, the kernel's part (the sockets' system calls). */
  kernelMsPerCallSecond: Spread;
  /** The forwarder's CPU per call-second over the rounds that measured it, and the kernel's part of it. */
  forwarderCpuMsPerCallSecond: Spread | undefined;
  forwarderKernelMsPerCallSecond: Spread | undefined;
  /** Per round, patchbay over the forwarder: each round's ratio carries both sides' noise. */
  cpuRatio: Spread | undefined;
  callerToBotP99Ms: Spread;
  botToCallerP99Ms: Spread;
  /** Tagged frames missing, summed over the rounds: caller->bot, bot->caller. */
  missing: [number, number];
  /** Rounds in which the callers fell more than GENERATOR_STALL_MS behind their own send schedule. */
  generatorStalls: number;
}

/**
 * Two frames: the load generator stalled itself (a shared box), and every call's next frames
 * reach the gateway in a burst and the bot's echoes of them come back in one; said beside the
 * verdict, not taken out of it.
 */
export const GENERATOR_STALL_MS = 40;

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spreadOf(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[middle] as number)
      : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { median, min: sorted[0] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN };
}

/** One summary per setting, in the order the settings first ran. */
export function summariseRounds(results: readonly RoundResult[]): SettingSummary[] {
  const bySetting = new Map<string, RoundResult[]>();
  for (const result of results) {
    const key = `${result.calls}/${result.patchbay.mediaWorkers}`;
    bySetting.set(key, [...(bySetting.get(key) ?? []), result]);
  }
  return [...bySetting.values()].map((rounds) => {
    const first = rounds[0] as RoundResult;
    const ratios = rounds.flatMap((result) => (result.cpuRatio === undefined ? [] : [result.cpuRatio]));
    const forwarders = rounds.flatMap((result) => (result.forwarder ? [result.forwarder] : []));
    return {
      calls: first.calls,
      mediaWorkers: first.patchbay.mediaWorkers,
      rounds: rounds.length,
      sustained: rounds.filter((result) => result.saturation.length === 0).length,
      metGoals: rounds.filter((result) => result.goalMisses.length === 0).length,
      cpuMsPerCallSecond: spreadOf(rounds.map((result) => result.patchbay.cpuMsPerCallSecond)),
      kernelMsPerCallSecond: spreadOf(rounds.map((result) => result.patchbay.kernelMsPerCallSecond)),
      forwarderCpuMsPerCallSecond:
        forwarders.length > 0 ? spreadOf(forwarders.map((step) => step.cpuMsPerCallSecond)) : undefined,
      forwarderKernelMsPerCallSecond:
        forwarders.length > 0 ? spreadOf(forwarders.map((step) => step.kernelMsPerCallSecond)) : undefined,
      cpuRatio: ratios.length > 0 ? spreadOf(ratios) : undefined,
      callerToBotP99Ms: spreadOf(rounds.map((result) => result.patchbay.callerToBot.p99Ms)),
      botToCallerP99Ms: spreadOf(rounds.map((result) => result.patchbay.botToCaller.p99Ms)),
      missing: [
        rounds.reduce((sum, result) => sum + result.patchbay.callerToBot.missing, 0),
        rounds.reduce((sum, result) => sum + result.patchbay.botToCaller.missing, 0),
      ],
      generatorStalls: rounds.filter((result) => result.patchbay.senderLagMaxMs > GENERATOR_STALL_MS).length,
    };
  });
}

/**
 * Per media.workers setting, the highest step that met the latency goals in more than half of
 * its rounds (undefined: none did).
 */
export function highestMeetingGoals(summaries: readonly SettingSummary[]): Map<number, number | undefined> {
  const highest = new Map<number, number | undefined>();
  for (const summary of summaries) {
    const best = highest.get(summary.mediaWorkers);
    const met = 2 * summary.metGoals > summary.rounds;
    highest.set(summary.mediaWorkers, met ? Math.max(best ?? 0, summary.calls) : best);
  }
  return highest;
}

function range(spread: Spread, digits: number, unit = ''): string {
  return `${spread.median.toFixed(digits)}${unit} (${spread.min.toFixed(digits)}-${spread.max.toFixed(digits)})`;
}

export function summaryLine(summary: SettingSummary): string {
  const ratio = summary.cpuRatio
    ? `, ratio to the forwarder in the same round ${range(summary.cpuRatio, 2, 'x')}`
    : '';
  // The two medians each steady one side's noise, which a round's own ratio carries from both.
  const forwarder = summary.forwarderCpuMsPerCallSecond;
  const forwarderKernel = summary.forwarderKernelMsPerCallSecond;
  const forwarderCpu = forwarder
    ? `, forwarder CPU ms per call-s ${range(forwarder, 2)}` +
      (forwarderKernel ? ` (kernel ${range(forwarderKernel, 2)})` : '') +
      `, ratio of the medians ${(summary.cpuMsPerCallSecond.median / forwarder.median).toFixed(2)}x`
    : '';
  return (
    `${summary.calls} calls, media.workers ${summary.mediaWorkers}: latency goals met in ${summary.metGoals} of ` +
    `${summary.rounds} rounds, sustained in ${summary.sustained}; medians (range): CPU ms per call-s ` +
    `${range(summary.cpuMsPerCallSecond, 2)} (kernel ${range(summary.kernelMsPerCallSecond, 2)})${ratio}${forwarderCpu}, caller->bot p99 ${range(summary.callerToBotP99Ms, 1)} ms, ` +
    `bot->caller p99 ${range(summary.botToCallerP99Ms, 1)} ms; tagged frames missing ${summary.missing[0]} / ${summary.missing[1]} in all; ` +
    `the callers fell over ${GENERATOR_STALL_MS} ms behind their send schedule in ${summary.generatorStalls} rounds`
  );
}
