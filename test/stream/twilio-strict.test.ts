import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TwilioDialect } from '../../src/stream/index.js';
import { sine } from '../helpers/audio.js';
import { TwilioStrictChecker } from '../helpers/twilio-strict.js';

const call = { callSid: 'CA0123', accountSid: 'AC0123', customParameters: { lang: 'en', route: 'a' } };

/**
 * A clean stream from the real dialect. Indices: 0 connected, 1 start, 2-4 media chunks 1-3,
 * 5 dtmf, 6 mark, 7-8 media chunks 4-5, 9 stop.
 */
function cleanStream(): string[] {
  const dialect = new TwilioDialect();
  const tone = sine(440, 8000, 160);
  const silence = new Int16Array(160);
  const out = [
    ...dialect.open(call),
    dialect.callerAudio(tone),
    dialect.callerAudio(tone),
    dialect.callerAudio(tone),
    dialect.dtmf('5'),
    dialect.markPlayed('greeting'),
    dialect.callerAudio(silence),
    dialect.callerAudio(tone),
    dialect.stop(),
  ];
  return out.map((m) => {
    assert.equal(typeof m, 'string');
    return m as string;
  });
}

// biome-ignore lint/suspicious/noExplicitAny: hand-editing wire JSON into bad shapes
type Edit = (message: Record<string, any>) => void;

/** The clean stream with message `index` rewritten by `edit`. */
function edited(index: number, edit: Edit): string[] {
  const messages = cleanStream();
  const message = JSON.parse(messages[index] as string);
  edit(message);
  messages[index] = JSON.stringify(message);
  return messages;
}

function without(index: number): string[] {
  const messages = cleanStream();
  messages.splice(index, 1);
  return messages;
}

test('a clean TwilioDialect stream has no violations', () => {
  assert.deepEqual(TwilioStrictChecker.checkAll(cleanStream()), []);
  // Fed one by one, each message reports nothing either.
  const checker = new TwilioStrictChecker();
  for (const message of cleanStream()) assert.deepEqual(checker.check(message), []);
  assert.deepEqual(checker.finish(), []);
});

const cases: [string, () => unknown[], RegExp][] = [
  ['binary frame', () => [...cleanStream().slice(0, 2), new Uint8Array(4)], /#2: not a text frame/],
  ['invalid JSON', () => [...cleanStream().slice(0, 2), '{"event":'], /#2: invalid JSON/],
  ['not an object', () => [...cleanStream().slice(0, 2), '[]'], /not a JSON object/],
  ['event not a string', () => edited(2, (m) => (m['event'] = 5)), /#2: event is not a string/],
  ['no connected first', () => without(0), /#0 start: first message is not connected/],
  ['connected repeated', () => [cleanStream()[0], ...cleanStream()], /connected repeated/],
  ['wrong protocol', () => edited(0, (m) => (m['protocol'] = 'call')), /protocol is not "Call"/],
  ['wrong version', () => edited(0, (m) => (m['version'] = '1.0')), /version is not "1.0.0"/],
  [
    'counter on connected',
    () => edited(0, (m) => (m['sequenceNumber'] = '0')),
    /#0 connected: unknown field sequenceNumber/,
  ],
  ['media before start', () => without(1), /#1 media: message before start/],
  ['no start at all', () => cleanStream().slice(0, 1), /end: no start message/],
  ['start repeated', () => [...cleanStream().slice(0, 2), cleanStream()[1] as string], /start repeated/],
  ['start without callSid', () => edited(1, (m) => delete m['start'].callSid), /missing start\.callSid/],
  [
    'empty accountSid',
    () => edited(1, (m) => (m['start'].accountSid = '')),
    /start\.accountSid is not a non-empty/,
  ],
  [
    'start.streamSid differs',
    () => edited(1, (m) => (m['start'].streamSid = `MZ${'0'.repeat(32)}`)),
    /start\.streamSid differs/,
  ],
  ['tracks not an array', () => edited(1, (m) => (m['start'].tracks = 'inbound')), /start\.tracks/],
  [
    'custom parameter not a string',
    () => edited(1, (m) => (m['start'].customParameters.n = 1)),
    /customParameters/,
  ],
  [
    'sampleRate as a string',
    () => edited(1, (m) => (m['start'].mediaFormat.sampleRate = '8000')),
    /sampleRate is not the number 8000/,
  ],
  [
    'wrong encoding',
    () => edited(1, (m) => (m['start'].mediaFormat.encoding = 'audio/x-alaw')),
    /encoding is not "audio\/x-mulaw"/,
  ],
  [
    'two channels',
    () => edited(1, (m) => (m['start'].mediaFormat.channels = 2)),
    /channels is not the number 1/,
  ],
  [
    'extra mediaFormat field',
    () => edited(1, (m) => (m['start'].mediaFormat.bitRate = 64)),
    /unknown field start\.mediaFormat\.bitRate/,
  ],
  [
    'sequenceNumber as a number',
    () => edited(2, (m) => (m['sequenceNumber'] = 2)),
    /#2 media: sequenceNumber is not a decimal string/,
  ],
  [
    'sequenceNumber gap',
    () => edited(5, (m) => (m['sequenceNumber'] = '7')),
    /#5 dtmf: sequenceNumber 7, expected 5/,
  ],
  [
    'sequenceNumber missing',
    () => edited(6, (m) => delete m['sequenceNumber']),
    /#6 mark: missing sequenceNumber/,
  ],
  [
    'streamSid changed',
    () => edited(3, (m) => (m['streamSid'] = `MZ${'a'.repeat(32)}`)),
    /#3 media: streamSid changed/,
  ],
  ['streamSid malformed', () => edited(1, (m) => (m['streamSid'] = 'stream-1')), /streamSid is not MZ/],
  [
    'chunk as a number',
    () => edited(2, (m) => (m['media'].chunk = 1)),
    /media\.chunk is not a decimal string/,
  ],
  ['chunk not from 1', () => edited(2, (m) => (m['media'].chunk = '0')), /media\.chunk 0, expected 1/],
  ['chunk gap', () => edited(3, (m) => (m['media'].chunk = '3')), /#3 media: media\.chunk 3, expected 2/],
  [
    'timestamp jump',
    () => edited(4, (m) => (m['media'].timestamp = '60')),
    /media\.timestamp 60, expected 40/,
  ],
  [
    'timestamp back',
    () => edited(4, (m) => (m['media'].timestamp = '0')),
    /media\.timestamp went back from 20 to 0/,
  ],
  [
    'timestamp as a number',
    () => edited(2, (m) => (m['media'].timestamp = 0)),
    /media\.timestamp is not a decimal string/,
  ],
  [
    'short payload',
    () => edited(2, (m) => (m['media'].payload = Buffer.alloc(159).toString('base64'))),
    /159 bytes, not 160/,
  ],
  [
    'payload not base64',
    () => edited(2, (m) => (m['media'].payload = '@@@@')),
    /media\.payload is not base64/,
  ],
  [
    'payload not a string',
    () => edited(2, (m) => (m['media'].payload = [1])),
    /media\.payload is not a string/,
  ],
  [
    'outbound track',
    () => edited(2, (m) => (m['media'].track = 'outbound')),
    /media\.track is not "inbound"/,
  ],
  [
    'extra media field',
    () => edited(2, (m) => (m['media'].sampleRate = 8000)),
    /unknown field media\.sampleRate/,
  ],
  ['media body missing', () => edited(2, (m) => delete m['media']), /media is not an object/],
  ['dtmf without track', () => edited(5, (m) => delete m['dtmf'].track), /missing dtmf\.track/],
  ['dtmf two digits', () => edited(5, (m) => (m['dtmf'].digit = '55')), /dtmf\.digit is not one DTMF digit/],
  ['mark name a number', () => edited(6, (m) => (m['mark'].name = 1)), /mark\.name is not a string/],
  ['mark without name', () => edited(6, (m) => (m['mark'] = {})), /missing mark\.name/],
  ['unknown top-level field', () => edited(6, (m) => (m['extra'] = true)), /#6 mark: unknown field extra/],
  ['unknown event', () => edited(6, (m) => (m['event'] = 'patchbay')), /#6 patchbay: unknown event/],
  ['stop missing', () => without(9), /end: stream ended without stop/],
  [
    'message after stop',
    () => [...cleanStream(), cleanStream()[2] as string],
    /#10 media: message after stop/,
  ],
  [
    'stop with another callSid',
    () => edited(9, (m) => (m['stop'].callSid = 'CA9')),
    /stop\.callSid differs from start/,
  ],
  [
    'stop without accountSid',
    () => edited(9, (m) => delete m['stop'].accountSid),
    /missing stop\.accountSid/,
  ],
];

for (const [label, stream, expected] of cases) {
  test(`detects: ${label}`, () => {
    const violations = TwilioStrictChecker.checkAll(stream());
    assert.ok(
      violations.some((v) => expected.test(v)),
      `expected ${expected} in ${JSON.stringify(violations)}`,
    );
  });
}
