import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRandom } from '../../src/util/index.js';

test('same seed gives the same sequence, different seeds differ', () => {
  const a = new SeededRandom(7);
  const b = new SeededRandom(7);
  const c = new SeededRandom(8);
  const seqA = Array.from({ length: 5 }, () => a.next());
  assert.deepEqual(
    seqA,
    Array.from({ length: 5 }, () => b.next()),
  );
  assert.notDeepEqual(
    seqA,
    Array.from({ length: 5 }, () => c.next()),
  );
});

test('uniform values are in [0,1) with mean near 0.5', () => {
  const rng = new SeededRandom(1);
  let sum = 0;
  for (let i = 0; i < 20000; i++) {
    const x = rng.next();
    assert.ok(x >= 0 && x < 1);
    sum += x;
  }
  assert.ok(Math.abs(sum / 20000 - 0.5) < 0.01);
});

test('gaussian, pareto and exponential have the expected means', () => {
  const rng = new SeededRandom(3);
  const n = 40000;
  let g = 0;
  let g2 = 0;
  let p = 0;
  let e = 0;
  for (let i = 0; i < n; i++) {
    const x = rng.gaussian(10, 2);
    g += x;
    g2 += (x - 10) ** 2;
    const y = rng.pareto(1, 3);
    assert.ok(y >= 1);
    p += y;
    e += rng.exponential(5);
  }
  assert.ok(Math.abs(g / n - 10) < 0.05);
  assert.ok(Math.abs(Math.sqrt(g2 / n) - 2) < 0.05);
  assert.ok(Math.abs(p / n - 1.5) < 0.05);
  assert.ok(Math.abs(e / n - 5) < 0.15);
});

test('int stays within bounds', () => {
  const rng = new SeededRandom(9);
  for (let i = 0; i < 1000; i++) {
    const v = rng.int(3, 5);
    assert.ok(v >= 3 && v <= 5 && Number.isInteger(v));
  }
});
