/**
 * The load bench's verdicts on a step: saturation (the ramp stops) and the stricter latency
 * goals, judged from the step's figures alone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { latencyGoalMisses, saturationReasons } from '../../../bench/load/step.js';
import { direction, step } from './step-figures.js';

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
