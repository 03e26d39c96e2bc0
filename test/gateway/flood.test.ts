import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SourceRateLimiter } from '../../src/gateway/flood.js';
import { FakeClock } from '../../src/util/index.js';

test('a source gets its burst, then its rate; others are unaffected', () => {
  const clock = new FakeClock();
  const limiter = new SourceRateLimiter(clock, 10, 20);
  let allowed = 0;
  for (let i = 0; i < 100; i++) if (limiter.allow('192.0.2.1')) allowed++;
  assert.equal(allowed, 20, 'the burst');
  assert.equal(limiter.allow('192.0.2.2'), true, 'another source has its own bucket');
  clock.advance(1000);
  allowed = 0;
  for (let i = 0; i < 100; i++) if (limiter.allow('192.0.2.1')) allowed++;
  assert.equal(allowed, 10, 'one second of rate');
  assert.equal(limiter.dropped, 170);
});

test('the map of sources is bounded', () => {
  const limiter = new SourceRateLimiter(new FakeClock(), 1, 1, 100);
  for (let i = 0; i < 1000; i++) limiter.allow(`10.0.${i >> 8}.${i & 255}`);
  // The oldest sources were forgotten, so the first one starts with a full bucket again.
  assert.equal(limiter.allow('10.0.0.0'), true);
});

test('a reloaded rate applies to sources already seen', () => {
  const clock = new FakeClock();
  const limiter = new SourceRateLimiter(clock, 10, 20);
  for (let i = 0; i < 20; i++) limiter.allow('192.0.2.1');
  limiter.setRate(100);
  clock.advance(1000);
  let allowed = 0;
  for (let i = 0; i < 300; i++) if (limiter.allow('192.0.2.1')) allowed++;
  assert.equal(allowed, 100, 'one second at the new rate');
  clock.advance(10_000);
  allowed = 0;
  for (let i = 0; i < 300; i++) if (limiter.allow('192.0.2.1')) allowed++;
  assert.equal(allowed, 200, 'the new burst, twice the rate');
});
