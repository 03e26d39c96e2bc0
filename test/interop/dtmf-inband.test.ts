/**
 * DTMF in the audio for a carrier without telephone-event, judged by a real DTMF decoder: a
 * MediaLeg on real sockets sends digits to a PCMU peer that negotiated no RFC 4733 events; the
 * RTP it sent is decoded and handed, as a WAV, to multimon-ng's DTMF demodulator, which must
 * read the same digits.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { G711Decoder } from '../../src/media/g711-codec.js';
import { MediaClock } from '../../src/media/media-clock.js';
import { MediaLeg } from '../../src/media/media-leg.js';
import { PortAllocator } from '../../src/media/rtp/port-allocator.js';
import { encodeWav } from '../../src/media/wav.js';
import { FakeClock } from '../../src/util/index.js';
import { concatPcm } from '../helpers/audio.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';

const LOOPBACK = '127.0.0.1';
const RTP_HEADER_BYTES = 12;
const skip = skipUnlessPresent(commandAvailable('multimon-ng', ['-h']), 'multimon-ng not installed');

/** multimon-ng's DTMF demodulator over a WAV file: the digits it printed, in order. */
function multimonDigits(wav: Uint8Array): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'patchbay-dtmf-'));
  const file = join(dir, 'digits.wav');
  writeFileSync(file, wav);
  return new Promise((resolve, reject) => {
    execFile(
      'multimon-ng',
      ['-q', '-c', '-a', 'DTMF', '-t', 'wav', file],
      { timeout: 30_000 },
      (error, stdout) => {
        rmSync(dir, { recursive: true, force: true });
        if (error) reject(error);
        else resolve([...stdout.matchAll(/^DTMF: (.)$/gm)].map((match) => match[1]).join(''));
      },
    );
  });
}

test('multimon-ng reads the Q.23 tones a MediaLeg sends without telephone-event', { skip }, async () => {
  const clock = new FakeClock();
  const mediaClock = new MediaClock(clock);
  const base = 44000 + 2 * Math.floor(Math.random() * 5000);
  const leg = await MediaLeg.open({
    portAllocator: new PortAllocator(base, base + 99),
    bindAddress: LOOPBACK,
    clock,
    mediaClock,
    bridgeRate: 8000,
  });
  const receiver = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => receiver.bind(0, LOOPBACK, resolve));
    const payloads: Buffer[] = [];
    receiver.on('message', (packet) => {
      if ((packet[1] ?? 0) % 128 === 0) payloads.push(packet.subarray(RTP_HEADER_BYTES));
    });
    await leg.start({
      remoteAddress: LOOPBACK,
      remotePort: receiver.address().port,
      rtcpMux: true,
      codec: { payloadType: 0, name: 'PCMU', clockRate: 8000, channels: 1 },
    });
    const digits = '159*#0D';
    leg.sendDtmf(digits);
    // 100 ms of tone and 60 ms of pause per digit: 8 frames each, then a few of silence.
    const ticks = digits.length * 8 + 5;
    for (let tick = 1; tick <= ticks; tick++) {
      clock.advanceTo(tick * 20);
      mediaClock.tick(tick * 20);
    }
    const deadline = performance.now() + 5000;
    while (payloads.length < digits.length * 8 && performance.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 2));
    assert.ok(payloads.length >= digits.length * 8, `${payloads.length} RTP packets`);
    const decoder = new G711Decoder('PCMU');
    const pcm = concatPcm(payloads.map((payload) => decoder.decode(payload).slice()));
    assert.equal(await multimonDigits(encodeWav({ sampleRate: 8000, channels: 1, samples: pcm })), digits);
  } finally {
    leg.close();
    receiver.close();
  }
});
