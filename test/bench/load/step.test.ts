/**
 * The load bench's verdicts on a step: saturation (the ramp stops) and the stricter latency
 * goals, judged from the step's figures alone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { latencyGoalMisses, type StepFigures, saturationReasons } from '../../../bench/load/step.js';

function direction(p99Ms: number, missing = 0) {
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

function step(overrides: Partial<StepFigures> = {}): StepFigures {
  return {
    system: 'patchbay',
    mediaWorkers: 1,
    calls: 100,
    failed: 0,
    cpuMsPerCallSecond: 4,
    cpuPercent: 40,
    rssMiB: 150,
    rssKiBPerCall: 200,
    loopLagP99Ms: 10,
    jitterBuffer: {
      targetMs: 30,
      delayMs: 31,
      window: {
        concealmentEvents: 0,
        packetsLate: 0,
        packetsDiscarded: 0,
        acceleratedMs: 0,
        framesWaited: 0,
        framesArrived: 0,
      },
    },
    callerToBot: direction(65),
    botToCaller: direction(55),
    senderLagMaxMs: 0,
    window: { startUs: 0, endUs: 1 },
    ...overrides,
  };
}

describe('load bench verdicts', () => {
  it('meets the latency goals below 40 ms over the target caller->bot and 60 ms bot->caller, nothing missing', () => {
    assert.deepEqual(latencyGoalMisses(step()), []);
  });

  it('judges caller->bot against the jitter buffers’ target, bot->caller against 60 ms', () => {
    assert.match(
      latencyGoalMisses(step({ callerToBot: direction(70) })).join(),
      /caller->bot p99 70 ms >= 70.0 ms/,
    );
    const noTarget = step({ callerToBot: direction(45) });
    delete noTarget.jitterBuffer;
    assert.equal(latencyGoalMisses(noTarget).length, 1, 'a forwarder has no target: 40 ms flat');
    assert.match(
      latencyGoalMisses(step({ botToCaller: direction(60) })).join(),
      /bot->caller p99 60 ms >= 60 ms/,
    );
  });

  it('a missing frame or a failed call misses the goals while the step is still sustained', () => {
    const lossy = step({ botToCaller: direction(55, 3) });
    assert.deepEqual(saturationReasons(lossy), [], '0.03 % is under the 0.5 % saturation bound');
    assert.deepEqual(latencyGoalMisses(lossy), ['0 / 3 tagged frames missing']);
    assert.deepEqual(latencyGoalMisses(step({ failed: 1 })), ['1 failed calls']);
  });
});
