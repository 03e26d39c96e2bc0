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
    [0, 50, 100, 150, 160, 210, 260],
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

type DtmfTrain = ReturnType<DtmfSender['packetsForDigit']>;

function assertSortedByOffset(packets: DtmfTrain): void {
  packets.slice(1).forEach((p, i) => {
    assert.ok(p.offsetMs >= packets[i]!.offsetMs, `packet ${i + 1} at ${p.offsetMs} ms`);
  });
}

/**
 * `copies` are one final packet sent three times at the update interval from `firstMs` on
 * (RFC 4733 §2.5.1.4), byte for byte the same packet, none marked.
 */
function assertFinalCopies(copies: DtmfTrain, firstMs: number, intervalMs: number): void {
  assert.deepEqual(
    copies.map((p) => p.offsetMs),
    [firstMs, firstMs + intervalMs, firstMs + 2 * intervalMs],
  );
  for (const copy of copies) {
    assert.deepEqual([...copy.payload], [...copies[0]!.payload]);
    assert.deepEqual(
      [copy.timestamp, copy.payloadType, copy.marker],
      [copies[0]!.timestamp, copies[0]!.payloadType, false],
    );
  }
}

test('sender: the end packet goes three times one update interval apart, the train in order of offset (RFC 4733 §2.5.1.4)', () => {
  const sender = new DtmfSender({ clockRate: 8000, payloadType: 101 });
  // The default 100 ms digit, updates every 50 ms: its copies at 100, 150 and 200 ms.
  assert.deepEqual(
    sender.packetsForDigit('7', 4321).map((p) => p.offsetMs),
    [0, 50, 100, 150, 200],
  );
  const cases = [{}, { durationMs: 160 }, { durationMs: 40 }, { durationMs: 100, updateIntervalMs: 20 }];
  for (const options of cases) {
    const packets = sender.packetsForDigit('7', 4321, options);
    assertSortedByOffset(packets);
    const ends = packets.filter((p) => parseTelephoneEvent(p.payload)!.end);
    assert.deepEqual(ends, packets.slice(-3), 'the end copies are the last three');
    assertFinalCopies(ends, options.durationMs ?? 100, options.updateIntervalMs ?? 50);
    assert.equal(parseTelephoneEvent(ends[0]!.payload)!.duration, (options.durationMs ?? 100) * 8);
    assert.equal(ends[0]!.timestamp, 4321);
  }
});

test("sender: each segment's final packet goes three times one interval apart, among the next segment's updates (RFC 4733 §2.5.1.3)", () => {
  const sender = new DtmfSender({ clockRate: 48000, payloadType: 101 });
  const start = 0xffffffff - 20000;
  const second = (start + 0xffff) >>> 0;
  const boundaryMs = 0xffff / 48;
  const packets = sender.packetsForDigit('5', start, { durationMs: 2000 });
  assertSortedByOffset(packets);
  const fields = packets.map((p) => parseTelephoneEvent(p.payload)!);
  const segmentEnds = packets.filter((p, i) => p.timestamp === start && fields[i]!.duration === 0xffff);
  assertFinalCopies(segmentEnds, boundaryMs, 50);
  assert.equal(parseTelephoneEvent(segmentEnds[0]!.payload)!.end, false);
  const eventEnds = packets.filter((_, i) => fields[i]!.end);
  assertFinalCopies(eventEnds, 2000, 50);
  assert.deepEqual(
    eventEnds.map((p) => [p.timestamp, parseTelephoneEvent(p.payload)!.duration]),
    Array(3).fill([second, 96000 - 0xffff]),
  );
  // Around the boundary: the first segment's copies between the second one's updates.
  assert.deepEqual(
    packets.filter((p) => p.offsetMs >= 1350 && p.offsetMs <= 1500).map((p) => [p.offsetMs, p.timestamp]),
    [
      [1350, start],
      [boundaryMs, start],
      [1400, second],
      [boundaryMs + 50, start],
      [1450, second],
      [boundaryMs + 100, start],
      [1500, second],
    ],
  );
  // A receiver still takes it as one press of the whole duration.
  const receiver = new DtmfReceiver({ clockRate: 48000 });
  const events = toReceived(packets)
    .map((p) => receiver.push(p))
    .filter((e) => e !== undefined);
  assert.deepEqual(
    events.map((e) => [e.digit, e.durationMs, e.startTimestamp]),
    [['5', 2000, start]],
  );
});

test("sender: a segment's copies that would follow the event's end go with it, before the end packets", () => {
  // 1400 ms at 48 kHz: the first segment ends at 1365.3 ms, its copies would be due at 1415.3
  // and 1465.3 ms, after the event's end packet at 1400 ms.
  const sender = new DtmfSender({ clockRate: 48000, payloadType: 101 });
  const packets = sender.packetsForDigit('9', 1000, { durationMs: 1400 });
  assertSortedByOffset(packets);
  const fields = packets.map((p) => parseTelephoneEvent(p.payload)!);
  const firstEnd = fields.findIndex((f) => f.end);
  const lastOfFirstSegment = packets.map((p) => p.timestamp).lastIndexOf(1000);
  assert.ok(lastOfFirstSegment < firstEnd, 'every packet of the first segment goes before the end packets');
  assert.deepEqual(
    packets.filter((p, i) => p.timestamp === 1000 && fields[i]!.duration === 0xffff).map((p) => p.offsetMs),
    [0xffff / 48, 1400, 1400],
  );
  const receiver = new DtmfReceiver({ clockRate: 48000 });
  const events = toReceived(packets)
    .map((p) => receiver.push(p))
    .filter((e) => e !== undefined);
  assert.deepEqual(
    events.map((e) => [e.digit, e.durationMs]),
    [['9', 1400]],
  );
});

test('round trip of several digits across a timestamp wrap: each reported once, in order', () => {
  const { sent, transmitter, tickThrough } = recordingTransmitter(8000);
  transmitter.enqueue('12*#AD');
  tickThrough(100, 160, 0xfffff000);
  // Each digit starts on the tick after the previous one's last end copy and the 60 ms gap.
  assert.deepEqual(
    sent.filter((p) => p.marker).map((p) => p.atMs),
    [0, 260, 520, 780, 1040, 1300],
  );
  const receiver = new DtmfReceiver({ clockRate: 8000 });
  const digits = sent
    .map((p, i) => receiver.push({ ...p, payloadType: 101, ssrc: 1, sequenceNumber: i, arrivalMs: p.atMs }))
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

/** A packet a transmitter sent, with the tick time it left at. */
interface SentDtmf {
  payload: Uint8Array;
  timestamp: number;
  marker: boolean;
  atMs: number;
}

/**
 * A transmitter at `clockRate` whose packets are recorded; `tickThrough` runs `ticks` 20 ms
 * ticks from 0, the audio timestamp `samplesPerTick` a tick on from `startTimestamp`, and says
 * after each whether the transmitter was active.
 */
function recordingTransmitter(
  clockRate: number,
  extra: Pick<ConstructorParameters<typeof DtmfTransmitter>[0], 'options' | 'maxQueuedDigits'> = {},
) {
  const sent: SentDtmf[] = [];
  let now = 0;
  const transmitter = new DtmfTransmitter({
    sender: new DtmfSender({ clockRate, payloadType: 101 }),
    send: (payload, opts) =>
      sent.push({ payload, timestamp: opts.timestamp, marker: opts.marker, atMs: now }),
    ...extra,
  });
  const tickThrough = (ticks: number, samplesPerTick: number, startTimestamp = 8000): boolean[] => {
    const activeAt: boolean[] = [];
    for (let tick = 0; tick < ticks; tick++) {
      now = tick * 20;
      transmitter.tick(now, (startTimestamp + tick * samplesPerTick) >>> 0);
      activeAt.push(transmitter.active);
    }
    return activeAt;
  };
  return { sent, transmitter, tickThrough };
}

test('transmitter: digits go out on media-clock ticks, on the audio timeline, one at a time', () => {
  const { sent, transmitter, tickThrough } = recordingTransmitter(8000, {
    options: { durationMs: 100, updateIntervalMs: 20, gapMs: 40 },
    maxQueuedDigits: 4,
  });
  transmitter.enqueue('47');
  assert.throws(() => transmitter.enqueue('123'), RangeError);
  assert.throws(() => transmitter.enqueue('x'), RangeError);
  const activeAt = tickThrough(25, 160);
  const receiver = new DtmfReceiver({ clockRate: 8000 });
  const events = sent
    .map((p, i) => receiver.push({ ...p, payloadType: 101, ssrc: 1, sequenceNumber: i, arrivalMs: p.atMs }))
    .filter((e) => e !== undefined);
  assert.deepEqual(
    events.map((e) => [e.digit, e.durationMs, e.startTimestamp]),
    [
      ['4', 100, 8000],
      // The first digit's last end copy goes at 140 ms, then a 40 ms gap: the next starts on
      // the 180 ms tick.
      ['7', 100, 8000 + 9 * 160],
    ],
  );
  assert.equal(sent.filter((p) => p.marker).length, 2);
  assert.deepEqual(activeAt.slice(0, 8), [true, true, true, true, true, true, true, false]);
  assert.equal(transmitter.pendingDigits, 0);
  assert.equal(transmitter.active, false);
});

test('transmitter: the end copies leave on separate ticks, and the digit stays active until the last', () => {
  const { sent, transmitter, tickThrough } = recordingTransmitter(8000);
  transmitter.enqueue('89');
  const activeAt = tickThrough(30, 160);
  // The default 100 ms digit, updates every 50 ms: packets due at 0, 50, 100, 150 and 200 ms
  // go on the 20 ms ticks at or after those, one a tick.
  const first = sent.filter((p) => p.timestamp === 8000);
  assert.deepEqual(
    first.map((p) => p.atMs),
    [0, 60, 100, 160, 200],
  );
  const ends = first.filter((p) => parseTelephoneEvent(p.payload)!.end);
  assert.deepEqual(
    ends.map((p) => p.atMs),
    [100, 160, 200],
  );
  for (const copy of ends) assert.deepEqual([...copy.payload], [...ends[0]!.payload]);
  // Active, so the audio stays replaced, until the tick that sends the last copy (200 ms).
  assert.deepEqual(activeAt.slice(0, 13), [...Array(10).fill(true), false, false, false]);
  // The 60 ms gap counts from that last copy: the next digit starts on the 260 ms tick.
  const next = sent.filter((p) => p.timestamp !== 8000);
  assert.deepEqual(
    [next[0]!.atMs, next[0]!.timestamp, next[0]!.marker, activeAt[13]],
    [260, 8000 + 13 * 160, true, true],
  );
  assert.deepEqual(
    next.filter((p) => parseTelephoneEvent(p.payload)!.end).map((p) => p.atMs),
    [360, 420, 460],
  );
  assert.equal(transmitter.active, false);
});

test('a digit longer than 0xFFFF units (2 s on a 48 kHz Opus clock) goes out in segments (RFC 4733 §2.5.1.3)', () => {
  const { sent, transmitter, tickThrough } = recordingTransmitter(48000);
  const start = 0xffffffff - 20000; // the second segment's timestamp wraps
  transmitter.enqueue('5', 2000);
  tickThrough(110, 960, start);
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
