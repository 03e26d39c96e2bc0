import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { MemorySource } from '../../src/pcap/source.js';
import { isSipMessage, scanCapture } from '../../src/pcap/streams.js';
import { ipv4Udp, pcapOfFrames, rtpPacket } from '../helpers/pcap-files.js';

const ascii = (text: string) => Uint8Array.from(Buffer.from(text, 'latin1'));

test('SIP request and status lines are recognised, other text is not', () => {
  assert.ok(isSipMessage(ascii('INVITE sip:bob@example.com SIP/2.0\r\nVia: x\r\n')));
  assert.ok(isSipMessage(ascii('SIP/2.0 200 OK\r\n')));
  assert.ok(!isSipMessage(ascii('HTTP/1.1 200 OK\r\n')));
  assert.ok(!isSipMessage(Uint8Array.of(0x80, 0x00, 0, 1)));
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

test('UDP noise that reads as RTP does not take the stream slots from the streams after it', () => {
  // A host capture: DNS answers to 300 lookups, each from a new source port, whose ID byte
  // reads as RTP version 2; then the call.
  const noise = Array.from({ length: 300 }, (_, i) => {
    const answer = Buffer.alloc(40);
    answer.writeUInt8(0x80, 0);
    answer.writeUInt32BE(0x00010000 + i, 8);
    return ipv4Udp(20000 + i, 53, answer);
  });
  const call = Array.from({ length: 50 }, (_, i) => ipv4Udp(4000, 6000, rtpPacket(0xabcdef, i)));
  const scan = scanCapture(new MemorySource(pcapOfFrames([...noise, ...call])));
  assert.deepEqual(
    scan.streams.map((s) => [s.ssrc, s.packets, s.audio?.codec.encoding]),
    [[0xabcdef, 50, 'PCMU']],
  );
  assert.equal(scan.droppedStreams, 0);
});

test('past 256 streams that start together, the first 256 keep their slots', () => {
  // 300 calls' first three packets, every stream once per 15 ms round.
  const frames = Array.from({ length: 300 * 3 }, (_, i) =>
    ipv4Udp(10000 + (i % 300), 6000, rtpPacket(i % 300, Math.floor(i / 300))),
  );
  const scan = scanCapture(new MemorySource(pcapOfFrames(frames, undefined, 50)));
  assert.equal(scan.streams.length, 256);
  assert.ok(scan.streams.every((s) => s.ssrc < 256 && s.packets === 3));
  assert.equal(scan.droppedStreams, 44 * 3);
});

test('every frame and datagram the scan passes over is counted, by why', () => {
  const withByte = (packet: Buffer, at: number, value: number) => {
    const copy = Buffer.from(packet);
    copy.writeUInt8(value, at);
    return copy;
  };
  const rtp = rtpPacket(0x1234, 0);
  const udp = ipv4Udp(4000, 6000, rtp);
  const frames = [
    ...Array.from({ length: 5 }, (_, i) => ipv4Udp(4000, 6000, rtpPacket(0x1234, i))),
    withByte(udp, 6, 0x20), // IPv4 more-fragments
    withByte(udp, 9, 6), // TCP
    udp.subarray(0, 24), // IPv4 cut inside the UDP header
    withByte(udp, 0, 0x00), // not IP at all
    ipv4Udp(4000, 6000, Buffer.alloc(0)), // UDP without payload
    ipv4Udp(4000, 6000, withByte(rtp, 0, 0x40)), // RTP version 1
    ipv4Udp(4000, 6000, withByte(rtp, 0, 0x8f).subarray(0, 20)), // 15 CSRCs past the end
    ipv4Udp(4000, 6000, Buffer.concat([withByte(rtp.subarray(0, 12), 0, 0x90), Buffer.of(0, 0, 0xff, 0xff)])), // extension past the end
    ipv4Udp(4001, 6001, rtpPacket(0x9999, 0)), // one packet: noise that looked like RTP
  ];
  const scan = scanCapture(new MemorySource(pcapOfFrames(frames)));
  assert.deepEqual(scan.skippedFrames, {
    fragment: 1,
    'not-udp': 1,
    malformed: 1,
    'not-ip': 1,
    'unsupported-link': 0,
  });
  assert.equal(scan.udpDatagrams, 5 + 5);
  assert.equal(scan.otherDatagrams, 5, 'empty, bad version, CSRCs and extension past the end, noise');
  assert.deepEqual(
    scan.streams.map((s) => s.packets),
    [5],
  );
});

test('frames of a link type the reader does not decode are counted with the link type', () => {
  const radiotap = 127;
  const scan = scanCapture(new MemorySource(pcapOfFrames([Buffer.alloc(60), Buffer.alloc(60)], radiotap)));
  assert.equal(scan.skippedFrames['unsupported-link'], 2);
  assert.equal(scan.unsupportedLinkType, radiotap);
});

test('--codec names a codec; one named like an Object.prototype member gets the default clock rate', () => {
  const frames = Array.from({ length: 5 }, (_, i) => ipv4Udp(4000, 6000, rtpPacket(0x4321, i, 96)));
  for (const [codec, clockRate] of [
    ['opus', 48000],
    ['constructor', 8000],
    ['toString', 8000],
  ] as const) {
    const scan = scanCapture(new MemorySource(pcapOfFrames(frames)), { codec });
    assert.deepEqual(scan.streams[0]?.audio, { payloadType: 96, codec: { encoding: codec, clockRate } });
  }
});
