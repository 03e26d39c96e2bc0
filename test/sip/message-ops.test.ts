import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomToken } from '../../src/sip/message-ops.js';

test('random tokens are hex of the asked length and never repeat across refills of the pool', () => {
  const tokens = Array.from({ length: 2000 }, () => randomToken());
  assert.ok(tokens.every((token) => /^[0-9a-f]{16}$/.test(token)));
  assert.equal(new Set(tokens).size, tokens.length);
  assert.match(randomToken(12), /^[0-9a-f]{24}$/);
  assert.equal(randomToken(5000).length, 10_000, 'longer than the pool');
});
