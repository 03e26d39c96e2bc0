import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExotelDialect } from '../../src/stream/exotel.js';
import { encodeL16, type PcmStreamRate } from '../../src/stream/stereo.js';

const call = {
  callSid: 'CA0123',
  accountSid: 'AC0123',
  from: '+911',
  to: '+912',
  customParameters: { k: 'v' },
};

// biome-ignore lint/suspicious/noExplicitAny: the test walks arbitrary wire JSON and asserts on it
function json(message: unknown): Record<string, any> {
  assert.equal(typeof message, 'string');
  return JSON.parse(message as string);
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

test('open sends connected, then start with snake_case fields and string media_format', () => {
  const dialect = new ExotelDialect(16000);
  const [connected, start, ...rest] = dialect.open(call).map(json);
  assert.equal(rest.length, 0);
  assert.deepEqual(connected, { event: 'connected' });
  assert.deepEqual(start, {
    event: 'start',
    sequence_number: '1',
    stream_sid: dialect.streamSid,
    start: {
      stream_sid: dialect.streamSid,
      call_sid: 'CA0123',
      account_sid: 'AC0123',
      from: '+911',
      to: '+912',
      custom_parameters: { k: 'v' },
      media_format: { encoding: 'audio/x-raw', sample_rate: '16000', bit_rate: '16' },
    },
  });
});

for (const rate of [8000, 16000, 24000] as PcmStreamRate[]) {
  test(`media at ${rate} Hz: 20 ms of L16 in 320-byte multiples, string counters without gaps`, () => {
    const dialect = new ExotelDialect(rate);
    dialect.open(call);
    const frame = Int16Array.from({ length: rate / 50 }, (_, i) => (i % 50) * 300 - 7000);
    const first = json(dialect.callerAudio(frame));
    const second = json(dialect.callerAudio(frame));
    const digit = json(dialect.dtmf('7'));
    const mark = json(dialect.markPlayed('m1'));
    const stop = json(dialect.stop());
    assert.deepEqual(
      [first, second, digit, mark, stop].map((m) => m['sequence_number']),
      ['2', '3', '4', '5', '6'],
    );
    assert.deepEqual([first['media'].chunk, second['media'].chunk], ['1', '2']);
    assert.deepEqual([first['media'].timestamp, second['media'].timestamp], ['0', '20']);
    const payload = Buffer.from(first['media'].payload, 'base64');
    assert.equal(payload.length, (rate / 50) * 2);
    assert.equal(payload.length % 320, 0);
    assert.deepEqual([...payload], [...encodeL16(frame)]);
    assert.equal(payload.readInt16LE(2), frame[1]);
    assert.deepEqual(digit['dtmf'], { digit: '7', duration: '100' });
    assert.deepEqual(mark['mark'], { name: 'm1' });
    assert.deepEqual(stop['stop'], { call_sid: 'CA0123', account_sid: 'AC0123', reason: 'stopped' });
    for (const m of [first, second, digit, mark, stop]) assert.equal(m['stream_sid'], dialect.streamSid);
  });
}

test("dtmf carries the digit's duration in ms as a string, as Exotel's own dtmf event does", () => {
  const dialect = new ExotelDialect(8000);
  dialect.open(call);
  assert.deepEqual(json(dialect.dtmf('5', 160))['dtmf'], { digit: '5', duration: '160' });
  assert.deepEqual(json(dialect.dtmf('#', 87.5))['dtmf'], { digit: '#', duration: '88' });
  // A digit whose length the carrier did not say (SIP INFO) still has the field.
  assert.deepEqual(json(dialect.dtmf('7'))['dtmf'], { digit: '7', duration: '100' });
});

test('extension events carry no sequence_number', () => {
  const dialect = new ExotelDialect(8000);
  dialect.open(call);
  const event = json(dialect.extensionEvent('speech_started'));
  assert.deepEqual(event, {
    event: 'patchbay',
    stream_sid: dialect.streamSid,
    patchbay: { type: 'speech_started' },
  });
  assert.equal(json(dialect.markPlayed('a'))['sequence_number'], '2');
});

test('bot media, mark, clear and patchbay commands parse', () => {
  const dialect = new ExotelDialect(8000);
  const sid = dialect.streamSid;
  const pcm = Int16Array.from({ length: 160 }, (_, i) => i * 100 - 8000);
  const audio = dialect.parse(
    JSON.stringify({ event: 'media', stream_sid: sid, media: { payload: b64(encodeL16(pcm)) } }),
    false,
  );
  assert.deepEqual(audio, { kind: 'audio', pcm });
  assert.equal(dialect.unalignedChunks, 0);
  assert.deepEqual(
    dialect.parse(JSON.stringify({ event: 'mark', stream_sid: sid, mark: { name: 'x' } }), false),
    {
      kind: 'mark',
      name: 'x',
    },
  );
  assert.deepEqual(dialect.parse(JSON.stringify({ event: 'clear', stream_sid: sid }), false), {
    kind: 'clear',
  });
  assert.deepEqual(dialect.parse('{"event":"patchbay","command":"hangup"}', false), {
    kind: 'command',
    command: { command: 'hangup' },
  });
});

test('a chunk that is not a multiple of 320 bytes is played but counted', () => {
  const dialect = new ExotelDialect(8000);
  const pcm = new Int16Array(100); // 200 bytes
  const input = dialect.parse(
    JSON.stringify({
      event: 'media',
      stream_sid: dialect.streamSid,
      media: { payload: b64(encodeL16(pcm)) },
    }),
    false,
  );
  assert.equal(input.kind, 'audio');
  assert.equal(dialect.unalignedChunks, 1);
});

test('bad bot input is reported invalid, never thrown', () => {
  const dialect = new ExotelDialect(8000);
  const sid = dialect.streamSid;
  const media = (payload: unknown) => JSON.stringify({ event: 'media', stream_sid: sid, media: { payload } });
  const cases: [string, string | Uint8Array, boolean][] = [
    ['binary frame', Uint8Array.of(1, 2), true],
    ['invalid JSON', '{"event":', false],
    ['not an object', '[1]', false],
    ['wrong stream_sid', JSON.stringify({ event: 'clear', stream_sid: 'MZother' }), false],
    ['missing stream_sid', '{"event":"clear"}', false],
    ['unknown event', JSON.stringify({ event: 'bogus', stream_sid: sid }), false],
    ['no payload', media(undefined), false],
    ['numeric payload', media(5), false],
    ['empty payload', media(''), false],
    ['not base64', media('!!!!'), false],
    ['base64 with a hole', media('AAAA AAA'), false],
    ['bad padding', media('AAA'), false],
    ['odd byte count', media(b64(Uint8Array.of(1, 2, 3))), false],
    ['mark without name', JSON.stringify({ event: 'mark', stream_sid: sid, mark: {} }), false],
    ['bad patchbay command', '{"event":"patchbay","command":"transfer","target":"http://x"}', false],
  ];
  for (const [label, data, isBinary] of cases)
    assert.equal(dialect.parse(data, isBinary).kind, 'invalid', label);
});

test('a reopen (reconnect) starts the counters again from 1', () => {
  const dialect = new ExotelDialect(8000);
  dialect.open(call);
  dialect.callerAudio(new Int16Array(160));
  const [, start] = dialect.open(call).map(json);
  assert.equal(start?.['sequence_number'], '1');
  const media = json(dialect.callerAudio(new Int16Array(160)));
  assert.deepEqual(
    [media['sequence_number'], media['media'].chunk, media['media'].timestamp],
    ['2', '1', '0'],
  );
});

test('the reused media message is byte for byte what JSON.stringify writes, frame after frame', () => {
  const dialect = new ExotelDialect(16000);
  dialect.open(call);
  for (let chunk = 1; chunk <= 3; chunk++) {
    const frame = Int16Array.from({ length: 320 }, (_, i) => ((i * 97 * chunk) % 65536) - 32768);
    const expected = JSON.stringify({
      event: 'media',
      sequence_number: String(chunk + 1),
      stream_sid: dialect.streamSid,
      media: { chunk: String(chunk), timestamp: String((chunk - 1) * 20), payload: b64(encodeL16(frame)) },
    });
    assert.equal(dialect.callerAudioFrame(frame).toString('utf8'), expected);
  }
});

test('bot media decodes into reused PCM, signed and little-endian', () => {
  const dialect = new ExotelDialect(8000);
  dialect.open(call);
  const pcm = Int16Array.from([0, 1, -1, 32767, -32768, 256, -256, 12345]);
  const parse = (samples: Int16Array) =>
    dialect.parse(
      JSON.stringify({
        event: 'media',
        stream_sid: dialect.streamSid,
        media: { payload: b64(encodeL16(samples)) },
      }),
      false,
    );
  const first = parse(pcm);
  assert.equal(first.kind, 'audio');
  assert.deepEqual([...(first.kind === 'audio' ? first.pcm : [])], [...pcm]);
  const second = parse(pcm.map((sample) => -sample));
  assert.deepEqual([...(second.kind === 'audio' ? second.pcm : [])], [...pcm.map((sample) => -sample)]);
});
