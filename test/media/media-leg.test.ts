import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { G711Decoder, G711Encoder } from '../../src/media/g711-codec.js';
import type { JitterDelayBounds } from '../../src/media/jitter/index.js';
import { MediaClock } from '../../src/media/media-clock.js';
import { MediaLeg, type NegotiatedMedia } from '../../src/media/media-leg.js';
import { PortAllocator, type ReceivedRtp, RtpSession } from '../../src/media/rtp/index.js';
import { FakeClock } from '../../src/util/clock.js';
import { SecretBytes, srtpMasterBytes } from '../../src/util/index.js';
import { sine, tonePower, toneShare } from '../helpers/audio.js';

const BRIDGE_RATE = 16000;

function randomRange(): PortAllocator {
  const base = 20000 + 2 * Math.floor(Math.random() * 6000); // below the ephemeral ports (32768+)
  return new PortAllocator(base, base + 40);
}

/** Waits for loopback datagrams, bounded: yields to the event loop until `done` or 200 turns. */
async function until(done: () => boolean): Promise<void> {
  for (let turn = 0; turn < 200 && !done(); turn++) await new Promise((resolve) => setImmediate(resolve));
}

async function setup(name: 'PCMU' | 'PCMA' = 'PCMU', jitterBuffer: JitterDelayBounds = {}, rtcpMux = false) {
  const clock = new FakeClock();
  const mediaClock = new MediaClock(clock);
  const portAllocator = randomRange();
  const leg = await MediaLeg.open({
    portAllocator,
    bindAddress: '127.0.0.1',
    clock,
    mediaClock,
    bridgeRate: BRIDGE_RATE,
    jitterBuffer,
  });
  const peer = await RtpSession.open({ portRange: randomRange(), bindAddress: '127.0.0.1', clock, rtcpMux });
  peer.setRemote('127.0.0.1', leg.localPort);
  const received: ReceivedRtp[] = [];
  peer.on('packet', (packet) => received.push(packet));
  const media = (codec: 'PCMU' | 'PCMA', direction?: NegotiatedMedia['direction']): NegotiatedMedia => ({
    remoteAddress: '127.0.0.1',
    remotePort: peer.localPort,
    rtcpMux,
    remoteRtcpPort: peer.localRtcpPort,
    codec: { payloadType: codec === 'PCMU' ? 0 : 8, name: codec, clockRate: 8000, channels: 1 },
    telephoneEvent: { payloadType: 101, clockRate: 8000 },
    ...(direction ? { direction } : {}),
  });
  await leg.start(media(name));
  return { clock, mediaClock, portAllocator, leg, peer, received, media };
}

test('rtcp-mux negotiated: the leg sends its RTCP to the RTP port and reads the muxed RTCP there (RFC 5761 §5.1.3)', async () => {
  // The leg binds port+1 before the offer is read; with rtcp-mux settled it must not use it.
  const { clock, leg, peer } = await setup('PCMU', {}, true);
  try {
    clock.advance(8000); // past each side's randomized report interval (5 s x 0.5-1.5)
    await until(() => peer.stats().rtcpReceived > 0 && (leg.stats().rtp?.rtcpReceived ?? 0) > 0);
    assert.ok(peer.stats().rtcpReceived > 0, 'the caller got our RTCP on its RTP port');
    assert.ok((leg.stats().rtp?.rtcpReceived ?? 0) > 0, "we read the caller's muxed RTCP");
    assert.equal(leg.stats().rtp?.malformed, 0, 'muxed RTCP is not taken for bad RTP');
  } finally {
    leg.close();
    peer.close();
  }
});

test('PCMU both ways: caller 440 Hz reaches the bot, bot 1 kHz reaches the caller with contiguous RTP', async () => {
  const { clock, mediaClock, leg, peer, received } = await setup();
  try {
    const callerFrames: Int16Array[] = [];
    leg.on('callerAudio', (pcm) => callerFrames.push(pcm.slice()));
    let botPhase = 0;
    leg.attachBotAudio(() => {
      const frame = sine(1000, BRIDGE_RATE, 320, 8000, botPhase);
      botPhase += (2 * Math.PI * 1000 * 320) / BRIDGE_RATE;
      return frame;
    });
    const encoder = new G711Encoder('PCMU');
    const tone = sine(440, 8000, 160 * 50);
    for (let i = 0; i < 50; i++) {
      const sentBefore = leg.stats().rtp?.packetsReceived ?? 0;
      peer.send(encoder.encode(tone.subarray(i * 160, (i + 1) * 160)), {
        payloadType: 0,
        timestamp: i * 160,
      });
      await until(() => (leg.stats().rtp?.packetsReceived ?? 0) > sentBefore);
      clock.advance(20);
      mediaClock.tick(clock.now());
    }
    await until(() => received.length >= 50);

    const late = callerFrames.slice(-20);
    const joined = new Int16Array(late.length * 320);
    for (const [i, frame] of late.entries()) joined.set(frame, i * 320);
    assert.equal(late[0]?.length, 320);
    assert.ok(tonePower(joined, BRIDGE_RATE, 440) > 100 * tonePower(joined, BRIDGE_RATE, 1000));

    assert.equal(received.length, 50);
    assert.equal(received[0]?.marker, true);
    const decoder = new G711Decoder('PCMU');
    for (let i = 1; i < received.length; i++) {
      assert.equal(received[i]!.sequenceNumber, (received[i - 1]!.sequenceNumber + 1) & 0xffff);
      assert.equal(received[i]!.timestamp, (received[i - 1]!.timestamp + 160) >>> 0);
      assert.equal(received[i]!.marker, false);
    }
    const sent = decoder.decode(received[30]!.payload);
    assert.ok(tonePower(sent, 8000, 1000) > 100 * tonePower(sent, 8000, 440));
  } finally {
    leg.close();
    peer.close();
  }
});

test("the trunk's jitter buffer floor holds the target delay up on a steady caller", async () => {
  /** Mean target delay in ms over what the buffer emitted, after 50 steady packets. */
  const meanTargetMs = async (jitterBuffer: JitterDelayBounds) => {
    const { clock, mediaClock, leg, peer } = await setup('PCMU', jitterBuffer);
    try {
      leg.attachBotAudio(() => new Int16Array(320));
      for (let i = 0; i < 50; i++) {
        const before = leg.stats().rtp?.packetsReceived ?? 0;
        peer.send(new Uint8Array(160).fill(0xff), { payloadType: 0, timestamp: i * 160 });
        await until(() => (leg.stats().rtp?.packetsReceived ?? 0) > before);
        clock.advance(20);
        mediaClock.tick(clock.now());
      }
      const stats = leg.stats().jitterBuffer;
      assert.ok(stats && stats.jitterBufferEmittedCount > 0);
      return (1000 * stats.jitterBufferTargetDelay) / stats.jitterBufferEmittedCount;
    } finally {
      leg.close();
      peer.close();
    }
  };
  assert.ok((await meanTargetMs({})) < 40);
  assert.ok((await meanTargetMs({ minDelayMs: 60 })) >= 60);
});

test('hold stops sending, unhold resumes with continuous timestamps; PCMU→PCMA', async () => {
  const { clock, mediaClock, leg, peer, received, media } = await setup();
  try {
    leg.attachBotAudio(() => sine(1000, BRIDGE_RATE, 320));
    const tick = async (count: number) => {
      for (let i = 0; i < count; i++) {
        clock.advance(20);
        mediaClock.tick(clock.now());
      }
    };
    await tick(3);
    await until(() => received.length >= 3);
    await leg.update(media('PCMU', 'sendonly'));
    await tick(5);
    await leg.update(media('PCMA'));
    await tick(2);
    await until(() => received.length >= 5);
    assert.equal(received.length, 5);
    assert.equal(received[3]!.timestamp, (received[2]!.timestamp + 6 * 160) >>> 0);
    assert.equal(received[3]!.marker, true);
    assert.equal(received[3]!.payloadType, 8);
    assert.equal(leg.stats().codec, 'PCMA/8000/8');
  } finally {
    leg.close();
    peer.close();
  }
});

test('Opus: jitter is measured and reported at 48 kHz (RFC 7587 §4.1): a steady 20 ms stream reads 0', async () => {
  const { clock, leg, peer, media } = await setup();
  // The caller's side reads our report blocks at Opus's clock too.
  const caller = await RtpSession.open({
    portRange: randomRange(),
    bindAddress: '127.0.0.1',
    clock,
    clockRate: 48000,
  });
  try {
    caller.setRemote('127.0.0.1', leg.localPort);
    await leg.update({
      ...media('PCMU'),
      remotePort: caller.localPort,
      remoteRtcpPort: caller.localRtcpPort,
      codec: { payloadType: 111, name: 'opus', clockRate: 48000, channels: 2 },
    });
    for (let i = 0; i < 30; i++) {
      const before = leg.stats().rtp?.packetsReceived ?? 0;
      caller.send(Uint8Array.of(0xfc, 0xff, 0xfe), { payloadType: 111, timestamp: i * 960 });
      await until(() => (leg.stats().rtp?.packetsReceived ?? 0) > before);
      clock.advance(20);
    }
    assert.equal(leg.stats().rtp?.jitterMs, 0);
    clock.advance(8000); // past the leg's randomized report interval (5 s x 0.5-1.5)
    await until(() => caller.remoteReport !== undefined);
    assert.equal(caller.remoteReport?.jitterMs, 0, 'the receiver report carries jitter 0');
  } finally {
    leg.close();
    peer.close();
    caller.close();
  }
});

test('a far end that holds the call and sends nothing is not inactive; off hold its silence counts from then', async () => {
  const { clock, leg, peer, media } = await setup();
  try {
    clock.advance(5000);
    assert.equal(leg.stats().inactiveMs, 5000, 'no RTP for 5 s');
    await leg.update(media('PCMU', 'inactive'));
    clock.advance(60_000);
    assert.equal(leg.stats().inactiveMs, 0, 'on hold (inactive): no RTP is expected');
    await leg.update(media('PCMU', 'recvonly'));
    assert.equal(leg.stats().inactiveMs, 0, 'recvonly: the far end only listens');
    await leg.update(media('PCMU', 'sendonly'));
    clock.advance(1000);
    assert.equal(leg.stats().inactiveMs, 1000, 'sending again: counted from the re-INVITE');
  } finally {
    leg.close();
    peer.close();
  }
});

for (const suite of ['AES_CM_128_HMAC_SHA1_32', 'AES_256_CM_HMAC_SHA1_80'] as const)
  test(`SRTP (${suite}) from the negotiated keys both ways; a re-INVITE re-keys, and one without keys goes plain`, async () => {
    const { clock, mediaClock, leg, peer, received, media } = await setup();
    try {
      leg.attachBotAudio(() => sine(1000, BRIDGE_RATE, 320));
      const key = () => new SecretBytes(randomBytes(srtpMasterBytes(suite)));
      const tick = async (count: number, expected: number) => {
        for (let i = 0; i < count; i++) {
          clock.advance(20);
          mediaClock.tick(clock.now());
        }
        await until(() => received.length >= expected);
      };
      const [ours, theirs, ours2] = [key(), key(), key()];
      await leg.update({ ...media('PCMU'), srtp: { suite, sendKey: ours, receiveKey: theirs } });
      peer.setSrtp({ suite, sendKey: theirs, receiveKey: ours });
      await tick(3, 3);
      peer.send(new Uint8Array(160), { payloadType: 0, timestamp: 0 });
      await until(() => (leg.stats().rtp?.packetsReceived ?? 0) === 1);
      await leg.update({ ...media('PCMU'), srtp: { suite, sendKey: ours2, receiveKey: theirs } });
      peer.setSrtp({ suite, sendKey: theirs, receiveKey: ours2 });
      await tick(3, 6);
      await leg.update(media('PCMU'));
      peer.setSrtp(undefined);
      await tick(3, 9);
      assert.equal(received.length, 9);
      assert.deepEqual(peer.stats().srtp?.dropped, { unkeyed: 0, auth: 0, replay: 0, expired: 0 });
      assert.deepEqual(leg.stats().rtp?.srtp, {
        suite,
        dropped: { unkeyed: 0, auth: 0, replay: 0, expired: 0 },
      });
    } finally {
      leg.close();
      peer.close();
    }
  });

test('sendDtmf sends RFC 4733 events for each digit', async () => {
  const { clock, mediaClock, leg, peer, received } = await setup();
  try {
    leg.attachBotAudio(() => sine(1000, BRIDGE_RATE, 320));
    leg.sendDtmf('12');
    for (let i = 0; i < 60; i++) {
      clock.advance(20);
      mediaClock.tick(clock.now());
    }
    await until(() => received.some((packet) => packet.payloadType === 0));
    await until(() => false);
    const events = received.filter((packet) => packet.payloadType === 101).map((packet) => packet.payload[0]);
    assert.ok(events.includes(1));
    assert.ok(events.includes(2));
  } finally {
    leg.close();
    peer.close();
  }
});

test('without telephone-event, sendDtmf puts the digits in the audio as Q.23 tones, in place of the bot', async () => {
  const { clock, mediaClock, leg, peer, received, media } = await setup();
  try {
    const { telephoneEvent: _, ...plain } = media('PCMU');
    await leg.update(plain);
    leg.attachBotAudio(() => sine(1000, BRIDGE_RATE, 320));
    leg.sendDtmf('5');
    for (let i = 0; i < 14; i++) {
      clock.advance(20);
      mediaClock.tick(clock.now());
    }
    await until(() => received.length >= 14);
    assert.ok(
      received.every((packet) => packet.payloadType === 0),
      'no RFC 4733 event',
    );
    const decoder = new G711Decoder('PCMU');
    const frames = received.map((packet) => decoder.decode(packet.payload).slice());
    // 100 ms of 770 + 1336 Hz, 60 ms of pause (the resampler's tail aside), then the bot's 1 kHz.
    for (const frame of frames.slice(1, 4)) {
      assert.ok(toneShare(frame, 770) > 0.2 && toneShare(frame, 1336) > 0.2);
      assert.ok(toneShare(frame, 1000) < 0.01);
    }
    assert.ok(Math.max(...frames[6]!.map(Math.abs)) < 100, 'the pause is silent');
    for (const frame of frames.slice(9)) assert.ok(toneShare(frame, 1000) > 0.4);
  } finally {
    leg.close();
    peer.close();
  }
});

test('close is idempotent, releases the port and unsubscribes from the media clock', async () => {
  const { clock, mediaClock, portAllocator, leg, peer, received } = await setup();
  peer.close();
  const before = portAllocator.available;
  leg.close();
  leg.close();
  // The port is released once the RTCP BYE has left the socket.
  await until(() => portAllocator.available > before);
  assert.ok(portAllocator.available > before);
  let pulls = 0;
  leg.attachBotAudio(() => {
    pulls++;
    return new Int16Array(320);
  });
  clock.advance(20);
  mediaClock.tick(clock.now());
  assert.equal(pulls, 0);
  assert.equal(received.length, 0);
});

test('a leg closed while its codec chain is built frees that chain and does not start', async () => {
  const { leg, peer, media, mediaClock } = await setup();
  const listening = mediaClock.listenerCount('tick');
  const switching = leg.update(media('PCMA'));
  leg.close();
  await assert.rejects(switching, /closed/);
  assert.equal(leg.stats().codec, 'none', 'no chain kept by the closed leg');
  assert.equal(mediaClock.listenerCount('tick'), listening - 1, 'off the media clock');
  peer.close();
});

test('a late bot frame goes out in its tick slot as it arrives; a slot still held at the next tick goes first', async () => {
  const { clock, mediaClock, leg, peer, received } = await setup();
  try {
    const queue: Int16Array[] = [];
    const pulls: boolean[] = [];
    leg.attachBotAudio((mayHold) => {
      pulls.push(mayHold);
      return queue.shift() ?? (mayHold ? undefined : new Int16Array(320));
    });
    const tick = () => {
      clock.advance(20);
      mediaClock.tick(clock.now());
    };
    queue.push(sine(1000, BRIDGE_RATE, 320));
    tick();
    await until(() => received.length >= 1);
    tick(); // the bot's next frame is late: the slot is held, nothing is sent
    await until(() => false);
    assert.equal(received.length, 1);
    queue.push(sine(1000, BRIDGE_RATE, 320));
    leg.botAudioReady();
    await until(() => received.length >= 2);
    assert.equal(received.length, 2, 'sent as it arrived, between ticks');
    tick(); // held again, and nothing comes before the next tick:
    tick(); // that slot goes first, as what the source has without leave to hold; this one is held
    await until(() => received.length >= 3);
    assert.equal(received.length, 3);
    leg.botAudioReady();
    await until(() => false);
    assert.equal(received.length, 3, 'a held slot waits for audio, not for any call');
    queue.push(sine(1000, BRIDGE_RATE, 320));
    leg.botAudioReady();
    await until(() => received.length >= 4);
    assert.deepEqual(pulls, [true, true, true, true, false, true, true, true]);
    assert.deepEqual(
      received.map((packet) => packet.timestamp - (received[0]?.timestamp ?? 0)),
      [0, 160, 320, 480],
      'one packet per tick slot, with its own timestamp, in order',
    );
    assert.deepEqual(
      received.map((packet) => (packet.sequenceNumber - (received[0]?.sequenceNumber ?? 0)) & 0xffff),
      [0, 1, 2, 3],
    );
    const { botHeld, botArrived } = leg.stats().lateFrames;
    assert.deepEqual(
      { botHeld, botArrived },
      { botHeld: 3, botArrived: 2 },
      'counted: three held, two filled',
    );
  } finally {
    leg.close();
    peer.close();
  }
});

test('after a stall, the ticks caught up hold their slots for the bot frames that answer them: no silence, nothing left standing', async () => {
  const { clock, mediaClock, leg, peer, received } = await setup();
  try {
    const queue: Int16Array[] = [];
    leg.attachBotAudio((mayHold) => queue.shift() ?? (mayHold ? undefined : new Int16Array(320)));
    queue.push(sine(1000, BRIDGE_RATE, 320));
    clock.advance(20);
    mediaClock.tick(clock.now());
    await until(() => received.length >= 1);
    // Caught up: three ticks back to back (their deadlines past, no time between them).
    clock.advance(60);
    for (const late of [40, 20, 0]) mediaClock.tick(clock.now() - late);
    await until(() => false);
    assert.equal(received.length, 1, 'every caught-up slot waits for its frame');
    for (let i = 0; i < 3; i++) queue.push(sine(1000, BRIDGE_RATE, 320));
    leg.botAudioReady();
    await until(() => received.length >= 4);
    assert.deepEqual(
      received.map((packet) => packet.timestamp - (received[0]?.timestamp ?? 0)),
      [0, 160, 320, 480],
    );
    assert.ok(
      received.every((packet) => packet.payload.some((byte) => byte !== 0xff && byte !== 0x7f)),
      "each slot carries the bot's audio, not silence",
    );
    assert.deepEqual(leg.stats().lateFrames.botHeld, 3);
    assert.deepEqual(leg.stats().lateFrames.botArrived, 3);
  } finally {
    leg.close();
    peer.close();
  }
});

test('a caller frame whose packet is late goes to the bot when the packet arrives, not as concealment', async () => {
  const { clock, mediaClock, leg, peer } = await setup();
  try {
    leg.attachBotAudio(() => new Int16Array(320));
    /** Per caller frame emitted, its newest packet's arrival (undefined: concealment or silence). */
    const frames: Array<number | undefined> = [];
    leg.on('callerAudio', (_pcm, arrivalMs) => frames.push(arrivalMs));
    const encoder = new G711Encoder('PCMU');
    const tone = sine(440, 8000, 160);
    let next = 0;
    const send = async () => {
      const before = leg.stats().rtp?.packetsReceived ?? 0;
      peer.send(encoder.encode(tone), { payloadType: 0, timestamp: next++ * 160 });
      await until(() => (leg.stats().rtp?.packetsReceived ?? 0) > before);
    };
    const tick = () => {
      clock.advance(20);
      mediaClock.tick(clock.now());
    };
    for (let i = 0; i < 20; i++) {
      await send();
      tick();
    }
    assert.notEqual(frames.at(-1), undefined, "playing the caller's packets");
    // The caller goes quiet: the buffered delay plays out, then a tick finds the stream late.
    let held = false;
    for (let i = 0; i < 10 && !held; i++) {
      const before = frames.length;
      tick();
      held = frames.length === before;
    }
    assert.ok(held, 'a tick with the next packet late emits nothing');
    const waiting = frames.length;
    await send();
    assert.equal(frames.length, waiting + 1, 'the frame goes as its packet arrives');
    assert.notEqual(frames.at(-1), undefined, "with the packet's audio");
    assert.equal(leg.stats().jitterBuffer?.concealmentEvents, 0);
    tick();
    tick();
    assert.equal(frames.length, waiting + 3, 'a packet that never comes is concealed, a tick late');
    assert.equal(leg.stats().jitterBuffer?.concealmentEvents, 1);
    const { callerWaited, callerArrived } = leg.stats().lateFrames;
    assert.deepEqual({ callerWaited, callerArrived }, { callerWaited: 2, callerArrived: 1 });
  } finally {
    leg.close();
    peer.close();
  }
});
