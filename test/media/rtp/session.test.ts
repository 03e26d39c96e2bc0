import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { test } from 'node:test';
import { PortAllocator } from '../../../src/media/rtp/port-allocator.js';
import { buildCompoundRtcp } from '../../../src/media/rtp/rtcp.js';
import { SendBatch } from '../../../src/media/rtp/send-batch.js';
import { RtpSession } from '../../../src/media/rtp/session.js';
import type { ReceivedRtp } from '../../../src/media/rtp/types.js';
import { FakeClock } from '../../../src/util/index.js';
import { LOOPBACK, opened, openSession, ports, rawSocket, rtpBytes, until } from './session-helpers.js';

test('port allocator: even RTP ports, bounded, released, round-robin', () => {
  const allocator = new PortAllocator(30001, 30010);
  assert.equal(allocator.capacity, 4); // 30002/3, 30004/5, 30006/7, 30008/9
  const got = [allocator.reserve(), allocator.reserve(), allocator.reserve(), allocator.reserve()];
  assert.deepEqual(got, [30002, 30004, 30006, 30008]);
  assert.equal(allocator.reserve(), undefined);
  allocator.release(30004);
  assert.equal(allocator.available, 1);
  assert.equal(allocator.reserve(), 30004);
  assert.throws(() => new PortAllocator(30000, 30000), RangeError);
  assert.throws(() => new PortAllocator(80, 30000), RangeError);
  // Skipping moves the round-robin on, around the end of the range.
  const skipping = new PortAllocator(30000, 30011); // 6 pairs: 30000 .. 30010
  assert.equal(skipping.reserve(), 30000);
  assert.equal(skipping.reserve(3), 30008); // 30002 skipped to 30008
  assert.equal(skipping.reserve(2), 30002); // past 30010 and 30000 (taken): 30002
});

test('a block of the range held by another process is jumped over: the session binds past it', async () => {
  // Below the ephemeral ports (32768+), like the other tests' ranges.
  const base = 20000 + 2 * Math.floor(Math.random() * 6000);
  const range = new PortAllocator(base, base + 399);
  // Another process holds the first 120 ports (60 pairs), where the round-robin starts. A port
  // of the block some other test holds already is held all the same.
  const held: Socket[] = [];
  try {
    for (let port = base; port < base + 120; port++) {
      const socket = createSocket('udp4');
      held.push(socket);
      await new Promise<void>((resolve) => {
        socket.once('error', () => resolve());
        socket.bind(port, LOOPBACK, () => resolve());
      });
    }
    const session = await RtpSession.open({
      portRange: range,
      bindAddress: LOOPBACK,
      clock: new FakeClock(),
    });
    opened.push(session);
    assert.ok(session.localPort >= base + 120, `bound ${session.localPort}, past the held block`);
    assert.equal(range.available, range.capacity - 1, 'the ports tried are released again');
  } finally {
    for (const socket of held) socket.close();
  }
});

test('two sessions exchange RTP over loopback with stats on both sides', async () => {
  const clock = new FakeClock();
  const a = await openSession(clock);
  const b = await openSession(clock);
  assert.equal(a.localPort % 2, 0);
  a.setRemote(LOOPBACK, b.localPort);
  b.setRemote(LOOPBACK, a.localPort);
  const received: ReceivedRtp[] = [];
  b.on('packet', (p) => received.push(p));
  for (let i = 0; i < 50; i++) {
    if (i === 20) continue; // one lost
    a.send(new Uint8Array(160).fill(i), { payloadType: 0, timestamp: 1000 + i * 160, marker: i === 0 });
  }
  await until(() => received.length === 49, '49 packets');
  assert.equal(received[0]!.marker, true);
  assert.equal(received[0]!.payloadType, 0);
  assert.equal(received[0]!.timestamp, 1000);
  assert.equal(received[1]!.sequenceNumber, (received[0]!.sequenceNumber + 1) & 0xffff);
  assert.equal(received[5]!.payload[0], 5);
  assert.equal(received[0]!.ssrc, a.ssrc);
  const bStats = b.stats();
  assert.equal(bStats.packetsReceived, 49);
  assert.equal(bStats.bytesReceived, 49 * 160);
  assert.equal(bStats.remoteSsrc, a.ssrc);
  assert.equal(a.stats().packetsSent, 49);
  assert.equal(a.stats().bytesSent, 49 * 160);
  // Sequence numbers are consecutive on the wire: the skipped send is not a gap.
  assert.equal(bStats.packetsLost, 0);
});

test('RTCP: SR then RR carry loss, jitter and LSR/DLSR, giving the RTT (RFC 3550 §6.4.1)', async () => {
  const clock = new FakeClock();
  const a = await openSession(clock, { rtcpIntervalMs: 1_000_000 });
  const b = await openSession(clock, { rtcpIntervalMs: 1_000_000 });
  a.setRemote(LOOPBACK, b.localPort);
  b.setRemote(LOOPBACK, a.localPort);
  let bReceived = 0;
  b.on('packet', () => bReceived++);
  for (let i = 0; i < 10; i++) a.send(new Uint8Array(160), { payloadType: 0, timestamp: i * 160 });
  await until(() => bReceived === 10, 'media');
  a.sendReport(); // SR: a sent media
  await until(() => b.stats().rtcpReceived === 1, 'SR at b');
  clock.advance(250); // b holds the SR for 250 ms (DLSR)
  b.sendReport(); // RR: b sent nothing
  clock.advance(40); // 40 ms "on the wire" as a sees it
  await until(() => a.stats().rtcpReceived === 1, 'RR at a');
  const stats = a.stats();
  assert.ok(stats.roundTripTimeMs !== undefined);
  assert.ok(Math.abs(stats.roundTripTimeMs - 40) < 0.1, `rtt ${stats.roundTripTimeMs}`);
  assert.deepEqual(
    { lost: stats.remoteReport?.packetsLost, fraction: stats.remoteReport?.fractionLost },
    { lost: 0, fraction: 0 },
  );
  const before = b.stats().rtcpReceived;
  a.close(); // BYE from b's current source
  await until(() => b.stats().rtcpReceived === before + 1, 'BYE at b');
  assert.equal(b.stats().remoteBye, true);
});

test('RTT only from a report block whose LSR is one of our recent sender reports (RFC 3550 §6.4.1)', async () => {
  const clock = new FakeClock();
  const b = await openSession(clock, { rtcpIntervalMs: 1_000_000 });
  const peer = await rawSocket();
  const peerPort = peer.address().port;
  b.setRemote(LOOPBACK, peerPort, peerPort);
  const rtcp: Buffer[] = [];
  peer.on('message', (msg) => {
    if (msg[1]! >= 200 && msg[1]! <= 204) rtcp.push(msg); // b's RTP comes here too
  });
  // The peer's RTP latches it as b's source, so its RTCP is accepted.
  peer.send(rtpBytes(1, 7), b.localPort, LOOPBACK);
  await until(() => b.stats().packetsReceived === 1, 'latch');
  const receiverReport = (lastSr: number, delaySinceLastSr: number) =>
    buildCompoundRtcp({
      ssrc: 7,
      cname: 'peer',
      sender: undefined,
      reportBlock: {
        ssrc: b.ssrc,
        fractionLost: 0,
        cumulativeLost: 0,
        extendedHighestSequence: 0,
        jitter: 0,
        lastSr,
        delaySinceLastSr,
      },
      bye: false,
    });
  const ourSrs: number[] = [];
  for (let i = 0; i < 2; i++) {
    b.send(new Uint8Array(160), { payloadType: 0, timestamp: i * 160 });
    b.sendReport();
    await until(() => rtcp.length === i + 1, 'our SR');
    assert.equal(rtcp[i]![1], 200);
    ourSrs.push(rtcp[i]!.readUInt32BE(10)); // the middle 32 bits of the SR's NTP time
    clock.advance(1000);
  }
  let seen = b.stats().rtcpReceived;
  const deliver = async (bytes: Uint8Array) => {
    peer.send(bytes, b.localPort + 1, LOOPBACK);
    await until(() => b.stats().rtcpReceived === seen + 1, 'RR at b');
    seen++;
  };
  // Fuzz-like LSRs that are not ours: no RTT, however large or small it would come out.
  for (const lsr of [0x12345678, (ourSrs[1]! + 1) >>> 0, 0xffffffff]) {
    await deliver(receiverReport(lsr, 0));
    assert.equal(b.stats().roundTripTimeMs, undefined, `lsr ${lsr.toString(16)}`);
  }
  // The earlier SR is still remembered: 2 s since it left, 1.5 s of it held by the peer.
  await deliver(receiverReport(ourSrs[0]!, 1.5 * 65536));
  assert.ok(Math.abs((b.stats().roundTripTimeMs ?? 0) - 500) < 0.1, `rtt ${b.stats().roundTripTimeMs}`);
});

test('periodic RTCP on the injected clock, over rtcp-mux, and BYE on close', async () => {
  const clock = new FakeClock();
  const a = await openSession(clock, { rtcpMux: true, rtcpIntervalMs: 5000 });
  const b = await openSession(clock, { rtcpMux: true, rtcpIntervalMs: 5000 });
  assert.equal(a.localRtcpPort, a.localPort);
  a.setRemote(LOOPBACK, b.localPort);
  b.setRemote(LOOPBACK, a.localPort);
  // RFC 3550 §6.2: the first report after half the interval, randomized: within [1.25 s, 3.75 s].
  clock.advance(1249);
  assert.deepEqual([a.stats().rtcpSent, b.stats().rtcpSent], [0, 0]);
  clock.advance(3750 - 1249);
  assert.deepEqual([a.stats().rtcpSent, b.stats().rtcpSent], [1, 1]);
  // Then every [2.5 s, 7.5 s]: at most 3.75 + 7.5 s in, the second has gone too.
  clock.advance(7500);
  const sentByA = a.stats().rtcpSent;
  const sentByB = b.stats().rtcpSent;
  assert.ok(sentByA >= 2 && sentByA <= 5 && sentByB >= 2 && sentByB <= 5);
  await until(
    () => b.stats().rtcpReceived === sentByA && a.stats().rtcpReceived === sentByB,
    'periodic reports',
  );
  assert.equal(b.stats().malformed, 0);
  assert.equal(b.stats().packetsReceived, 0); // RTCP was not taken for RTP
  a.close();
  a.close(); // idempotent
  assert.equal(a.closed, true);
  assert.equal(a.stats().rtcpSent, sentByA + 1); // the BYE compound
  await until(() => b.stats().rtcpReceived === sentByA + 1, 'BYE');
  // b never received media from a, so a's BYE is not about b's current source.
  assert.equal(b.stats().remoteBye, false);
  assert.throws(() => a.send(new Uint8Array(1), { payloadType: 0, timestamp: 0 }));
});

test('symmetric RTP: latch to the first source, drop foreign packets, re-latch after silence', async () => {
  const clock = new FakeClock();
  const b = await openSession(clock);
  const peer = await rawSocket();
  const intruder = await rawSocket();
  b.setRemote(LOOPBACK, 9); // what SDP said; the real peer is behind a NAT
  const atPeer: Buffer[] = [];
  const atIntruder: Buffer[] = [];
  peer.on('message', (m) => atPeer.push(m));
  intruder.on('message', (m) => atIntruder.push(m));
  let received = 0;
  b.on('packet', () => received++);
  peer.send(rtpBytes(1, 111), b.localPort, LOOPBACK);
  await until(() => received === 1, 'first packet');
  b.send(new Uint8Array(160), { payloadType: 0, timestamp: 0 });
  await until(() => atPeer.length === 1, 'reply to the latched source');
  intruder.send(rtpBytes(500, 222), b.localPort, LOOPBACK);
  await until(() => b.stats().foreignPackets === 1, 'foreign packet dropped');
  assert.equal(received, 1);
  clock.advance(1500); // latched source silent > 1 s: NAT rebinding allowed, after 3 packets in a row
  for (const seq of [501, 502]) intruder.send(rtpBytes(seq, 222), b.localPort, LOOPBACK);
  await until(() => b.stats().foreignPackets === 3, 'the first two packets of the new stream dropped');
  intruder.send(rtpBytes(503, 222), b.localPort, LOOPBACK);
  await until(() => received === 2, 're-latch');
  b.send(new Uint8Array(160), { payloadType: 0, timestamp: 160 });
  await until(() => atIntruder.length === 1, 'reply to the new source');
  assert.equal(b.stats().ssrcChanges, 1);
  assert.equal(b.stats().remoteSsrc, 222);
});

test('a silent latched source is not taken over by junk: valid RTP with a new SSRC or sequence each time', async () => {
  const clock = new FakeClock();
  const b = await openSession(clock);
  const peer = await rawSocket();
  const strangers = [await rawSocket(), await rawSocket()];
  b.setRemote(LOOPBACK, 9);
  let received = 0;
  b.on('packet', () => received++);
  peer.send(rtpBytes(1, 111), b.localPort, LOOPBACK);
  await until(() => received === 1, 'media latched');
  // As after a stall of our own event loop: the caller's next packets wait behind the junk.
  clock.advance(1500);
  for (let i = 0; i < 30; i++) {
    const sameSourceNewStream = i % 3 === 0;
    const socket = strangers[i % 2] as Socket;
    socket.send(rtpBytes(sameSourceNewStream ? 7 : 1000 + i, 0x1000 + i), b.localPort, LOOPBACK);
  }
  await until(() => b.stats().foreignPackets === 30, 'all junk dropped');
  peer.send(rtpBytes(2, 111), b.localPort, LOOPBACK);
  await until(() => received === 2, 'the caller still latched');
  assert.equal(b.stats().ssrcChanges, 0);
});

test('SSRC change resets loss state; malformed datagrams are counted and dropped', async () => {
  const clock = new FakeClock();
  const b = await openSession(clock);
  const peer = await rawSocket();
  b.setRemote(LOOPBACK, 9);
  let received = 0;
  b.on('packet', () => {
    received++;
    if (received === 1) throw new Error('listener bug');
  });
  for (const seq of [10, 11, 13]) peer.send(rtpBytes(seq, 1), b.localPort, LOOPBACK);
  await until(() => received === 3, 'first source');
  assert.equal(b.stats().packetsLost, 1);
  assert.equal(b.stats().listenerErrors, 1);
  for (const seq of [7000, 7001]) peer.send(rtpBytes(seq, 2), b.localPort, LOOPBACK);
  await until(() => received === 5, 'second source');
  assert.equal(b.stats().packetsLost, 0);
  assert.equal(b.stats().ssrcChanges, 1);
  const garbage = [
    Buffer.from('hello world'),
    Buffer.alloc(2),
    Buffer.from([0x80, 0, 0, 1, 0, 0]),
    Buffer.alloc(40),
  ];
  const truncatedCsrc = Buffer.from(rtpBytes(7002, 2)).subarray(0, 14);
  truncatedCsrc[0] = 0x8f; // claims 15 CSRCs that are not there
  for (const datagram of [...garbage, truncatedCsrc]) peer.send(datagram, b.localPort, LOOPBACK);
  await until(() => b.stats().malformed === 5, 'malformed counted');
  assert.equal(received, 5);
});

test('audio and telephone events on two SSRCs keep separate statistics; RTCP reports the audio source', async () => {
  const clock = new FakeClock();
  const b = await openSession(clock, { rtcpIntervalMs: 1_000_000 });
  b.setAudioFormat({ payloadType: 0, clockRate: 8000 });
  const peer = await rawSocket();
  const peerPort = peer.address().port;
  b.setRemote(LOOPBACK, peerPort, peerPort);
  const rtcp: Buffer[] = [];
  peer.on('message', (msg) => rtcp.push(msg));
  let received = 0;
  b.on('packet', () => received++);
  // Audio on SSRC 1 (one packet lost), events on SSRC 2, interleaved.
  const audioSeqs = [10, 11, 13, 14, 15];
  for (const [i, seq] of audioSeqs.entries()) {
    peer.send(rtpBytes(seq, 1), b.localPort, LOOPBACK);
    peer.send(rtpBytes(500 + i, 2, 4000, 101), b.localPort, LOOPBACK);
    await until(() => received === 2 * (i + 1), `pair ${i}`);
    clock.advance(20);
  }
  const stats = b.stats();
  assert.equal(stats.ssrcChanges, 0);
  assert.equal(stats.remoteSsrc, 1);
  assert.equal(stats.packetsLost, 1);
  assert.equal(stats.packetsReceived, 10);
  b.sendReport();
  await until(() => rtcp.length === 1, 'receiver report');
  const report = rtcp[0]!;
  assert.equal(report[1], 201); // RR: b sent no media
  assert.equal(report.readUInt32BE(8), 1, 'the report block is about the audio source');
  assert.equal(report.readUIntBE(13, 3), 1, 'its cumulative loss');
  // The audio source really changing is still counted.
  for (const seq of [7000, 7001]) peer.send(rtpBytes(seq, 3), b.localPort, LOOPBACK);
  await until(() => received === 12, 'new audio source');
  assert.equal(b.stats().ssrcChanges, 1);
  assert.equal(b.stats().remoteSsrc, 3);
});

test('random datagrams (seeded fuzz) never throw and are all accounted for', async () => {
  const clock = new FakeClock();
  const b = await openSession(clock, { rtcpMux: true });
  const peer = await rawSocket();
  b.setRemote(LOOPBACK, 9);
  let seed = 0x2545f491;
  const random = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 0x100000000;
  };
  const accounted = () => {
    const s = b.stats();
    return s.malformed + s.foreignPackets + s.packetsReceived + s.rtcpReceived;
  };
  // Batches small enough that the socket's receive buffer never overflows.
  const count = 300;
  for (let sent = 0; sent < count; ) {
    for (let k = 0; k < 20; k++, sent++) {
      const datagram = Buffer.alloc(Math.floor(random() * 120));
      for (let j = 0; j < datagram.length; j++) datagram[j] = Math.floor(random() * 256);
      // Bias towards version 2 so the RTP and RTCP parsers are exercised, not just the version check.
      if (datagram.length > 0 && random() < 0.8) datagram[0] = 0x80 | (datagram[0]! & 0x3f);
      if (datagram.length > 1 && random() < 0.3) datagram[1] = 200 + Math.floor(random() * 5);
      peer.send(datagram, b.localPort, LOOPBACK);
    }
    await until(() => accounted() === sent, `${sent} datagrams counted`);
  }
  assert.ok(b.stats().malformed > 0);
  assert.equal(b.closed, false);
});

/** RTCP BYE (RFC 3550 §6.6) for one SSRC: V=2, SC=1, PT=203, length 1. */
function byeBytes(ssrc: number): Buffer {
  const bye = Buffer.from([0x81, 0xcb, 0x00, 0x01, 0, 0, 0, 0]);
  bye.writeUInt32BE(ssrc, 4);
  return bye;
}

async function rawSocketAt(address: string): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  opened.push({ close: () => socket.close() });
  return socket;
}

test('RTCP is latched like RTP: a BYE from a foreign port or address is dropped and counted', async () => {
  const clock = new FakeClock();
  const b = await openSession(clock, { rtcpIntervalMs: 1_000_000 });
  const peerRtp = await rawSocket();
  const peerRtcp = await rawSocket();
  const intruder = await rawSocket(); // same address as the caller, another port
  const farIntruder = await rawSocketAt('127.0.0.2');
  b.setRemote(LOOPBACK, 9);
  let received = 0;
  b.on('packet', () => received++);
  peerRtp.send(rtpBytes(1, 111), b.localPort, LOOPBACK);
  await until(() => received === 1, 'media latched');
  // Before the caller's first RTCP: another address may not take the RTCP latch.
  farIntruder.send(byeBytes(111), b.localRtcpPort, LOOPBACK);
  await until(() => b.stats().foreignPackets === 1, 'RTCP from another address dropped');
  // The caller's RTCP (from its own port, as behind a NAT) latches, from the media's address.
  peerRtcp.send(byeBytes(999), b.localRtcpPort, LOOPBACK);
  await until(() => b.stats().rtcpReceived === 1, 'caller RTCP accepted');
  // Seconds later (RTCP comes every few seconds): a BYE naming the caller from a foreign port.
  for (let i = 2; i < 100; i++) {
    clock.advance(20);
    peerRtp.send(rtpBytes(i, 111), b.localPort, LOOPBACK);
  }
  await until(() => received === 99, 'media flowing');
  intruder.send(byeBytes(111), b.localRtcpPort, LOOPBACK);
  await until(() => b.stats().foreignPackets === 2, 'RTCP from a foreign port dropped');
  assert.equal(b.stats().remoteBye, false);
  assert.equal(b.stats().rtcpReceived, 1);
  // The caller's own BYE still counts.
  peerRtcp.send(byeBytes(111), b.localRtcpPort, LOOPBACK);
  await until(() => b.stats().remoteBye, 'caller BYE');
});

test('rtcp-mux: RTCP only from the latched RTP source itself (RFC 5761)', async () => {
  const clock = new FakeClock();
  const b = await openSession(clock, { rtcpMux: true, rtcpIntervalMs: 1_000_000 });
  const peer = await rawSocket();
  const intruder = await rawSocket();
  b.setRemote(LOOPBACK, 9);
  let received = 0;
  b.on('packet', () => received++);
  peer.send(rtpBytes(1, 111), b.localPort, LOOPBACK);
  await until(() => received === 1, 'media latched');
  clock.advance(2000); // the RTP latch alone would now let a new source take over
  intruder.send(byeBytes(111), b.localPort, LOOPBACK);
  await until(() => b.stats().foreignPackets === 1, 'foreign RTCP dropped');
  assert.equal(b.stats().remoteBye, false);
  peer.send(byeBytes(111), b.localPort, LOOPBACK);
  await until(() => b.stats().remoteBye, 'caller BYE over the RTP port');
});

test('with a send batch, RTP leaves at the end of the turn in order, and the BYE after it before the sockets close', async () => {
  const clock = new FakeClock();
  const batch = new SendBatch();
  const sender = await RtpSession.open({ portRange: ports, bindAddress: LOOPBACK, clock, sendBatch: batch });
  opened.push(sender);
  const receiver = await openSession(clock);
  const received: number[] = [];
  receiver.on('packet', (packet) => received.push(packet.sequenceNumber));
  sender.setRemote(LOOPBACK, receiver.localPort, receiver.localRtcpPort, false);
  receiver.setRemote(LOOPBACK, sender.localPort, sender.localRtcpPort, false);
  const first = sender.nextSequenceNumber;
  for (let i = 0; i < 5; i++) sender.send(new Uint8Array(160), { payloadType: 0, timestamp: i * 160 });
  assert.equal(batch.queued, 5, 'queued until the turn ends');
  await until(() => received.length === 5, 'the batched packets');
  assert.deepEqual(
    received,
    [0, 1, 2, 3, 4].map((i) => (first + i) & 0xffff),
  );
  // Packets queued when the session closes still leave, then the BYE, then the sockets close.
  for (let i = 5; i < 8; i++) sender.send(new Uint8Array(160), { payloadType: 0, timestamp: i * 160 });
  sender.close();
  await until(() => received.length === 8 && receiver.stats().remoteBye, 'the last packets and the BYE');
  assert.equal(receiver.stats().malformed, 0);
  assert.equal(sender.stats().socketErrors, 0);
});
