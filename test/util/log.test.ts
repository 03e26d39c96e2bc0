import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger, SecretBytes, shownUrl, shownUrlsIn } from '../../src/util/index.js';

/** A logger writing into `lines`, each line parsed. */
function capture(): { log: ReturnType<typeof createLogger>; lines: string[]; parsed: () => unknown[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const log = createLogger({ destination: sink, level: 'debug' });
  return {
    log,
    lines,
    parsed: () =>
      lines
        .join('')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
  };
}

const flushed = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The value at `path` in a parsed log line. */
function field(line: unknown, ...path: Array<string | number>): unknown {
  return path.reduce<unknown>((value, step) => (value as Record<string | number, unknown>)[step], line);
}

test('logger redacts secrets wherever they appear', async () => {
  const { log: root, lines, parsed } = capture();
  const log = root.child({ callId: 'c1' });
  log.info(
    { trunk: { name: 'carrier-a', password: 'hunter2' }, token: 'abc', api: { bearerToken: 'b3arer' } },
    'trunk loaded',
  );
  await flushed();
  const [line] = parsed();
  assert.equal(field(line, 'callId'), 'c1');
  assert.equal(field(line, 'trunk', 'password'), '[redacted]');
  assert.equal(field(line, 'token'), '[redacted]');
  assert.equal(field(line, 'api', 'bearerToken'), '[redacted]');
  assert.ok(!lines.join('').includes('hunter2'));
});

test('secrets nested at any depth, in arrays too, are redacted; the fields around them are kept', async () => {
  const { log, lines, parsed } = capture();
  const logged = {
    trunk: {
      name: 'carrier-a',
      outbound: { host: 'sip.example', auth: { username: 'u1', password: 's3cret-1' } },
    },
    target: { url: 'wss://bot.example/x', auth: { type: 'hmac', secret: 's3cret-2' } },
    routes: [{ id: 'r1', auth: { token: 's3cret-3' } }, 'plain', 7],
    request: { headers: { 'Proxy-Authorization': 's3cret-4', authorization: 's3cret-5', accept: '*/*' } },
    tls: { keyFile: '/etc/k.pem', key: 's3cret-6', privateKey: 's3cret-7', passphrase: 's3cret-8' },
    srtp: { suite: 'AES_CM_128_HMAC_SHA1_80', sendKey: 's3cret-9', masterSalt: 's3cret-10' },
    sdes: { key: new SecretBytes(Buffer.from('s3cret-11')) },
    tokens: 3,
  };
  log.info(logged, 'loaded');
  await flushed();
  const text = lines.join('');
  for (let n = 1; n <= 11; n++) assert.ok(!text.includes(`s3cret-${n}"`), `s3cret-${n} hidden`);
  const [line] = parsed();
  assert.deepEqual(field(line, 'trunk'), {
    name: 'carrier-a',
    outbound: { host: 'sip.example', auth: { username: 'u1', password: '[redacted]' } },
  });
  assert.deepEqual(field(line, 'routes'), [{ id: 'r1', auth: { token: '[redacted]' } }, 'plain', 7]);
  assert.equal(field(line, 'request', 'headers', 'accept'), '*/*');
  assert.equal(field(line, 'tls', 'keyFile'), '/etc/k.pem');
  assert.equal(field(line, 'srtp', 'suite'), 'AES_CM_128_HMAC_SHA1_80');
  assert.equal(field(line, 'sdes', 'key'), '[redacted]');
  assert.equal(field(line, 'tokens'), 3, 'a count named tokens is no secret');
  // The logged object itself is not changed.
  assert.equal(logged.trunk.outbound.auth.password, 's3cret-1');
});

test('URLs anywhere in a line lose user info and query; the message too', async () => {
  const { log, lines, parsed } = capture();
  log.warn(
    {
      redis: 'redis://:pw-1@redis.example:6379/0',
      target: { url: 'wss://user:pw-2@bot.example/x?token=abc-3' },
      list: [{ detail: 'dial https://u:pw-4@cb.example/hook?sig=abc-5 failed' }],
      url: new URL('https://u:pw-6@cb.example/a?b=abc-7'),
      plain: 'http://cb.example/hook',
    },
    'connecting to rediss://:pw-8@r.example:6380',
  );
  await flushed();
  const text = lines.join('');
  for (const secret of ['pw-1', 'pw-2', 'abc-3', 'pw-4', 'abc-5', 'pw-6', 'abc-7', 'pw-8']) {
    assert.ok(!text.includes(secret), `${secret} hidden`);
  }
  const [line] = parsed();
  assert.equal(field(line, 'redis'), 'redis://redis.example:6379/0');
  assert.equal(field(line, 'target', 'url'), 'wss://bot.example/x');
  assert.equal(field(line, 'list', 0, 'detail'), 'dial https://cb.example/hook failed');
  assert.equal(field(line, 'url'), 'https://cb.example/a');
  assert.equal(field(line, 'plain'), 'http://cb.example/hook');
  assert.equal(field(line, 'msg'), 'connecting to rediss://r.example:6380');
});

test('a logged error keeps type, message and stack, without secrets or URL credentials', async () => {
  const { log, lines, parsed } = capture();
  const error = Object.assign(new TypeError('fetch wss://u:pw-1@bot.example/x?token=abc-2 failed'), {
    code: 'E_BOT',
    config: { auth: { password: 'pw-3' } },
  });
  log.error({ err: error }, 'bot unreachable');
  await flushed();
  assert.ok(!/pw-1|abc-2|pw-3/.test(lines.join('')));
  const [line] = parsed();
  assert.equal(field(line, 'err', 'type'), 'TypeError');
  assert.equal(field(line, 'err', 'message'), 'fetch wss://bot.example/x failed');
  assert.match(String(field(line, 'err', 'stack')), /^TypeError: fetch wss:\/\/bot\.example\/x failed\n/);
  assert.equal(field(line, 'err', 'code'), 'E_BOT');
  assert.equal(field(line, 'err', 'config', 'auth', 'password'), '[redacted]');
});

test("a child's bindings are redacted, its children's too", async () => {
  const { log, lines, parsed } = capture();
  const child = log.child({ callId: 'c1' }) as unknown as { child(b: object): typeof log };
  child.child({ password: 'pw-1', aor: 'sip:alice@example.com' }).info({ n: 1 }, 'registered');
  await flushed();
  assert.ok(!lines.join('').includes('pw-1'));
  const [line] = parsed();
  assert.equal(field(line, 'callId'), 'c1');
  assert.equal(field(line, 'password'), '[redacted]');
  assert.equal(field(line, 'aor'), 'sip:alice@example.com');
});

test('a cycle is logged as [Circular] and still redacted; depth is bounded', async () => {
  const { log, parsed } = capture();
  const node: Record<string, unknown> = { name: 'a', password: 'pw' };
  node['self'] = node;
  node['list'] = [node];
  let deep: Record<string, unknown> = { password: 'deep-pw' };
  for (let level = 0; level < 12; level++) deep = { next: deep };
  log.info({ node, deep }, 'odd shapes');
  await flushed();
  const [line] = parsed();
  assert.deepEqual(field(line, 'node'), {
    name: 'a',
    password: '[redacted]',
    self: '[Circular]',
    list: ['[Circular]'],
  });
  assert.deepEqual(field(line, 'deep', ...Array(7).fill('next')), { next: '[Object]' });
});

test('a field that cannot be read is not shown, and logging does not throw', async () => {
  const { log, parsed } = capture();
  const unreadable = {
    get boom(): string {
      throw new Error('getter');
    },
  };
  log.warn({ err: new Error('kept'), detail: { unreadable } }, 'odd');
  log.warn({ err: unreadable }, 'odd error');
  await flushed();
  const [first, second] = parsed();
  assert.equal(field(first, 'fields'), '[unserialisable]');
  assert.equal(field(first, 'err', 'message'), 'kept');
  assert.equal(field(second, 'err'), '[unserialisable]');
});

test('ordinary fields are logged unchanged', async () => {
  const { log, parsed } = capture();
  const fields = {
    reason: 'bye',
    durationMs: 1234,
    ok: true,
    none: null,
    remote: '10.0.0.1:5060',
    from: 'sip:alice@example.com',
    at: new Date(0),
    nested: { list: [1, 'two', { three: 3 }], bytes: Buffer.from([1, 2]) },
    callback: 'https://cb.example/hook',
  };
  log.info(fields, 'call ended');
  await flushed();
  const [line] = parsed();
  const { level: _level, time: _time, service, msg, ...rest } = line as Record<string, unknown>;
  assert.equal(service, 'patchbay');
  assert.equal(msg, 'call ended');
  assert.deepEqual(rest, JSON.parse(JSON.stringify(fields)));
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
