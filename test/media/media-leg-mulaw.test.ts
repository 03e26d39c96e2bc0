import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BridgeRate } from '../../src/media/carrier-codecs.js';
import { decodeMulaw, encodeAlaw, encodeMulaw } from '../../src/media/g711.js';
import { MediaClock } from '../../src/media/media-clock.js';
import { MediaLeg, type NegotiatedMedia } from '../../src/media/media-leg.js';
import { PortAllocator, RtpSession } from '../../src/media/rtp/index.js';
import { FakeClock } from '../../src/util/clock.js';
import { sine } from '../helpers/audio.js';

function randomRange(): PortAllocator {
  const base = 20000 + 2 * Math.floor(Math.random() * 6000); // below the ephemeral ports (32768+)
  return new PortAllocator(base, base + 40);
}

/** Waits for loopback datagrams, bounded: yields to the event loop until `done` or 200 turns. */
async function until(done: () => boolean): Promise<void> {
  for (let turn = 0; turn < 200 && !done(); turn++) await new Promise((resolve) => setImmediate(resolve));
}

/** A media leg on the media clock of a fake clock, and an RTP peer on loopback. */
async function legAndPeer(bridgeRate: BridgeRate) {
  const clock = new FakeClock();
  const mediaClock = new MediaClock(clock);
  const leg = await MediaLeg.open({
    portAllocator: randomRange(),
    bindAddress: '127.0.0.1',
    clock,
    mediaClock,
    bridgeRate,
  });
  const peer = await RtpSession.open({ portRange: randomRange(), bindAddress: '127.0.0.1', clock });
  return { clock, mediaClock, leg, peer };
}

/** The negotiated media of a G.711 call with `peer`. */
function towards(peer: RtpSession, codec: 'PCMU' | 'PCMA'): NegotiatedMedia {
  return {
    remoteAddress: '127.0.0.1',
    remotePort: peer.localPort,
    rtcpMux: false,
    codec: { payloadType: codec === 'PCMU' ? 0 : 8, name: codec, clockRate: 8000, channels: 1 },
  };
}

/**
 * A leg bridged at 8 kHz that asked for µ-law, fed `frames` 20 ms packets of a tone in `codec`
 * (all but `lost`), a tone under noise,, one per tick; what it emitted, frame by frame.
 */
async function run(
  codec: 'PCMU' | 'PCMA',
  bridgeRate: BridgeRate,
  frames: number,
  lost: ReadonlySet<number>,
) {
  const { clock, mediaClock, leg, peer } = await legAndPeer(bridgeRate);
  const emitted: Array<{ kind: 'mulaw'; bytes: Uint8Array } | { kind: 'pcm'; pcm: Int16Array }> = [];
  try {
    peer.setRemote('127.0.0.1', leg.localPort);
    leg.passCallerMulaw();
    leg.on('callerMulaw', (bytes) => emitted.push({ kind: 'mulaw', bytes: bytes.slice() }));
    leg.on('callerAudio', (pcm) => emitted.push({ kind: 'pcm', pcm: pcm.slice() }));
    await leg.start(towards(peer, codec));
    // A tone under seeded noise: no two stretches of the stream alike.
    let state = 9;
    const tone = encodeMulaw(
      sine(440, 8000, 160 * frames).map((sample) => {
        state = (state * 1103515245 + 12345) & 0x7fffffff;
        return sample + (state % 3001) - 1500;
      }),
    );
    for (let i = 0; i < frames; i++) {
      const before = leg.stats().rtp?.packetsReceived ?? 0;
      if (!lost.has(i)) {
        peer.send(tone.subarray(i * 160, (i + 1) * 160), {
          payloadType: codec === 'PCMU' ? 0 : 8,
          timestamp: i * 160,
        });
        await until(() => (leg.stats().rtp?.packetsReceived ?? 0) > before);
      }
      clock.advance(20);
      mediaClock.tick(clock.now());
    }
    return { emitted, tone };
  } finally {
    leg.close();
    peer.close();
  }
}

test("PCMU bridged at 8 kHz: frames that play as they came are the carrier's bytes 3.75 ms late; a loss is samples", async () => {
  const { emitted, tone } = await run('PCMU', 8000, 40, new Set([20]));
  const passed = emitted.flatMap((frame) => (frame.kind === 'mulaw' ? [frame.bytes] : []));
  assert.ok(passed.length >= 30, `passed ${passed.length} of ${emitted.length}`);
  assert.equal(emitted.length, 40, 'one frame per tick either way');
  // The PLC's delay line: the last frame is a packet's first 130 bytes behind the 30 before them.
  const last = emitted.at(-1);
  assert.equal(last?.kind, 'mulaw');
  const bytes = last?.kind === 'mulaw' ? last.bytes : new Uint8Array();
  const packet = [...Array(40).keys()].find(
    (n) => n > 0 && bytes.every((byte, i) => tone[n * 160 - 30 + i] === byte),
  );
  assert.ok(
    packet !== undefined && packet >= 35,
    `the last frame is not the stream 30 samples late (${packet})`,
  );
  // The concealed frame and the join after it are samples.
  const kinds = emitted.map((frame) => frame.kind);
  assert.ok(kinds.slice(18, 26).includes('pcm'), `kinds around the loss: ${kinds.slice(18, 26)}`);
});

test('PCMA, or PCMU into a 16 kHz bridge, is never passed as µ-law', async () => {
  for (const [codec, rate] of [
    ['PCMA', 8000],
    ['PCMU', 16000],
  ] as const) {
    const { emitted } = await run(codec, rate, 10, new Set());
    assert.equal(emitted.length, 10);
    assert.ok(
      emitted.every((frame) => frame.kind === 'pcm'),
      `${codec} at ${rate}`,
    );
  }
});

/**
 * A leg with `codec` towards a peer, its bot audio pulled from `frames` (one a tick): the
 * payloads the peer received, in order.
 */
async function botAudioOut(
  codec: 'PCMU' | 'PCMA',
  frames: Array<Int16Array | Uint8Array>,
): Promise<Uint8Array[]> {
  const { clock, mediaClock, leg, peer } = await legAndPeer(8000);
  const received: Uint8Array[] = [];
  try {
    peer.on('packet', (packet) => received.push(packet.payload.slice()));
    let next = 0;
    leg.attachBotAudio(() => frames[next++]);
    await leg.start(towards(peer, codec));
    for (let i = 0; i < frames.length; i++) {
      clock.advance(20);
      mediaClock.tick(clock.now());
      await until(() => received.length > i);
    }
    return received;
  } finally {
    leg.close();
    peer.close();
  }
}

test("a µ-law bot's bytes reach a PCMU caller as they are; a PCMA caller gets them transcoded; PCM is encoded", async () => {
  const mulaw = Uint8Array.from({ length: 160 }, (_, i) => (i * 53) & 0xff); // 0x7F included
  const pcm = sine(300, 8000, 160);
  const [asIs, encoded] = await botAudioOut('PCMU', [mulaw, pcm]);
  assert.deepEqual([...(asIs ?? [])], [...mulaw], 'the bot bytes, negative zero and all');
  assert.deepEqual([...(encoded ?? [])], [...encodeMulaw(pcm)]);
  const [transcoded] = await botAudioOut('PCMA', [mulaw]);
  assert.deepEqual([...(transcoded ?? [])], [...encodeAlaw(decodeMulaw(mulaw))]);
});
