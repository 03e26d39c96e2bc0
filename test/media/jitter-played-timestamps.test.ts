import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlayedTimestamps } from '../../src/media/jitter/played-timestamps.js';

test('played timestamps: the last 64 are remembered, older ones and newer ones are not', () => {
  const played = new PlayedTimestamps();
  assert.equal(played.has(0), false, 'nothing played yet');
  for (let i = 0; i < 100; i++) played.add(i * 160);
  assert.equal(played.has(99 * 160), true, 'the newest');
  assert.equal(played.has(36 * 160), true, 'the 64th newest');
  assert.equal(played.has(35 * 160), false, 'forgotten');
  assert.equal(played.has(100 * 160), false, 'past the newest');
  assert.equal(played.has(50 * 160 + 1), false, 'never played');
});

test('played timestamps: a timeline that restarts lower is remembered again after clear', () => {
  const played = new PlayedTimestamps();
  for (let i = 1000; i < 1010; i++) played.add(i);
  played.clear();
  assert.equal(played.has(1005), false, 'cleared');
  played.add(3);
  assert.equal(played.has(3), true);
  assert.equal(played.has(4), false);
  // Out of order below the newest: found by the scan.
  played.add(1);
  assert.equal(played.has(1), true);
});
