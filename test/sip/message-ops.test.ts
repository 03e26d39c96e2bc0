import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SipResponse } from '../../src/sip/message.js';
import { randomToken, retryAfterSec } from '../../src/sip/message-ops.js';

test('random tokens are hex of the asked length and never repeat across refills of the pool', () => {
  const tokens = Array.from({ length: 2000 }, () => randomToken());
  assert.ok(tokens.every((token) => /^[0-9a-f]{16}$/.test(token)));
  assert.equal(new Set(tokens).size, tokens.length);
  assert.match(randomToken(12), /^[0-9a-f]{24}$/);
  assert.equal(randomToken(5000).length, 10_000, 'longer than the pool');
});

test('Retry-After is delta-seconds with an optional comment and parameters (RFC 3261 §20.33); anything else is none', () => {
  const of = (value?: string) => {
    const response = new SipResponse(503, 'Service Unavailable');
    if (value !== undefined) response.append('Retry-After', value);
    return retryAfterSec(response);
  };
  assert.deepEqual(
    [
      '60',
      ' 18000 (in maintenance) ;duration=3600',
      '120;duration=60',
      '0',
      '1e3',
      '-5',
      'soon',
      '',
      undefined,
    ].map(of),
    [60, 18000, 120, undefined, undefined, undefined, undefined, undefined, undefined],
  );
});
