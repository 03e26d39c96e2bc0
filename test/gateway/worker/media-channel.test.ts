/**
 * The media worker protocol without threads: a MediaHost on one end of a MessageChannel and the
 * main thread's WorkerChannel on the other, both on a FakeClock, the leg on a real loopback
 * socket. Covers each step crossing as a message, the proxy's checks made at once, figures read
 * from the periodic report (every call's numbers, each call's full figures in its turn, fresh
 * ones on request), and a dead worker failing what it carried.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { streamTargetSchema } from '../../../src/config/index.js';
import { MediaWorkerLost } from '../../../src/gateway/ports.js';
import { type HostPort, MediaHost } from '../../../src/gateway/worker/media-host.js';
import {
  DETAIL_EVERY_REPORTS,
  REPORT_INTERVAL_MS,
  type WorkerHeap,
} from '../../../src/gateway/worker/protocol.js';
import type { RemoteMediaLeg } from '../../../src/gateway/worker/remote-leg.js';
import { type ChannelPort, WorkerChannel } from '../../../src/gateway/worker/worker-channel.js';
import {
  MediaClock,
  type MediaClockStats,
  type NegotiatedMedia,
  PortAllocator,
} from '../../../src/media/index.js';
import {
  type BinnedValues,
  FakeClock,
  RTP_TO_WEBSOCKET_BOUNDS,
  SecretBytes,
  silentLogger,
} from '../../../src/util/index.js';

const PORT_MIN = 41_000 + Math.floor(Math.random() * 500) * 4;
const NO_HOOKS = { hangup: () => undefined, transfer: () => undefined, gone: () => undefined };

let clock: FakeClock;
let ports: { port1: MessagePort; port2: MessagePort };
let host: MediaHost;
let channel: WorkerChannel;
let peer: Socket;
let reports: Array<{
  clock: MediaClockStats;
  latencies: BinnedValues | undefined;
  heap: WorkerHeap | undefined;
}>;
let reported: () => Promise<void>;

beforeEach(async () => {
  clock = new FakeClock();
  ports = new MessageChannel();
  peer = createSocket('udp4');
  await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
  host = new MediaHost({
    port: ports.port2 as unknown as HostPort,
    clock,
    logger: silentLogger,
    mediaClock: new MediaClock(clock),
    portAllocator: new PortAllocator(PORT_MIN, PORT_MIN + 9),
    bindAddress: '127.0.0.1',
    readDrops: () => new Map([[PORT_MIN, 3]]),
  });
  reports = [];
  let onReport = (): void => undefined;
  channel = new WorkerChannel(ports.port1 as unknown as ChannelPort, clock, {
    clock: (stats) => reports.push({ clock: stats, latencies: undefined, heap: undefined }),
    latencies: (binned) => {
      const last = reports.at(-1);
      if (last) last.latencies = binned;
    },
    heap: (heap) => {
      const last = reports.at(-1);
      if (last) last.heap = heap;
      onReport();
    },
  });
  reported = () =>
    new Promise<void>((resolve) => {
      onReport = resolve;
      clock.advance(REPORT_INTERVAL_MS);
    });
});

afterEach(() => {
  host.stop();
  ports.port1.close();
  peer.close();
});

/** An RTP packet from the peer: SSRC 0x1234, a frame of µ-law silence unless a payload is given. */
function rtpPacket(
  payloadType: number,
  sequenceNumber: number,
  timestamp: number,
  payload = Buffer.alloc(160, 0xff),
): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = payloadType;
  header.writeUInt16BE(sequenceNumber, 2);
  header.writeUInt32BE(timestamp, 4);
  header.writeUInt32BE(0x1234, 8);
  return Buffer.concat([header, payload]);
}

function pcmuTo(socket: Socket, telephoneEvent = true): NegotiatedMedia {
  return {
    remoteAddress: '127.0.0.1',
    remotePort: socket.address().port,
    rtcpMux: true,
    codec: { payloadType: 0, name: 'PCMU', clockRate: 8000, channels: 1 },
    ...(telephoneEvent ? { telephoneEvent: { payloadType: 101, clockRate: 8000 } } : {}),
  };
}

async function openLeg(callId = 'call-1'): Promise<RemoteMediaLeg> {
  return channel.open(callId, 8000, {
    jitterBuffer: { minDelayMs: 0, maxDelayMs: 200 },
    encryption: 'none',
  });
}

describe('media worker protocol (MessageChannel, no threads)', () => {
  it('opens the leg in the host’s port slice and starts it', async () => {
    const leg = await openLeg();
    assert.equal(leg.localPort, PORT_MIN);
    assert.equal(channel.calls, 1);
    assert.equal(leg.stats().codec, 'none', 'nothing reported yet');
    await leg.start(pcmuTo(peer));
    await reported();
    assert.equal(leg.stats().codec, 'PCMU/8000/0', 'the report carries the running codec');
    assert.ok((reports.at(-1)?.clock.ticks ?? 0) > 0, 'the host’s media clock ticks');
    // No bot: no frame latencies, and still one fixed-size set of bucket counts.
    const latencies = reports.at(-1)?.latencies;
    assert.equal(latencies?.counts.length, RTP_TO_WEBSOCKET_BOUNDS.length + 1);
    assert.deepEqual([...(latencies?.counts ?? [])], new Array(RTP_TO_WEBSOCKET_BOUNDS.length + 1).fill(0));
    assert.equal(latencies?.sum, 0);
    // The host's thread's own heap (here the test's thread: no worker).
    const heap = reports.at(-1)?.heap;
    assert.ok((heap?.usedBytes ?? 0) > 0, 'heap in use');
    assert.ok((heap?.externalBytes ?? 0) > 0, 'memory outside the heap (the leg’s buffers among it)');
    assert.ok(
      (heap?.committedBytes ?? 0) >= (heap?.usedBytes ?? 0),
      'the committed heap covers what is in use',
    );
  });

  it('carries SDES keys across (structured clone drops a SecretBytes’ private bytes)', async () => {
    const leg = await openLeg();
    const key = (fill: number) => new SecretBytes(Buffer.alloc(30, fill));
    await leg.start({
      ...pcmuTo(peer),
      srtp: { suite: 'AES_CM_128_HMAC_SHA1_80', sendKey: key(1), receiveKey: key(2) },
    });
    await reported();
    assert.equal(leg.stats().rtp?.srtp?.suite, 'AES_CM_128_HMAC_SHA1_80');
  });

  it('continues an SRTP stream from a position and reports where it stands, its rollover counter moving with a wrap', async () => {
    const continueFrom = {
      ssrc: 0x1234,
      sequenceNumber: 65_530,
      timestamp: 1000,
      srtp: { rolloverCount: 4, srtcpIndex: 9 },
    };
    const leg = await channel.open(
      'call-1',
      8000,
      { jitterBuffer: { minDelayMs: 0, maxDelayMs: 200 }, encryption: 'required' },
      continueFrom,
    );
    const key = (fill: number) => new SecretBytes(Buffer.alloc(30, fill));
    await leg.start({
      ...pcmuTo(peer),
      srtp: { suite: 'AES_CM_128_HMAC_SHA1_80', sendKey: key(1), receiveKey: key(2) },
    });
    await reported();
    const position = leg.position();
    assert.equal(position.ssrc, 0x1234);
    assert.equal(position.srtp?.rolloverCount, 4, 'no packet has wrapped the sequence yet');
    assert.equal(position.srtp?.srtcpIndex, 9);
    clock.advance(200);
    const later = leg.position();
    // Ten frames on from 65530 the sequence number has wrapped: the counter with it.
    assert.equal(later.sequenceNumber, (position.sequenceNumber + 10) & 0xffff);
    assert.equal(later.srtp?.rolloverCount, 5);
  });

  it('reports a plain leg without an SRTP position', async () => {
    const leg = await openLeg();
    await leg.start(pcmuTo(peer));
    await reported();
    assert.equal(leg.position().srtp, undefined);
  });

  it('checks DTMF as the leg would without a round trip, sends it, and rejects what the host refuses', async () => {
    const leg = await openLeg();
    await assert.rejects(leg.sendDtmf('1'), /media not started/);
    await leg.start(pcmuTo(peer));
    await assert.rejects(leg.sendDtmf('X'), RangeError);
    await assert.rejects(leg.sendDtmf('1', 0), RangeError);
    const event = new Promise<void>((resolve) =>
      peer.on('message', (packet) => {
        if ((packet[1] ?? 0) % 128 === 101) resolve();
      }),
    );
    await leg.sendDtmf('5');
    clock.advance(100);
    await event;
    // The host's queue holds 64 digits: the API hears of the ones it refused.
    await leg.sendDtmf('1'.repeat(60));
    await assert.rejects(leg.sendDtmf('2'.repeat(10)), /queue/i);
  });

  it('reads socket drops and the extrapolated position from the reports', async () => {
    const leg = await openLeg();
    await leg.start(pcmuTo(peer));
    await reported();
    assert.equal(leg.sampleSocketDrops(), 3, 'the host’s sample since the last report');
    assert.equal(leg.sampleSocketDrops(), 0, 'taken once');
    const position = leg.position();
    clock.advance(100);
    const later = leg.position();
    assert.equal(later.ssrc, position.ssrc);
    assert.equal((later.timestamp - position.timestamp) >>> 0, 800, '100 ms of 8 kHz');
    assert.equal((later.sequenceNumber - position.sequenceNumber) & 0xffff, 5, 'one packet per 20 ms');
    assert.ok(leg.stats().inactiveMs >= 100, 'inactivity keeps counting between reports');
  });

  it('keeps caller audio and the bot’s audio inside the worker', async () => {
    const leg = await openLeg();
    assert.throws(() => leg.on('callerAudio', () => undefined), /stays in the media worker/);
    assert.throws(() => leg.attachBotAudio(), /media worker/);
    leg.on('dtmf', () => undefined);
  });

  it('rejects a bot the worker cannot reach', async () => {
    const leg = await openLeg();
    const target = streamTargetSchema.parse({
      url: 'ws://127.0.0.1:1/refused',
      reconnect: { maxAttempts: 0 },
    });
    const bot = leg.connectBot(
      { callSid: 'call-1', from: 'a', to: 'b', direction: 'inbound' },
      target,
      NO_HOOKS,
    );
    await assert.rejects(bot.ready);
    assert.equal(bot.stats().framesPlayed, 0);
  });

  it('a dead worker fails its calls and their pending steps, and refuses new ones', async () => {
    const leg = await openLeg();
    const update = leg.update(pcmuTo(peer));
    channel.fail('media worker exited with code 1');
    await assert.rejects(update, MediaWorkerLost);
    assert.equal(await leg.lost, 'media worker exited with code 1');
    assert.equal(channel.calls, 0);
    await assert.rejects(openLeg(), MediaWorkerLost);
  });

  /** Three frames of audio and an RFC 4733 event end, resolved once the digit has crossed. */
  async function sendFourPackets(leg: RemoteMediaLeg): Promise<void> {
    const digit = new Promise<void>((resolve) => leg.on('dtmf', () => resolve()));
    // Once the digit crosses, the host has read every packet before it (one socket, one
    // sender, loopback keeps their order).
    for (let seq = 1; seq <= 3; seq++)
      peer.send(rtpPacket(0, seq, (seq - 1) * 160), leg.localPort, '127.0.0.1');
    const event = Buffer.from([5, 0x80 | 10, 0x03, 0x20]);
    peer.send(rtpPacket(101, 4, 480, event), leg.localPort, '127.0.0.1');
    await digit;
  }

  it('carries a call’s full figures in the first report and then in its own turn, its numbers in every report', async () => {
    const first = await openLeg();
    const second = await openLeg('call-2');
    await first.start(pcmuTo(peer));
    await second.start(pcmuTo(peer));
    await reported();
    assert.equal(first.stats().codec, 'PCMU/8000/0', 'the first report after the opening');
    assert.equal(second.stats().codec, 'PCMU/8000/0', 'for both calls');
    assert.equal(first.sampleSocketDrops() + second.sampleSocketDrops(), 3, 'numbers for both');
    await sendFourPackets(first);
    await reported();
    assert.equal(first.stats().rtp?.packetsReceived, 0, 'the second call’s turn, not the first’s');
    assert.ok(first.stats().inactiveMs <= REPORT_INTERVAL_MS, 'its RTP counted as activity at once');
    for (let report = 2; report < DETAIL_EVERY_REPORTS; report++) await reported();
    assert.equal(first.stats().rtp?.packetsReceived, 0, 'not yet');
    await reported();
    assert.equal(first.stats().rtp?.packetsReceived, 4, 'the first call’s turn again');
  });

  it('refresh asks the worker for the figures now, between the call’s turns', async () => {
    const leg = await openLeg();
    await leg.start(pcmuTo(peer));
    await reported();
    assert.equal(leg.stats().rtp?.packetsReceived, 0, 'nothing sent yet');
    await sendFourPackets(leg);
    await reported();
    assert.equal(leg.stats().rtp?.packetsReceived, 0, 'not the call’s turn');
    const position = leg.position();
    await leg.refresh();
    assert.equal(leg.stats().rtp?.packetsReceived, 4, 'every packet so far');
    assert.deepEqual(leg.position(), position, 'the position still runs from the last report');
  });

  it('the close gives the worker’s figures as they stood then, not the last report’s', async () => {
    const leg = await openLeg();
    await leg.start(pcmuTo(peer));
    await reported();
    assert.equal(leg.stats().rtp?.packetsReceived, 0, 'nothing sent yet');
    await sendFourPackets(leg);
    leg.close();
    await leg.settled();
    assert.equal(leg.stats().rtp?.packetsReceived, 4, 'every packet up to the close');
    assert.equal(channel.calls, 0);
  });

  it('a close the worker does not answer settles on the last detail', async () => {
    const leg = await openLeg();
    await leg.start(pcmuTo(peer));
    await reported();
    channel.fail('media worker exited with code 1');
    leg.close();
    await leg.settled();
    assert.equal(leg.stats().codec, 'PCMU/8000/0', 'the last detail stands');
  });

  it('a close a stuck worker does not answer is given up after a second and forgotten', async () => {
    const leg = await openLeg();
    await leg.start(pcmuTo(peer));
    await reported();
    ports.port2.removeAllListeners('message'); // alive, and answering nothing
    leg.close();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(channel.pendingRequests, 1, 'the close waits for its answer');
    clock.advance(1000);
    await leg.settled();
    assert.equal(channel.pendingRequests, 0, 'and is forgotten when it is given up');
    assert.equal(leg.stats().codec, 'PCMU/8000/0', 'the last detail stands');
  });

  it('counts legs being opened for placement, so a burst of set-ups is spread', async () => {
    const first = openLeg();
    const second = channel.open('call-2', 8000, {
      jitterBuffer: { minDelayMs: 0, maxDelayMs: 200 },
      encryption: 'none',
    });
    assert.equal(channel.placed, 2, 'both asked for, neither answered yet');
    assert.equal(channel.calls, 0, 'none carried yet');
    await Promise.all([first, second]);
    assert.equal(channel.placed, 2);
    assert.equal(channel.calls, 2);
    channel.fail('media worker exited with code 1');
    assert.equal(channel.placed, 0);
  });

  it('closing the leg releases it on both sides', async () => {
    const leg = await openLeg();
    leg.close();
    leg.close();
    assert.equal(channel.calls, 0);
    await assert.rejects(leg.start(pcmuTo(peer)), /media leg closed/);
    const again = await openLeg();
    assert.equal(again.localPort, PORT_MIN + 2, 'round-robin: the next port');
  });
});
