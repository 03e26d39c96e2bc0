import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../../src/util/index.js';
import { LOOPBACK, rtpBytes, sessionToPeer, until } from './session-helpers.js';

test("the far end's cumulative loss is read as RFC 3550's signed 24 bits (§6.4.1), past 4095 and below 0", async () => {
  const clock = new FakeClock();
  const { session: b, peer } = await sessionToPeer(clock);
  peer.send(rtpBytes(1, 7), b.localPort, LOOPBACK);
  await until(() => b.stats().packetsReceived === 1, 'latch');
  // An RR written by hand (not by our builder): SSRC 7, one block about b.
  const rr = (field: number) => {
    const bytes = Buffer.alloc(32);
    bytes.writeUInt8(0x81, 0);
    bytes.writeUInt8(201, 1);
    bytes.writeUInt16BE(7, 2);
    bytes.writeUInt32BE(7, 4);
    bytes.writeUInt32BE(b.ssrc, 8);
    bytes.writeUInt32BE((0x10 << 24) | field, 12); // fraction lost 16/256, then the 24-bit loss
    bytes.writeUInt32BE(100_000, 16);
    return bytes;
  };
  let seen = 0;
  for (const [field, lost] of [
    [0x001388, 5000],
    [0xfffffd, -3],
    [0x7fffff, 0x7fffff],
    [0x800000, -0x800000],
  ] as const) {
    peer.send(rr(field), b.localPort + 1, LOOPBACK);
    await until(() => b.stats().rtcpReceived === seen + 1, 'RR at b');
    seen++;
    assert.equal(b.stats().remoteReport?.packetsLost, lost, `field ${field.toString(16)}`);
    assert.equal(b.stats().remoteReport?.fractionLost, 16 / 256);
  }
});

test("the SR's RTP time matches its NTP time (RFC 3550 §6.4.1) also after a telephone event's updates, which repeat the event's start timestamp", async () => {
  const clock = new FakeClock();
  const { session: a, peer } = await sessionToPeer(clock);
  const reports: Buffer[] = [];
  peer.on('message', (msg) => {
    if (msg[1] === 200) reports.push(msg);
  });
  const audio = { payloadType: 0, timestamp: 0 };
  for (let tick = 0; tick < 5; tick++) {
    audio.timestamp = 8000 + tick * 160;
    a.send(new Uint8Array(160), audio);
    clock.advance(20);
  }
  // A 2 s digit from the next frame's timestamp on: an update every 50 ms, all with that timestamp.
  const event = { payloadType: 101, timestamp: 8000 + 5 * 160, marker: true };
  for (let ms = 0; ms < 2000; ms += 50) {
    a.send(new Uint8Array(4), event);
    event.marker = false;
    clock.advance(50);
  }
  a.sendReport(); // 2000 ms after the event began, 2100 ms after audio timestamp 8000
  await until(() => reports.length === 1, 'SR');
  const rtpTimestamp = reports[0]!.readUInt32BE(16);
  assert.equal(rtpTimestamp, 8000 + 2100 * 8);
});

test('an SR while RTP went out since the second previous report, then RRs (RFC 3550 §6.4)', async () => {
  const clock = new FakeClock();
  const { session: a, peer } = await sessionToPeer(clock);
  const types: number[] = [];
  peer.on('message', (msg) => {
    if (msg[1]! >= 200 && msg[1]! <= 204) types.push(msg[1]!);
  });
  const report = async () => {
    clock.advance(5000);
    a.sendReport();
    await until(() => types.length === a.stats().rtcpSent, 'report');
  };
  await report(); // nothing sent yet
  a.send(new Uint8Array(160), { payloadType: 0, timestamp: 0 });
  await report(); // media in this interval
  await report(); // none in this one, but since the second previous report
  await report(); // none in two intervals
  await report();
  a.send(new Uint8Array(160), { payloadType: 0, timestamp: 160 });
  await report();
  assert.deepEqual(types, [201, 200, 200, 201, 201, 200]);
});
