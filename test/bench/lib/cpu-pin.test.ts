import assert from 'node:assert/strict';
import { test } from 'node:test';
import { otherCpus, parseCpuList } from '../../../bench/lib/cpu-pin.js';

test('CPU lists: single CPUs, ranges and lists, within the machine', () => {
  assert.deepEqual(parseCpuList('1', 2), [1]);
  assert.deepEqual(parseCpuList('3,0-1', 4), [0, 1, 3]);
  assert.deepEqual(parseCpuList(' 2 , 2', 4), [2]);
  assert.throws(() => parseCpuList('2', 2), /not among 0-1/);
  assert.throws(() => parseCpuList('1-0', 2), /not among/);
  assert.throws(() => parseCpuList('one', 2), /not a CPU list/);
});

test('the load generator gets every CPU the system under test does not, and at least one', () => {
  assert.equal(otherCpus([1], 2), '0');
  assert.equal(otherCpus([0, 2], 4), '1,3');
  assert.throws(() => otherCpus([0, 1], 2), /no CPU is left/);
});
