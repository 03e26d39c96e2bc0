/** The load bench's rounds: each setting's verdict over the rounds, and medians. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  highestMeetingGoals,
  type RoundResult,
  spreadOf,
  summariseRounds,
  summaryLine,
} from '../../../bench/load/rounds.js';
import type { StepFigures } from '../../../bench/load/step.js';
import { direction, step } from './step-figures.js';

function result(
  round: number,
  patchbay: StepFigures,
  cpuRatio: number,
  goalMisses: string[] = [],
): RoundResult {
  return {
    round,
    calls: patchbay.calls,
    loadavg: '0.5',
    patchbay,
    forwarder: undefined,
    cpuRatio,
    saturation: [],
    goalMisses,
  };
}

describe('load bench rounds', () => {
  it('takes medians of odd and even counts, with the range', () => {
    assert.deepEqual(spreadOf([3, 1, 2]), { median: 2, min: 1, max: 3 });
    assert.deepEqual(spreadOf([4, 1, 2, 3]), { median: 2.5, min: 1, max: 4 });
  });

  it('folds each setting (calls and media.workers) over its rounds, in the order they ran', () => {
    const one = (cpu: number, p99: number) =>
      step({ calls: 200, mediaWorkers: 1, cpuMsPerCallSecond: cpu, botToCaller: direction(p99) });
    const two = step({ calls: 200, mediaWorkers: 2, callerToBot: direction(50, 2), senderLagMaxMs: 71 });
    const summaries = summariseRounds([
      result(1, one(3, 40), 1.5),
      result(1, two, 1.6, ['missing']),
      result(2, one(2.8, 65), 1.4, ['bot->caller']),
      result(3, one(3.2, 45), 1.45),
    ]);
    assert.equal(summaries.length, 2);
    const [first, second] = summaries;
    assert.deepEqual(
      {
        rounds: first?.rounds,
        metGoals: first?.metGoals,
        sustained: first?.sustained,
        workers: first?.mediaWorkers,
      },
      { rounds: 3, metGoals: 2, sustained: 3, workers: 1 },
    );
    assert.deepEqual(first?.cpuRatio, { median: 1.45, min: 1.4, max: 1.5 });
    assert.equal(first?.botToCallerP99Ms.median, 45);
    assert.deepEqual(second?.missing, [2, 0]);
    assert.deepEqual([first?.generatorStalls, second?.generatorStalls], [0, 1]);
    assert.match(
      summaryLine(first as (typeof summaries)[number]),
      /latency goals met in 2 of 3 rounds.*1\.45x \(1\.40-1\.50\)/,
    );
  });

  it("gives the forwarder its own median and the ratio of the two medians beside the rounds' ratios", () => {
    const round = (n: number, cpu: number, forwarderCpu: number): RoundResult => ({
      ...result(n, step({ calls: 200, mediaWorkers: 1, cpuMsPerCallSecond: cpu }), cpu / forwarderCpu),
      forwarder: step({
        system: 'forwarder',
        calls: 200,
        mediaWorkers: 0,
        cpuMsPerCallSecond: forwarderCpu,
        kernelMsPerCallSecond: forwarderCpu / 2,
      }),
    });
    // The gateway's slow round met the forwarder's fast one: that round's ratio is the outlier.
    const [summary] = summariseRounds([round(1, 1.5, 1.0), round(2, 2.0, 1.0), round(3, 1.6, 1.25)]);
    assert.deepEqual(summary?.forwarderCpuMsPerCallSecond, { median: 1.0, min: 1.0, max: 1.25 });
    assert.equal(summary?.cpuRatio?.median, 1.5);
    assert.match(
      summaryLine(summary as NonNullable<typeof summary>),
      /CPU ms per call-s 1\.60 \(1\.50-2\.00\) \(kernel 1\.50 \(1\.50-1\.50\)\).*forwarder CPU ms per call-s 1\.00 \(1\.00-1\.25\) \(kernel 0\.50 \(0\.50-0\.63\)\), ratio of the medians 1\.60x/,
    );
    const [alone] = summariseRounds([result(1, step({ calls: 200, mediaWorkers: 1 }), 1.5)]);
    assert.equal(alone?.forwarderCpuMsPerCallSecond, undefined);
    assert.doesNotMatch(summaryLine(alone as NonNullable<typeof alone>), /ratio of the medians/);
  });

  it('says, per media.workers, the highest step that met the goals in more than half its rounds', () => {
    const at = (calls: number, mediaWorkers: number) => step({ calls, mediaWorkers });
    const summaries = summariseRounds([
      result(1, at(200, 1), 1.5),
      result(1, at(250, 1), 1.5, ['p99']),
      result(1, at(200, 2), 1.5),
      result(1, at(250, 2), 1.5),
      result(2, at(200, 1), 1.5),
      result(2, at(250, 1), 1.5),
      result(2, at(200, 2), 1.5, ['p99']),
      result(2, at(250, 2), 1.5),
      result(3, at(250, 2), 1.5),
    ]);
    // media.workers 1 met 250 in one round of two (not more than half); 2 met it in three of three.
    assert.deepEqual(
      [...highestMeetingGoals(summaries)],
      [
        [1, 200],
        [2, 250],
      ],
    );
  });
});
