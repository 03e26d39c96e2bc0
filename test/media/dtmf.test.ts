import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import {
  DtmfReceiver,
  DtmfSender,
  DtmfTransmitter,
  parseTelephoneEvent,
  serializeTelephoneEvent,
} from '../../src/media/dtmf.js';
import { parseRtp, type ReceivedRtp } from '../../src/media/rtp/index.js';
import { readCapture } from '../../src/pcap/reader.js';
import { FileSource } from '../../src/pcap/source.js';
import { decodeUdpFrame } from '../../src/pcap/udp.js';
import { skipUnlessPresent } from '../helpers/peers.js';

const CAPTURES = '/usr/share/sip-tester';

/** The RTP packets of a capture, arriving at their capture time. */
function rtpPacketsFromPcap(path: string): ReceivedRtp[] {
  const source = new FileSource(path);
  const packets: ReceivedRtp[] = [];
  let firstMs: number | undefined;
  for (const frame of readCapture(source)) {
    const datagram = decodeUdpFrame(frame.linkType, frame.data);
    firstMs ??= frame.timestampMs;
    const rtp =
      typeof datagram === 'string' ? undefined : parseRtp(datagram.payload, frame.timestampMs - firstMs);
    if (rtp) packets.push(rtp);
  }
  source.close();
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

function toReceived(packets: ReturnType<DtmfSender['packetsForDigit']>, seq0 = 100): ReceivedRtp[] {
  return packets.map((p, i) => ({
    payloadType: 101,
    ssrc: 1,
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
  assert.throws(() => sender.packetsForDigit('1', 0, { durationMs: 10_001 }), RangeError);
  assert.throws(() => sender.packetsForDigit('1', 0, { durationMs: 0 }), RangeError);
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

/**
 * A 2 s press of '5' at 48 kHz in two segments (RFC 4733 §2.5.1.3): updates every 50 ms, the
 * second segment at the first one's timestamp + 0xFFFF, without the marker bit.
 */
function longPress(start: number, withBoundaryUpdate: boolean): ReceivedRtp[] {
  const packets: ReceivedRtp[] = [];
  const push = (timestamp: number, duration: number, end: boolean, arrivalMs: number) =>
    packets.push({
      payloadType: 101,
      ssrc: 1,
      payload: serializeTelephoneEvent({ event: 5, end, volume: 10, duration }),
      timestamp: timestamp >>> 0,
      marker: packets.length === 0,
      sequenceNumber: packets.length,
      arrivalMs,
    });
  for (let ms = 0; ms * 48 < 0xffff; ms += 50) push(start, ms * 48, false, ms);
  if (withBoundaryUpdate) push(start, 0xffff, false, 1365);
  const second = start + 0xffff;
  for (let ms = 1400; ms < 2000; ms += 50) push(second, ms * 48 - 0xffff, false, ms);
  for (let copy = 0; copy < 3; copy++) push(second, 2000 * 48 - 0xffff, true, 2000);
  // A late copy of the first segment's last update is not a new press.
  push(start, 0xffff - 735, false, 2010);
  return packets;
}

test('a long event in 0xFFFF segments (RFC 4733 §2.5.1.3) is one digit with the whole duration', () => {
  for (const withBoundaryUpdate of [true, false]) {
    for (const start of [1000, 0xffffffff - 20000]) {
      const receiver = new DtmfReceiver({ clockRate: 48000 });
      const events = longPress(start, withBoundaryUpdate)
        .map((p) => receiver.push(p))
        .filter((e) => e !== undefined);
      assert.equal(receiver.poll(10_000), undefined);
      assert.deepEqual(
        events.map((e) => [e.digit, e.durationMs, e.startTimestamp]),
        [['5', 2000, start]],
        `boundary update ${withBoundaryUpdate}, start ${start}`,
      );
    }
  }
});

test('a marked event at the segment boundary is a new press, not a continuation', () => {
  const receiver = new DtmfReceiver({ clockRate: 8000 });
  const packets = longPress(0, true).slice(0, 28);
  const next = { ...packets[0]!, timestamp: 0xffff, marker: true, sequenceNumber: 99, arrivalMs: 1400 };
  const events = [...packets, next].map((p) => receiver.push(p)).filter((e) => e !== undefined);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.startTimestamp, 0);
});

test('malformed and non-digit payloads are counted, never thrown', () => {
  const receiver = new DtmfReceiver({ clockRate: 8000 });
  const base = { payloadType: 101, ssrc: 1, timestamp: 1, sequenceNumber: 1, marker: true, arrivalMs: 0 };
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
    .map((p, i) => receiver.push({ ...p, payloadType: 101, ssrc: 1, sequenceNumber: i, arrivalMs: p.atMs }))
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

test('a digit longer than 0xFFFF units (2 s on a 48 kHz Opus clock) goes out in segments (RFC 4733 §2.5.1.3)', () => {
  const sent: Array<{ payload: Uint8Array; timestamp: number; marker: boolean; atMs: number }> = [];
  let now = 0;
  const transmitter = new DtmfTransmitter({
    sender: new DtmfSender({ clockRate: 48000, payloadType: 101 }),
    send: (payload, opts) =>
      sent.push({ payload, timestamp: opts.timestamp, marker: opts.marker, atMs: now }),
  });
  const start = 0xffffffff - 20000; // the second segment's timestamp wraps
  transmitter.enqueue('5', 2000);
  for (let tick = 0; tick < 110; tick++) {
    now = tick * 20;
    transmitter.tick(now, (start + tick * 960) >>> 0);
  }
  const fields = sent.map((p) => ({
    ...parseTelephoneEvent(p.payload)!,
    timestamp: p.timestamp,
    marker: p.marker,
  }));
  const second = (start + 0xffff) >>> 0;
  // Segment one: its timestamp, durations up to 0xFFFF, whose packet goes three times without E.
  const first = fields.filter((f) => f.timestamp === start);
  assert.ok(first.every((f) => !f.end && f.duration <= 0xffff));
  assert.deepEqual(
    first.slice(-3).map((f) => f.duration),
    [0xffff, 0xffff, 0xffff],
  );
  // Segment two: the first one's timestamp + 0xFFFF, no marker, durations from its own start,
  // three end packets with the rest of the 96000 units.
  const rest = fields.filter((f) => f.timestamp === second);
  assert.equal(first.length + rest.length, fields.length);
  assert.ok(rest.every((f) => !f.marker));
  assert.deepEqual(
    rest.slice(-3).map((f) => [f.duration, f.end]),
    [
      [96000 - 0xffff, true],
      [96000 - 0xffff, true],
      [96000 - 0xffff, true],
    ],
  );
  assert.ok(rest.slice(0, -3).every((f) => !f.end && f.duration < 96000 - 0xffff));
  assert.equal(fields.filter((f) => f.marker).length, 1);
  // A receiver takes it as one press of the whole duration.
  const receiver = new DtmfReceiver({ clockRate: 48000 });
  const events = sent
    .map((p, i) => receiver.push({ ...p, payloadType: 101, ssrc: 1, sequenceNumber: i, arrivalMs: p.atMs }))
    .filter((e) => e !== undefined);
  assert.deepEqual(
    events.map((e) => [e.digit, e.durationMs, e.startTimestamp]),
    [['5', 2000, start]],
  );
});
