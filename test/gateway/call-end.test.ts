import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boundedDetail } from '../../src/gateway/call-end.js';

test("an end's detail is printable, bounded, and quotes no URL's credentials", () => {
  assert.equal(
    boundedDetail('Invalid URL: wss://user:pw@bot.example:70000/media?token=BOTSECRET'),
    'Invalid URL: wss://bot.example:70000/media',
  );
  assert.equal(boundedDetail('486 Busy\r\nHere'), '486 Busy??Here');
  assert.equal(boundedDetail('x'.repeat(500)).length, 160);
});
