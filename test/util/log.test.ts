import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger, shownUrl, shownUrlsIn } from '../../src/util/index.js';

test('logger redacts secrets wherever they appear', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const log = createLogger({ destination: sink }).child({ callId: 'c1' });
  log.info(
    { trunk: { name: 'carrier-a', password: 'hunter2' }, token: 'abc', api: { bearerToken: 'b3arer' } },
    'trunk loaded',
  );
  await new Promise((r) => setImmediate(r));
  const line = JSON.parse(lines.join(''));
  assert.equal(line.callId, 'c1');
  assert.equal(line.trunk.password, '[redacted]');
  assert.equal(line.token, '[redacted]');
  assert.equal(line.api.bearerToken, '[redacted]');
  assert.ok(!lines.join('').includes('hunter2'));
});

test('a URL shown in a log line or record drops user info, query and fragment', () => {
  assert.equal(shownUrl('wss://user:pw@bot.example:8443/path?token=abc#x'), 'wss://bot.example:8443/path');
  assert.equal(shownUrl('https://cb.example/hook?sig=1'), 'https://cb.example/hook');
  assert.equal(shownUrl('builtin:echo'), 'builtin:echo');
  assert.equal(shownUrl('ws://u:p@[::1]/a?b'), 'ws://[::1]/a');
  assert.equal(shownUrl('redis://:pw@redis.example:6379'), 'redis://redis.example:6379');
  // Unparsable: a raw `/` in the password.
  assert.equal(shownUrl('wss://u:p/w@bot.example/x?t=1'), 'wss://bot.example/x');
});

test('URLs inside text are shown without credentials; other text is returned as it is', () => {
  const text = 'no url here';
  assert.equal(shownUrlsIn(text), text);
  assert.equal(shownUrlsIn('see https://cb.example/hook.'), 'see https://cb.example/hook.');
  assert.equal(
    shownUrlsIn('a wss://u:p@bot.example/x?token=1 and redis://:pw@r:6379, then http://h/p#frag'),
    'a wss://bot.example/x and redis://r:6379, then http://h/p',
  );
  // In a JSON line a match stops at a quote or an escape, so the line stays valid JSON.
  const line = JSON.stringify({ msg: 'say "wss://u:p@bot/x?t=1"', u: 'https://u:p@h/\\x' });
  const shown = shownUrlsIn(line);
  assert.deepEqual(JSON.parse(shown), { msg: 'say "wss://bot/x"', u: 'https://h/\\x' });
});
