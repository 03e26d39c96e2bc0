import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuSplitLine } from '../../../bench/load/report.js';
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
