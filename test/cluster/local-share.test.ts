import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalShareCpsStore, shareOfCount } from '../../src/cluster/index.js';

test('a node alone takes its share of a count: divided by live nodes, rounded up, at least one', () => {
  assert.equal(shareOfCount(10, 'divide', 3), 4);
  assert.equal(shareOfCount(10, 'divide', 0), 10);
  assert.equal(shareOfCount(1, 'divide', 4), 1);
  assert.equal(shareOfCount(10, 'full', 3), 10);
});

test('local CPS buckets run at rate/N and burst/N while Redis is away', async () => {
  const store = new LocalShareCpsStore('divide', () => 2);
  const limits = [{ key: 'trunk:a', rate: 10, burst: 4 }];
  const taken: boolean[] = [];
  for (let i = 0; i < 3; i++) taken.push((await store.take(limits, 0)).allowed);
  assert.deepEqual(taken, [true, true, false], 'burst 4 / 2 nodes');
  // 5 tokens/s: one more after 200 ms.
  assert.equal((await store.take(limits, 200)).allowed, true);
  assert.equal((await store.take(limits, 200)).allowed, false);
});

test('a refund goes back to the local share of the bucket, never past its burst/N', async () => {
  const store = new LocalShareCpsStore('divide', () => 2);
  const limits = [{ key: 'trunk:a', rate: 0.001, burst: 4 }];
  await store.take(limits, 0);
  for (let i = 0; i < 3; i++) await store.refund(limits, 0);
  assert.deepEqual(
    (await store.snapshot(0)).map((bucket) => bucket.tokens),
    [2],
  );
});
