import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  type DtmfPacketIn,
  DtmfReceiver,
  DtmfSender,
  DtmfTransmitter,
  parseTelephoneEvent,
  serializeTelephoneEvent,
} from '../../src/media/dtmf.js';
import { skipUnlessPresent } from '../helpers/peers.js';

const CAPTURES = '/usr/share/sip-tester';

/**
 * Minimal libpcap walker for this test only (src/pcap is another area's work): Ethernet,
 * IPv4, UDP, then the RTP fixed header. Enough for SIPp's dtmf_2833_*.pcap captures.
 */
function rtpPacketsFromPcap(path: string): DtmfPacketIn[] {
  const file = readFileSync(path);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = view.getUint32(0, true);
  assert.ok(magic === 0xa1b2c3d4 || magic === 0xd4c3b2a1, 'libpcap microsecond capture');
  const little = magic === 0xa1b2c3d4;
  assert.equal(view.getUint32(20, little), 1, 'Ethernet link type');
  const packets: DtmfPacketIn[] = [];
  let offset = 24;
  let firstMs: number | undefined;
  while (offset + 16 <= file.length) {
    const ms = view.getUint32(offset, little) * 1000 + view.getUint32(offset + 4, little) / 1000;
    const captured = view.getUint32(offset + 8, little);
    const frame = file.subarray(offset + 16, offset + 16 + captured);
    offset += 16 + captured;
    if (frame.length < 14 + 20 + 8 + 12 || frame[12] !== 0x08 || frame[13] !== 0x00) continue;
    const ipHeader = (frame[14]! & 0x0f) * 4;
    if (frame[14 + 9] !== 17) continue;
    const rtp = frame.subarray(14 + ipHeader + 8);
    const csrcCount = rtp[0]! & 0x0f;
    firstMs ??= ms;
    packets.push({
      marker: (rtp[1]! & 0x80) !== 0,
      sequenceNumber: (rtp[2]! << 8) | rtp[3]!,
      timestamp: ((rtp[4]! << 24) | (rtp[5]! << 16) | (rtp[6]! << 8) | rtp[7]!) >>> 0,
      payload: rtp.subarray(12 + 4 * csrcCount),
      arrivalMs: ms - firstMs,
    });
  }
  return packets;
}

const CAPTURE_DIGITS: Array<[string, string]> = [
  ...[...'0123456789'].map((d): [string, string] => [`dtmf_2833_${d}.pcap`, d]),
  ['dtmf_2833_star.pcap', '*'],
  ['dtmf_2833_pound.pcap', '#'],
];

const skipCaptures = skipUnlessPresent(
  existsSync(`${CAPTURES}/dtmf_2833_0.pcap`),
  'sip-tester captures not installed',
);

test('each SIPp capture reports its digit exactly once, with its duration', { skip: skipCaptures }, () => {
  for (const [file, digit] of CAPTURE_DIGITS) {
    const receiver = new DtmfReceiver({ clockRate: 8000 });
    const packets = rtpPacketsFromPcap(`${CAPTURES}/${file}`);
    assert.ok(packets.length >= 10, file);
    const events = packets.map((p) => receiver.push(p)).filter((e) => e !== undefined);
    assert.equal(events.length, 1, file);
    assert.equal(events[0]!.digit, digit);
    assert.equal(events[0]!.durationMs, 280);
    assert.equal(events[0]!.startTimestamp, packets[0]!.timestamp);
  }
});

function toReceived(packets: ReturnType<DtmfSender['packetsForDigit']>, seq0 = 100): DtmfPacketIn[] {
  return packets.map((p, i) => ({
    payload: p.payload,
    timestamp: p.timestamp,
    marker: p.marker,
    sequenceNumber: seq0 + i,
    arrivalMs: p.offsetMs,
  }));
}

test('sender: marker on the start packet, updates every interval, three identical end packets', () => {
  const sender = new DtmfSender({ clockRate: 8000, payloadType: 101 });
  const packets = sender.packetsForDigit('5', 1234, { durationMs: 160, updateIntervalMs: 50, volume: 7 });
  assert.deepEqual(
    packets.map((p) => p.offsetMs),
    [0, 50, 100, 150, 160, 160, 160],
  );
  assert.deepEqual(
    packets.map((p) => p.marker),
    [true, false, false, false, false, false, false],
  );
  assert.ok(packets.every((p) => p.timestamp === 1234 && p.payloadType === 101));
  const parsed = packets.map((p) => parseTelephoneEvent(p.payload)!);
  assert.deepEqual(
    parsed.map((p) => p.duration),
    [0, 400, 800, 1200, 1280, 1280, 1280],
  );
  assert.deepEqual(
    parsed.map((p) => p.end),
    [false, false, false, false, true, true, true],
  );
  assert.ok(parsed.every((p) => p.event === 5 && p.volume === 7));
  assert.throws(() => sender.packetsForDigit('x', 0), RangeError);
  assert.throws(() => sender.packetsForDigit('1', 0, { durationMs: 9000 }), RangeError);
});

test('round trip of several digits: each reported once, in order', () => {
  const sender = new DtmfSender({ clockRate: 8000, payloadType: 101 });
  const receiver = new DtmfReceiver({ clockRate: 8000 });
  const packets = toReceived(sender.packetsForDigits('12*#AD', 0xfffff000));
  const digits = packets
    .map((p) => receiver.push(p))
    .filter((e) => e !== undefined)
    .map((e) => e.digit);
  assert.deepEqual(digits.join(''), '12*#AD');
});

test('retransmitted updates and late end copies do not report twice', () => {
  const sender = new DtmfSender({ clockRate: 8000, payloadType: 101 });
  const receiver = new DtmfReceiver({ clockRate: 8000 });
  const packets = toReceived(sender.packetsForDigit('9', 5000));
  const doubled = packets.flatMap((p) => [p, p]);
  const events = doubled.map((p) => receiver.push(p)).filter((e) => e !== undefined);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.durationMs, 100);
  // A reordered update after the end: still nothing.
  assert.equal(receiver.push(packets[1]!), undefined);
});

test('all end packets lost: reported on the next event, or on timeout', () => {
  const sender = new DtmfSender({ clockRate: 8000, payloadType: 101 });
  const receiver = new DtmfReceiver({ clockRate: 8000, lostEndTimeoutMs: 500 });
  const first = toReceived(sender.packetsForDigit('3', 8000)).filter(
    (p) => !parseTelephoneEvent(p.payload)!.end,
  );
  for (const p of first) assert.equal(receiver.push(p), undefined);
  const second = toReceived(sender.packetsForDigit('4', 16000));
  const lost = receiver.push({ ...second[0]!, arrivalMs: 1000 });
  assert.deepEqual(lost, { digit: '3', durationMs: 100 - 50, volume: 10, startTimestamp: 8000 });
  // The second event's end packets are lost too: the timeout reports it.
  assert.equal(receiver.poll(1400), undefined);
  assert.equal(receiver.poll(1500)?.digit, '4');
  assert.equal(receiver.poll(5000), undefined);
});

test('malformed and non-digit payloads are counted, never thrown', () => {
  const receiver = new DtmfReceiver({ clockRate: 8000 });
  const base = { timestamp: 1, sequenceNumber: 1, marker: true, arrivalMs: 0 };
  assert.equal(receiver.push({ ...base, payload: new Uint8Array(2) }), undefined);
  const flash = serializeTelephoneEvent({ event: 16, end: true, volume: 0, duration: 800 });
  assert.equal(receiver.push({ ...base, payload: flash }), undefined);
  assert.equal(receiver.malformed, 2);
});

test('transmitter: digits go out on media-clock ticks, on the audio timeline, one at a time', () => {
  const sent: Array<{ payload: Uint8Array; timestamp: number; marker: boolean; atMs: number }> = [];
  let now = 0;
  const transmitter = new DtmfTransmitter({
    sender: new DtmfSender({ clockRate: 8000, payloadType: 101 }),
    send: (payload, opts) =>
      sent.push({ payload, timestamp: opts.timestamp, marker: opts.marker, atMs: now }),
    options: { durationMs: 100, updateIntervalMs: 20, gapMs: 40 },
    maxQueuedDigits: 4,
  });
  transmitter.enqueue('47');
  assert.throws(() => transmitter.enqueue('123'), RangeError);
  assert.throws(() => transmitter.enqueue('x'), RangeError);
  const activeAt: boolean[] = [];
  for (let tick = 0; tick < 25; tick++) {
    now = tick * 20;
    transmitter.tick(now, 8000 + tick * 160);
    activeAt.push(transmitter.active);
  }
  const receiver = new DtmfReceiver({ clockRate: 8000 });
  const events = sent
    .map((p, i) => receiver.push({ ...p, sequenceNumber: i, arrivalMs: p.atMs }))
    .filter((e) => e !== undefined);
  assert.deepEqual(
    events.map((e) => [e.digit, e.durationMs, e.startTimestamp]),
    [
      ['4', 100, 8000],
      // The first digit ends at 100 ms, then a 40 ms gap: the next starts on the 140 ms tick.
      ['7', 100, 8000 + 7 * 160],
    ],
  );
  assert.equal(sent.filter((p) => p.marker).length, 2);
  assert.deepEqual(activeAt.slice(0, 6), [true, true, true, true, true, false]);
  assert.equal(transmitter.pendingDigits, 0);
  assert.equal(transmitter.active, false);
});
