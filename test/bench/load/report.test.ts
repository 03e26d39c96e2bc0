import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuSplitLine, playoutLine } from '../../../bench/load/report.js';
import { step } from './step-figures.js';

test('the CPU split line gives user and kernel time per call-second for both systems', () => {
  const patchbay = step({ cpuMsPerCallSecond: 3.5, kernelMsPerCallSecond: 1.25 });
  const forwarder = step({ system: 'forwarder', cpuMsPerCallSecond: 2.5, kernelMsPerCallSecond: 1.5 });
  assert.equal(
    cpuSplitLine(patchbay, forwarder),
    '100 calls: CPU ms per call-second, patchbay 2.25 user + 1.25 kernel, forwarder 1.00 user + 1.50 kernel',
  );
  assert.equal(
    cpuSplitLine(patchbay, undefined),
    '100 calls: CPU ms per call-second, patchbay 2.25 user + 1.25 kernel',
  );
});

test('the playout line names what the gateway dropped on purpose', () => {
  const line = playoutLine(
    step({
      playout: {
        underrunsPerCall: 0.5,
        trimmedFramesPerCall: 12,
        slotsHeldPerCall: 30,
        slotsFilledPerCall: 29,
        compressedMsPerCall: 140,
        dropped: { callerFrames: 3, botMessages: 0, botAudioMs: 40 },
      },
    }),
  );
  assert.match(line ?? '', /140 ms of unpaused audio shortened/);
  assert.match(
    line ?? '',
    /dropped over all calls: 3 caller frames .*, 0 bot messages .*, 40 ms of bot audio/,
  );
  assert.equal(playoutLine(step()), undefined);
});
