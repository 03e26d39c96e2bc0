import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteFifo, SampleFifo } from '../../src/util/index.js';

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

test('peek copies without taking, drop discards, and a write can take part of its array', () => {
  const fifo = new SampleFifo(4);
  fifo.write(run(10, 6), 3);
  assert.equal(fifo.length, 3);
  assert.deepEqual([...fifo.peek(new Int16Array(2))], [10, 11]);
  assert.equal(fifo.length, 3, 'peek leaves them queued');
  fifo.drop(1);
  assert.deepEqual([...fifo.read(new Int16Array(4), 2)], [11, 12, 0, 0]);
  fifo.drop(5);
  assert.equal(fifo.length, 0, 'dropping more than is held empties it');
  assert.throws(() => fifo.peek(new Int16Array(1)), RangeError);
});

test('a burst grows the buffer; once it is read out the next write is back in the first size', () => {
  const fifo = new SampleFifo(8);
  fifo.write(run(0, 100));
  assert.ok(fifo.capacity >= 100);
  fifo.read(new Int16Array(60));
  fifo.write(run(100, 8));
  assert.ok(fifo.capacity >= 100, 'kept while the burst is still being read');
  assert.deepEqual([...fifo.read(new Int16Array(48))], [...run(60, 48)]);
  fifo.write(run(200, 8));
  assert.equal(fifo.capacity, 8);
  assert.deepEqual([...fifo.read(new Int16Array(8))], [...run(200, 8)]);
});

test('a ByteFifo keeps bytes in order across compaction and growth, and peeks, drops and refuses alike', () => {
  const fifo = new ByteFifo(4);
  const bytes = (from: number, count: number) =>
    Uint8Array.from({ length: count }, (_, i) => (from + i) & 0xff);
  fifo.write(bytes(250, 3));
  fifo.write(bytes(0, 10), 6); // grows past its first room
  assert.deepEqual([...fifo.peek(new Uint8Array(2))], [250, 251]);
  fifo.drop(1);
  assert.deepEqual([...fifo.read(new Uint8Array(8))], [251, 252, 0, 1, 2, 3, 4, 5]);
  assert.equal(fifo.length, 0);
  fifo.write(bytes(7, 2)); // back to its first room once empty
  assert.equal(fifo.capacity, 4);
  assert.throws(() => fifo.read(new Uint8Array(3)), RangeError);
});
