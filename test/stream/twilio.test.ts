import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMulaw, encodeMulaw } from '../../src/media/index.js';
import { TwilioDialect } from '../../src/stream/index.js';
import { stringifiedMediaMessage } from '../helpers/twilio-media.js';

const call = { callSid: 'CA0123', accountSid: 'AC0123', customParameters: { lang: 'en' } };

// biome-ignore lint/suspicious/noExplicitAny: the test walks arbitrary wire JSON and asserts on it
function json(message: unknown): Record<string, any> {
  assert.equal(typeof message, 'string');
  return JSON.parse(message as string);
}

test('open sends connected, then one start with the documented fields and types', () => {
  const dialect = new TwilioDialect();
  const [connected, start] = dialect.open(call).map(json);
  assert.deepEqual(connected, { event: 'connected', protocol: 'Call', version: '1.0.0' });
  assert.equal(start?.['event'], 'start');
  assert.equal(start?.['sequenceNumber'], '1');
  assert.match(start?.['streamSid'], /^MZ[0-9a-f]{32}$/);
  assert.equal(start?.['start'].streamSid, start?.['streamSid']);
  assert.equal(start?.['start'].callSid, 'CA0123');
  assert.deepEqual(start?.['start'].tracks, ['inbound']);
  assert.deepEqual(start?.['start'].customParameters, { lang: 'en' });
  assert.deepEqual(start?.['start'].mediaFormat, {
    encoding: 'audio/x-mulaw',
    sampleRate: 8000,
    channels: 1,
  });
});

test('media, dtmf, mark and stop carry string counters that advance without gaps', () => {
  const dialect = new TwilioDialect();
  dialect.open(call);
  const frame = Int16Array.from({ length: 160 }, (_, i) => (i % 40) * 200 - 4000);
  const first = json(dialect.callerAudio(frame));
  const second = json(dialect.callerAudio(frame));
  const digit = json(dialect.dtmf('5'));
  const mark = json(dialect.markPlayed('m1'));
  const stop = json(dialect.stop());
  assert.deepEqual(
    [first, second, digit, mark, stop].map((m) => m['sequenceNumber']),
    ['2', '3', '4', '5', '6'],
  );
  assert.deepEqual([first['media'].chunk, second['media'].chunk], ['1', '2']);
  assert.deepEqual([first['media'].timestamp, second['media'].timestamp], ['0', '20']);
  assert.equal(first['media'].track, 'inbound');
  const payload = Buffer.from(first['media'].payload, 'base64');
  assert.equal(payload.length, 160);
  assert.deepEqual([...payload], [...encodeMulaw(frame)]);
  assert.deepEqual(digit['dtmf'], { track: 'inbound_track', digit: '5' });
  assert.deepEqual(mark['mark'], { name: 'm1' });
  assert.equal(stop['event'], 'stop');
});

test('media messages are byte for byte what JSON.stringify gives for the documented fields, across digit carries', () => {
  const dialect = new TwilioDialect();
  dialect.open(call);
  const frame = Int16Array.from({ length: 160 }, (_, i) => Math.round(Math.sin(i / 5) * 12000));
  for (let chunk = 1; chunk <= 1001; chunk++) {
    const expected = stringifiedMediaMessage(dialect.streamSid, chunk + 1, chunk, encodeMulaw(frame));
    // All three forms count in one stream: the carrier's µ-law passed as it came included.
    const message =
      chunk % 3 === 0
        ? dialect.callerMulawFrame(encodeMulaw(frame)).toString('utf8')
        : chunk % 3 === 1
          ? dialect.callerAudio(frame)
          : dialect.callerAudioFrame(frame).toString('utf8');
    assert.equal(message, expected, `chunk ${chunk}`);
  }
});

test('bot media decodes through reused buffers exactly as Buffer.from would, malformed base64 included', () => {
  const dialect = new TwilioDialect();
  dialect.open(call);
  const media = (payload: string) =>
    dialect.parse(
      JSON.stringify({ event: 'media', streamSid: dialect.streamSid, media: { payload } }),
      false,
    );
  const mulaw = Uint8Array.from({ length: 160 }, (_, i) => (i * 37) & 0xff);
  const good = Buffer.from(mulaw).toString('base64');
  for (const payload of [
    good,
    good.slice(0, 100),
    ` ${good.slice(0, 40)}\n${good.slice(40)}`,
    'QUJD*',
    '',
    good,
  ]) {
    const input = media(payload);
    assert.equal(input.kind, 'audio');
    if (input.kind === 'audio')
      assert.deepEqual([...input.pcm], [...decodeMulaw(Buffer.from(payload, 'base64'))]);
  }
});

test('after keepBotMulaw, bot media comes as the bytes it carried, from the bytes scan and the parser alike', () => {
  const dialect = new TwilioDialect();
  dialect.open(call);
  const mulaw = Uint8Array.from({ length: 160 }, (_, i) => (i * 37) & 0xff);
  const message = JSON.stringify({
    event: 'media',
    streamSid: dialect.streamSid,
    media: { payload: Buffer.from(mulaw).toString('base64') },
  });
  assert.equal(dialect.parse(Buffer.from(message), false).kind, 'audio', 'decoded until asked');
  dialect.keepBotMulaw();
  for (const data of [Buffer.from(message), message, Buffer.from(message.replace('{', '{ '))]) {
    const input = dialect.parse(data, false);
    assert.equal(input.kind, 'mulaw');
    if (input.kind === 'mulaw') assert.deepEqual([...input.mulaw], [...mulaw]);
  }
  const mark = dialect.parse(
    JSON.stringify({ event: 'mark', streamSid: dialect.streamSid, mark: { name: 'a' } }),
    false,
  );
  assert.deepEqual(mark, { kind: 'mark', name: 'a' }, 'other events as before');
});

test('bot media, mark, clear and patchbay commands parse; bad input is reported, never thrown', () => {
  const dialect = new TwilioDialect();
  dialect.open(call);
  const sid = dialect.streamSid;
  const pcm = Int16Array.from({ length: 160 }, (_, i) => i * 10);
  const payload = Buffer.from(encodeMulaw(pcm)).toString('base64');
  const audio = dialect.parse(JSON.stringify({ event: 'media', streamSid: sid, media: { payload } }), false);
  assert.equal(audio.kind, 'audio');
  if (audio.kind === 'audio') assert.deepEqual([...audio.pcm], [...decodeMulaw(encodeMulaw(pcm))]);
  assert.deepEqual(
    dialect.parse(JSON.stringify({ event: 'mark', streamSid: sid, mark: { name: 'x' } }), false),
    {
      kind: 'mark',
      name: 'x',
    },
  );
  assert.deepEqual(dialect.parse(JSON.stringify({ event: 'clear', streamSid: sid }), false), {
    kind: 'clear',
  });
  assert.deepEqual(
    dialect.parse(JSON.stringify({ event: 'patchbay', command: 'dtmf', digits: '12#' }), false),
    {
      kind: 'command',
      command: { command: 'dtmf', digits: '12#' },
    },
  );
  const invalid: Array<[string | Uint8Array, boolean]> = [
    ['{not json', false],
    ['[1,2]', false],
    [JSON.stringify({ event: 'media', streamSid: 'MZwrong', media: { payload } }), false],
    [JSON.stringify({ event: 'media', streamSid: sid }), false],
    [JSON.stringify({ event: 'mark', streamSid: sid, mark: {} }), false],
    [JSON.stringify({ event: 'bogus', streamSid: sid }), false],
    [JSON.stringify({ event: 'patchbay', command: 'dtmf', digits: '12x' }), false],
    [JSON.stringify({ event: 'patchbay', command: 'transfer', target: 'http://evil' }), false],
    [JSON.stringify({ event: 'patchbay', command: 'transfer', target: 'sip:a@b>\r\nX-Injected: 1' }), false],
    [new Uint8Array([1, 2, 3]), true],
  ];
  for (const [data, isBinary] of invalid) {
    assert.equal(dialect.parse(data, isBinary).kind, 'invalid', String(data));
  }
});

test('a mark name of 256 UTF-8 bytes is accepted; one byte more is refused as invalid, not cut', () => {
  const dialect = new TwilioDialect();
  const mark = (name: string) =>
    dialect.parse(JSON.stringify({ event: 'mark', streamSid: dialect.streamSid, mark: { name } }), false);
  assert.deepEqual(mark('a'.repeat(256)), { kind: 'mark', name: 'a'.repeat(256) });
  // 128 two-byte characters are 256 bytes; 86 three-byte ones are 258.
  assert.deepEqual(mark('é'.repeat(128)), { kind: 'mark', name: 'é'.repeat(128) });
  const refused = { kind: 'invalid', reason: 'mark name over 256 bytes' };
  assert.deepEqual(mark('a'.repeat(257)), refused);
  assert.deepEqual(mark('€'.repeat(86)), refused);
});

test('text that cannot open a JSON object is refused by its first character; whitespace before it is fine', () => {
  const dialect = new TwilioDialect();
  const refused = { kind: 'invalid', reason: 'not a JSON object' };
  assert.deepEqual(dialect.parse('x'.repeat(1000), false), refused);
  assert.deepEqual(dialect.parse('"{a string}"', false), refused);
  assert.deepEqual(dialect.parse('', false), refused);
  const clear = JSON.stringify({ event: 'clear', streamSid: dialect.streamSid });
  assert.deepEqual(dialect.parse(` \r\n\t${clear}`, false), { kind: 'clear' });
});
