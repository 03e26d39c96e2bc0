import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BotInput, ExotelDialect, TwilioDialect } from '../../src/stream/index.js';
import { MediaEventScanner } from '../../src/stream/media-event-scan.js';
import { SeededRandom } from '../../src/util/index.js';

const SID = 'MZ0123456789abcdef0123456789abcdef';

function bytesOf(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

function base64Of(length: number, random: SeededRandom): string {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = random.int(0, 255);
  return bytes.toString('base64');
}

/** A comparable form of a dialect's answer (audio is reused between messages, so copied). */
function outcome(input: BotInput): unknown {
  return input.kind === 'audio' ? { kind: 'audio', pcm: [...input.pcm] } : { ...input };
}

test('the common shapes of a media event are read from the bytes, payload decoded', () => {
  const scanner = new MediaEventScanner('streamSid', SID);
  const random = new SeededRandom(7);
  for (const length of [1, 2, 3, 160, 161, 162, 320]) {
    const payload = base64Of(length, random);
    const expected = Buffer.from(payload, 'base64');
    const shapes = [
      `{"event":"media","streamSid":"${SID}","media":{"payload":"${payload}"}}`,
      `{"media":{"track":"outbound","payload":"${payload}","chunk":"3"},"streamSid":"${SID}","event":"media"}`,
      ` \r\n{ "event" : "media" ,\t"streamSid": "${SID}", "media": {"payload": "${payload}", "x": {"y": {}}} }\n`,
      `{"event":"media","streamSid":"${SID}","media":{"payload":"AAAA"},"media":{"payload":"${payload}"}}`,
      `{"event":"mark","event":"media","streamSid":"${SID}","media":{"payload":"${payload}"}}`,
    ];
    for (const shape of shapes) {
      const decoded = scanner.mediaPayload(bytesOf(shape));
      assert.ok(decoded, shape);
      assert.deepEqual(Buffer.from(decoded), expected, shape);
    }
  }
});

/** Events of stream `sid` the scan must leave to the full parser. */
function leftToParser(sid: string): string[] {
  const payload = 'AAECAw==';
  return [
    `{"event":"mark","streamSid":"${SID}","mark":{"name":"a"}}`,
    `{"event":"media","streamSid":"MZother","media":{"payload":"${payload}"}}`,
    `{"event":"media","media":{"payload":"${payload}"}}`,
    `{"event":"media","streamSid":"${SID}","media":{"payload":"${payload}"},"media":{"track":"x"}}`,
    `{"event":"media","streamSid":"${SID}","media":"${payload}"}`,
    `{"event":"media","streamSid":"${SID}","media":{"payload":"${payload}"},"sequenceNumber":4}`,
    `{"event":"media","streamSid":"${SID}","media":{"payload":"${payload}"},"x":[1]}`,
    `{"event":"med\\u0069a","streamSid":"${SID}","media":{"payload":"${payload}"}}`,
    `{"event":"media","streamSid":"${SID}","media":{"payload":"${payload}"},"\\u0065vent":"mark"}`,
    `{"event":"media","streamSid":"${SID}","media":{"payload":"AAECAw="}}`,
    `{"event":"media","streamSid":"${SID}","media":{"payload":"AAE=CAw="}}`,
    `{"event":"media","streamSid":"${SID}","media":{"payload":"AA ECAw=="}}`,
    `{"event":"media","streamSid":"${SID}","media":{"payload":""}}`,
    `{"event":"media","streamSid":"${SID}","media":{"payload":"${payload}"}}x`,
    `{"event":"media","streamSid":"${SID}","media":{"payload":"${payload}"},}`,
    `{"event":"media","streamSid":"${SID}","media":{"payload":"${payload}"}`,
    `{"event":"media","streamSid":"${SID}","é":"","media":{"payload":"${payload}"}}`,
    `{"a":{"b":{"c":{"d":{}}}},"event":"media","streamSid":"${SID}","media":{"payload":"${payload}"}}`,
  ].map((message) => message.replaceAll(SID, sid));
}

test('anything outside the strict subset is left to the full parser', () => {
  const scanner = new MediaEventScanner('streamSid', SID);
  for (const message of leftToParser(SID))
    assert.equal(scanner.mediaPayload(bytesOf(message)), undefined, message);
});

/** Random edits of well-formed events: the bytes and the text must get the same answer. */
function mutatedEvents(
  random: SeededRandom,
  streamIdField: string,
  streamId: string,
  count: number,
): string[] {
  const pieces = '{}[]":,\\ =+/Aa0\t\n-1.eE\u00e9tnul';
  const events: string[] = [];
  for (let i = 0; i < count; i++) {
    const members = [
      `"event":"${random.chance(0.8) ? 'media' : 'mark'}"`,
      `"${streamIdField}":"${random.chance(0.9) ? streamId : 'MZx'}"`,
      `"media":{"payload":"${base64Of(random.int(0, 330), random)}"}`,
    ];
    if (random.chance(0.3)) members.push('"mark":{"name":"m1"}');
    if (random.chance(0.3)) members.push('"sequenceNumber":"5"');
    members.sort(() => random.next() - 0.5);
    let text = `{${members.join(random.chance(0.2) ? ' , ' : ',')}}`;
    for (let edits = random.int(0, 3); edits > 0; edits--) {
      const at = random.int(0, text.length);
      const piece = pieces[random.int(0, pieces.length - 1)] as string;
      const cut = random.int(0, 1);
      text = text.slice(0, at) + piece + text.slice(at + cut);
    }
    events.push(text);
  }
  return events;
}

test('on well-formed and mangled events, a dialect answers the bytes as it answers the text', () => {
  const random = new SeededRandom(2026);
  const twilio = new TwilioDialect();
  const exotel = new ExotelDialect(8000);
  let fast = 0;
  for (const [dialect, field] of [
    [twilio, 'streamSid'],
    [exotel, 'stream_sid'],
  ] as const) {
    const scanner = new MediaEventScanner(field, dialect.streamSid);
    const events = mutatedEvents(random, field, dialect.streamSid, 3000);
    if (dialect === twilio) events.push(...leftToParser(dialect.streamSid));
    for (const text of events) {
      const bytes = bytesOf(text);
      if (scanner.mediaPayload(bytes)) fast++;
      const fromBytes = outcome(dialect.parse(bytes, false));
      assert.deepEqual(fromBytes, outcome(dialect.parse(text, false)), text);
    }
  }
  // Both paths were exercised: the comparison is not vacuous.
  assert.ok(fast > 600 && fast < 5000, `${fast} of 6000 read by the scan`);
});

test("Exotel's unaligned chunks are counted the same on either path", () => {
  const exotel = new ExotelDialect(8000);
  const message = `{"event":"media","stream_sid":"${exotel.streamSid}","media":{"payload":"${Buffer.alloc(100).toString('base64')}"}}`;
  exotel.parse(bytesOf(message), false);
  exotel.parse(message, false);
  assert.equal(exotel.unalignedChunks, 2);
});

test('an event shaped as the last one read whole is read as the whole scan reads it', () => {
  const random = new SeededRandom(44);
  const pieces = '"\\=+/Aa0 \t}{,:-é';
  const twilio = new TwilioDialect();
  let shortcut = 0;
  for (let i = 0; i < 3000; i++) {
    // Bots write every event alike: a first one read whole sets the shape the next are checked against.
    const shape = mutatedEvents(random, 'streamSid', twilio.streamSid, 1)[0] as string;
    const kept = new MediaEventScanner('streamSid', twilio.streamSid);
    const first = base64Of(random.int(1, 200), random);
    const withPayload = (payload: string) => shape.replace(/"payload":"[^"]*"/, `"payload":"${payload}"`);
    if (!kept.mediaPayload(bytesOf(withPayload(first)))) continue;
    let payload = base64Of(random.int(0, 200), random);
    for (let edits = random.int(0, 2); edits > 0; edits--) {
      const at = random.int(0, payload.length);
      payload =
        payload.slice(0, at) + (pieces[random.int(0, pieces.length - 1)] as string) + payload.slice(at);
    }
    const next = bytesOf(withPayload(payload));
    const whole = new MediaEventScanner('streamSid', twilio.streamSid).mediaPayload(next);
    const read = kept.mediaPayload(next);
    assert.deepEqual(read && [...read], whole && [...whole], withPayload(payload));
    if (read) shortcut++;
  }
  // Payloads left whole (about half) have the kept shape and are read; the rest are refused.
  assert.ok(shortcut > 300, `${shortcut} events read by the shape`);
});

test('a stream whose events differ in more than the payload is read whole each time', () => {
  const scanner = new MediaEventScanner('streamSid', SID);
  for (let chunk = 1; chunk <= 50; chunk++) {
    const payload = Buffer.alloc(160, chunk).toString('base64');
    const message = `{"event":"media","media":{"chunk":"${chunk}","payload":"${payload}"},"streamSid":"${SID}"}`;
    assert.deepEqual(Buffer.from(scanner.mediaPayload(bytesOf(message)) ?? []), Buffer.alloc(160, chunk));
    // Between the shape's bytes, a string that ends early: read for what it is, not as a payload.
    const early = message.replace(payload, `${payload.slice(0, 8)}","streamSid":"MZother`);
    assert.deepEqual(Buffer.from(scanner.mediaPayload(bytesOf(early)) ?? []), Buffer.alloc(6, chunk));
  }
});
