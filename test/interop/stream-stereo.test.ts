/**
 * Stereo over the real path: a caller sends 440 Hz PCMU RTP to a
 * MediaLeg while the bot, on a real WebSocket in the `stereo` dialect, sends 1 kHz L16; the
 * bot's binary frames must carry 440 Hz on the left and 1 kHz on the right, at 8 and 16 kHz.
 * Each frame holds both channels of one media-clock tick, so they are aligned by construction;
 * the test checks the onsets fall within one 20 ms frame of when each source began.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocketServer } from 'ws';
import { attachBot } from '../../src/gateway/bridge.js';
import { encodeMulaw } from '../../src/media/g711.js';
import { MediaClock } from '../../src/media/media-clock.js';
import { MediaLeg } from '../../src/media/media-leg.js';
import { PortAllocator } from '../../src/media/rtp/index.js';
import { decodeL16, encodeL16, StereoDialect } from '../../src/stream/index.js';
import { SystemClock, silentLogger } from '../../src/util/index.js';
import { sine, tonePower } from '../helpers/audio.js';

for (const rate of [8000, 16000] as const) {
  test(`stereo at ${rate} Hz: caller 440 Hz on the left, bot 1 kHz on the right`, {
    timeout: 20_000,
  }, async () => {
    const clock = new SystemClock();
    const mediaClock = new MediaClock(clock);
    const base = 36000 + 2 * Math.floor(Math.random() * 2000);
    const leg = await MediaLeg.open({
      portAllocator: new PortAllocator(base, base + 10),
      bindAddress: '127.0.0.1',
      clock,
      mediaClock,
      bridgeRate: rate,
    });
    const caller = createSocket('udp4');
    await new Promise<void>((resolve) => caller.bind(0, '127.0.0.1', resolve));
    await leg.start({
      remoteAddress: '127.0.0.1',
      remotePort: (caller.address() as AddressInfo).port,
      rtcpMux: false,
      codec: { payloadType: 0, name: 'PCMU', clockRate: 8000, channels: 1 },
    });
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const frames: Int16Array[] = [];
    let metadata: Record<string, unknown> | undefined;
    server.on('connection', (socket) => {
      socket.on('message', (data, isBinary) => {
        if (!isBinary) {
          metadata ??= JSON.parse(data.toString()) as Record<string, unknown>;
          return;
        }
        const pcm = decodeL16(new Uint8Array(data as Buffer));
        if (pcm) frames.push(pcm);
        if (frames.length === 25) socket.send(encodeL16(sine(1000, rate, rate * 2, 8000)));
      });
    });
    const { connection } = attachBot(leg, {
      url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
      dialect: new StereoDialect(rate),
      call: { callSid: 'CA1', accountSid: 'AC1', customParameters: {} },
      clock,
      logger: silentLogger,
      onClosed: () => undefined,
    });
    mediaClock.start();
    await connection.connect();
    const sender = createSocket('udp4');
    const tone = encodeMulaw(sine(440, 8000, 8000 * 3, 8000));
    try {
      // Caller: 3 s of 440 Hz from 0.2 s; the bot answers with 2 s of 1 kHz from frame 25 (0.5 s).
      await delay(200);
      for (let index = 0; index < 150; index++) {
        const packet = Buffer.alloc(172);
        packet[0] = 0x80;
        packet.writeUInt16BE(index, 2);
        packet.writeUInt32BE(index * 160, 4);
        packet.writeUInt32BE(0x1234, 8);
        packet.set(tone.subarray(index * 160, index * 160 + 160), 12);
        sender.send(packet, leg.localPort, '127.0.0.1');
        await delay(20);
      }
      await delay(300);
      assert.equal(metadata?.['mixType'], 'stereo');
      assert.equal(metadata?.['sampleRate'], rate);
      const samples = (rate * 20) / 1000;
      const left = new Int16Array(frames.length * samples);
      const right = new Int16Array(frames.length * samples);
      frames.forEach((frame, f) => {
        for (let i = 0; i < samples; i++) {
          left[f * samples + i] = frame[2 * i] ?? 0;
          right[f * samples + i] = frame[2 * i + 1] ?? 0;
        }
      });
      // The second second, when both sources play.
      const from = rate;
      const to = 2 * rate;
      const l = left.subarray(from, to);
      const r = right.subarray(from, to);
      assert.ok(tonePower(l, rate, 440) > 100 * tonePower(l, rate, 1000), 'left is the caller');
      assert.ok(tonePower(r, rate, 1000) > 100 * tonePower(r, rate, 440), 'right is the bot');
      // Onsets: the bot's first non-silent right sample lies in the frame after frame 25.
      const firstRight = frames.findIndex((frame) =>
        frame.some((sample, i) => i % 2 === 1 && Math.abs(sample) > 500),
      );
      assert.ok(firstRight >= 25 && firstRight <= 27, `bot audio starts in frame ${firstRight}`);
    } finally {
      sender.close();
      connection.close('done');
      mediaClock.stop();
      leg.close();
      caller.close();
      for (const client of server.clients) client.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
}
