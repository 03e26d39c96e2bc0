import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { MemorySource } from '../../src/pcap/source.js';
import { isSipMessage, parseRtp, scanCapture } from '../../src/pcap/streams.js';

const ascii = (text: string) => Uint8Array.from(Buffer.from(text, 'latin1'));

test('SIP request and status lines are recognised, other text is not', () => {
  assert.ok(isSipMessage(ascii('INVITE sip:bob@example.com SIP/2.0\r\nVia: x\r\n')));
  assert.ok(isSipMessage(ascii('SIP/2.0 200 OK\r\n')));
  assert.ok(!isSipMessage(ascii('HTTP/1.1 200 OK\r\n')));
  assert.ok(!isSipMessage(Uint8Array.of(0x80, 0x00, 0, 1)));
});

test('RTP header parse: CSRCs, extension and padding; RTCP and bad versions rejected', () => {
  const base = [0x80, 0x08, 0x12, 0x34, 0, 0, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef];
  const plain = parseRtp(Uint8Array.from([...base, 1, 2, 3]));
  assert.deepEqual(plain && { ...plain, payload: [...plain.payload] }, {
    marker: false,
    payloadType: 8,
    sequenceNumber: 0x1234,
    timestamp: 256,
    ssrc: 0xdeadbeef,
    payload: [1, 2, 3],
  });
  // One CSRC, a one-word extension, two bytes of padding.
  const full = Uint8Array.from([
    0xb1,
    0xe0,
    ...base.slice(2),
    0,
    0,
    0,
    9,
    0xbe,
    0xde,
    0,
    1,
    7,
    7,
    7,
    7,
    5,
    6,
    0,
    2,
  ]);
  const parsed = parseRtp(full);
  assert.equal(parsed?.marker, true);
  assert.equal(parsed?.payloadType, 96);
  assert.deepEqual([...(parsed?.payload ?? [])], [5, 6]);
  for (const rtcpType of [200, 201, 202, 203, 204])
    assert.equal(parseRtp(Uint8Array.from([0x80, rtcpType, ...base.slice(2)])), undefined);
  assert.equal(parseRtp(Uint8Array.from([0x40, ...base.slice(1)])), undefined);
  assert.equal(parseRtp(Uint8Array.from([0xa0, 0x08, ...base.slice(2), 1, 40])), undefined); // padding > packet
  assert.equal(parseRtp(Uint8Array.of(0x80, 0)), undefined);
});

test('scan of the SIPp capture maps codecs from its SDP and finds the event stream', () => {
  const scan = scanCapture(new MemorySource(readFileSync('fixtures/pcap/sipp-uac-pcap.pcapng')));
  assert.equal(scan.read.format, 'pcapng');
  assert.equal(scan.sipMessages, 6);
  assert.equal(scan.streams.length, 2);
  const audio = scan.streams.find((s) => s.audio);
  assert.equal(audio?.audio?.codec.encoding, 'PCMA');
  assert.equal(audio?.packets, 236);
  const events = scan.streams.find((s) => !s.audio);
  assert.deepEqual(events?.events, { payloadType: 101, clockRate: 8000 });
});

test('scan of the baresip capture finds two Opus streams from the SDP rtpmap', () => {
  const scan = scanCapture(new MemorySource(readFileSync('fixtures/pcap/baresip-opus.pcapng')));
  assert.equal(scan.streams.length, 2);
  for (const stream of scan.streams) {
    assert.deepEqual(stream.audio, { payloadType: 96, codec: { encoding: 'opus', clockRate: 48000 } });
    assert.equal(stream.packets, 301);
  }
});

test('corrupted captures never throw out of the scan (seeded byte flips)', () => {
  const original = readFileSync('fixtures/pcap/sipp-uac-pcap.pcapng');
  let state = 7;
  const random = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  for (let round = 0; round < 30; round++) {
    const damaged = Uint8Array.from(original);
    for (let flips = 0; flips < 40; flips++)
      damaged[Math.floor(random() * damaged.length)] = Math.floor(random() * 256);
    const scan = scanCapture(new MemorySource(damaged));
    assert.ok(scan.streams.length <= 256);
  }
});
