import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fifo } from '../../src/util/index.js';

test('entries come out in the order they went in', () => {
  const fifo = new Fifo<number>();
  assert.equal(fifo.shift(), undefined);
  for (let i = 0; i < 5; i++) fifo.push(i);
  assert.equal(fifo.peek(), 0);
  assert.equal(fifo.length, 5);
  assert.deepEqual([fifo.shift(), fifo.shift()], [0, 1]);
  assert.equal(fifo.length, 3);
  fifo.clear();
  assert.equal(fifo.length, 0);
  assert.equal(fifo.peek(), undefined);
});

test('a queue that never empties keeps its order through compaction', () => {
  const fifo = new Fifo<number>();
  let next = 0;
  let expected = 0;
  for (let round = 0; round < 1000; round++) {
    for (let i = 0; i < 3; i++) fifo.push(next++);
    for (let i = 0; i < 2; i++) assert.equal(fifo.shift(), expected++);
  }
  assert.equal(fifo.length, 1000);
  while (fifo.length > 0) assert.equal(fifo.shift(), expected++);
  assert.equal(expected, next);
});
