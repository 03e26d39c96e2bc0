/** A load-bench step's figures for the verdict tests, with what each test changes. */
import type { StepFigures } from '../../../bench/load/step.js';
import { NO_JITTER_COUNTS } from '../../../bench/load/targets.js';

export function direction(p99Ms: number, missing = 0) {
  const sent = 10_000;
  return {
    received: sent - missing,
    late: 0,
    p50Ms: p99Ms / 2,
    p99Ms,
    maxMs: p99Ms,
    tailFrames: 0,
    tailCalls: 0,
    sent,
    missing,
    lossPercent: (100 * missing) / sent,
  };
}

export function step(overrides: Partial<StepFigures> = {}): StepFigures {
  return {
    system: 'patchbay',
    mediaWorkers: 1,
    calls: 100,
    failed: 0,
    cpuMsPerCallSecond: 4,
    kernelMsPerCallSecond: 1.5,
    cpuPercent: 40,
    rssMiB: 150,
    rssKiBPerCall: 200,
    loopLagP99Ms: 10,
    jitterBuffer: {
      targetMs: 30,
      delayMs: 31,
      sinceSetUp: { ...NO_JITTER_COUNTS },
    },
    callerToBot: direction(65),
    botToCaller: direction(55),
    senderLagMaxMs: 0,
    instrument: { kind: 'node', cpuPercent: 60 },
    window: { startUs: 0, endUs: 1 },
    ...overrides,
  };
}
