import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SampleFifo } from '../../src/media/jitter/sample-fifo.js';

const run = (from: number, count: number) => Int16Array.from({ length: count }, (_, i) => from + i);

test('samples come out in the order written, across compaction and growth', () => {
  const fifo = new SampleFifo(8);
  const out = new Int16Array(5);
  let written = 0;
  let read = 0;
  for (const count of [3, 6, 1, 12, 0, 4]) {
    fifo.write(run(written, count));
    written += count;
    while (fifo.length >= out.length) {
      assert.deepEqual([...fifo.read(out)], [...run(read, out.length)]);
      read += out.length;
    }
  }
  assert.equal(fifo.length, written - read);
});

test('silence is written as zeros; reading more than is held is refused', () => {
  const fifo = new SampleFifo(4);
  fifo.write(run(1, 2));
  fifo.writeSilence(3);
  assert.deepEqual([...fifo.read(new Int16Array(5))], [1, 2, 0, 0, 0]);
  assert.equal(fifo.length, 0);
  assert.throws(() => fifo.read(new Int16Array(1)), RangeError);
});
