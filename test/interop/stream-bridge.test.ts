/**
 * Paced playout over the real path: a Twilio-protocol bot on a
 * real WebSocket sends audio faster than real time; the gateway's bridge (StreamConnection,
 * CallBridge, MediaLeg on the shared MediaClock) plays it to a real UDP "caller" that
 * timestamps every RTP packet. Checks: packets every 20 ms (p99 deviation), no gaps, no
 * drops, no duplicated audio (sample-exact), marks echoed within 40 ms of their audio,
 * `clear` silencing the leg within one frame with every pending mark returned at once, and a
 * bot streaming in real time heard on time again after the loop stalled.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type WebSocket, WebSocketServer } from 'ws';
import { openLoopbackPcmuLeg } from '../../bench/lib/loopback-leg.js';
import { attachBot } from '../../src/gateway/bridge.js';
import { decodeMulaw, encodeMulaw } from '../../src/media/g711.js';
import { MediaClock } from '../../src/media/media-clock.js';
import { PortAllocator } from '../../src/media/rtp/index.js';
import { TwilioDialect } from '../../src/stream/index.js';
import { SystemClock, silentLogger } from '../../src/util/index.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { captureUdp } from './helpers/tshark.js';

const skip = skipUnlessPresent(commandAvailable('tshark', ['-v']), 'needs tshark');

const FRAME = 160;

interface Arrival {
  atMs: number;
  seq: number;
  payload: Buffer;
}

/** µ-law frames whose content identifies their index (a ramp of distinct tones), never silence. */
function numberedFrames(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, index) => {
    const pcm = new Int16Array(FRAME);
    const frequency = 300 + (index % 50) * 40;
    for (let i = 0; i < FRAME; i++)
      pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * frequency * i) / 8000) + (index % 7) * 300);
    return encodeMulaw(pcm);
  });
}

interface HarnessOptions {
  tshark?: { fields: string[]; options?: string[] };
  /** Share one media clock between calls, as the gateway does. */
  mediaClock?: MediaClock;
  maxBufferedBytes?: number;
}

async function harness(options: HarnessOptions = {}) {
  const tshark = options.tshark ?? { fields: ['frame.time_epoch', 'rtp.seq'] };
  const clock = new SystemClock();
  // Lead 2 ms as the gateway's default rtp.pacingLeadMs.
  const mediaClock = options.mediaClock ?? new MediaClock(clock, 20, undefined, 2);
  // Below Linux's ephemeral range (32768+), where the caller's and tshark's sockets land.
  const base = 20000 + 2 * Math.floor(Math.random() * 5000);
  const caller = createSocket('udp4');
  await new Promise<void>((resolve) => caller.bind(0, '127.0.0.1', resolve));
  const capture = captureUdp((caller.address() as AddressInfo).port, tshark.fields, tshark.options);
  await capture.ready;
  const arrivals: Arrival[] = [];
  caller.on('message', (data) => {
    if (data.length < 12 || ((data[1] ?? 0) & 0x7f) !== 0) return;
    arrivals.push({ atMs: performance.now(), seq: data.readUInt16BE(2), payload: data.subarray(12) });
  });
  const leg = await openLoopbackPcmuLeg({
    portAllocator: new PortAllocator(base, base + 20),
    clock,
    mediaClock,
    remotePort: (caller.address() as AddressInfo).port,
    telephoneEventPayloadType: 101,
  });
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const botSocket = new Promise<{
    socket: WebSocket;
    streamSid: string;
    marks: Array<{ name: string; atMs: number }>;
  }>((resolve) => {
    server.on('connection', (socket) => {
      const marks: Array<{ name: string; atMs: number }> = [];
      socket.on('message', (data) => {
        const message = JSON.parse(data.toString()) as {
          event: string;
          start?: { streamSid: string };
          mark?: { name: string };
        };
        if (message.event === 'start') resolve({ socket, streamSid: message.start?.streamSid ?? '', marks });
        if (message.event === 'mark') marks.push({ name: message.mark?.name ?? '', atMs: performance.now() });
      });
    });
  });
  const { connection, bridge } = attachBot(leg, {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    dialect: new TwilioDialect(),
    call: { callSid: 'CA1', accountSid: 'AC1', customParameters: {} },
    clock,
    logger: silentLogger,
    ...(options.maxBufferedBytes === undefined ? {} : { maxBufferedBytes: options.maxBufferedBytes }),
    onClosed: (reason) => closedReasons.push(reason),
  });
  const closedReasons: string[] = [];
  if (!mediaClock.running) mediaClock.start();
  await connection.connect();
  const bot = await botSocket;
  const send = (event: Record<string, unknown>): void =>
    bot.socket.send(JSON.stringify({ ...event, streamSid: bot.streamSid }));
  return {
    arrivals,
    capture,
    bot,
    send,
    connection,
    bridge,
    closedReasons,
    close: async () => {
      await capture.stop();
      connection.close('done');
      if (!options.mediaClock) mediaClock.stop();
      leg.close();
      caller.close();
      for (const client of server.clients) client.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const BARE_PACER = join(import.meta.dirname, '../../bench/lib/bare-pacer.js');

/**
 * Starts the pacing floor (helpers/bare-pacer.ts) in its own process, captured by tshark like
 * the bridge; `deviations()` waits for it to finish and returns its slot errors in ms.
 */
async function startFloor(packets: number): Promise<{ deviations(): Promise<number[]> }> {
  const sink = createSocket('udp4');
  await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
  const port = (sink.address() as AddressInfo).port;
  const capture = captureUdp(port, ['frame.time_epoch']);
  await capture.ready;
  await delay(500);
  const pacer = spawn(process.execPath, [BARE_PACER, String(port), String(packets)], { stdio: 'ignore' });
  const exited = once(pacer, 'exit');
  return {
    deviations: async () => {
      await exited;
      const wire = (await capture.stop()).map(([epoch]) => Number(epoch) * 1000);
      sink.close();
      return slotErrors(wire);
    },
  };
}

/** |gap − 20 ms| between consecutive packet times. */
function slotErrors(timesMs: number[]): number[] {
  return timesMs.slice(1).map((atMs, i) => Math.abs(atMs - (timesMs[i] ?? 0) - 20));
}

function isSilence(payload: Buffer): boolean {
  const pcm = decodeMulaw(payload);
  return pcm.every((sample) => Math.abs(sample) < 64);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

for (const speed of [2, 10]) {
  test(`bot audio sent at ${speed}x real time plays at real time: every 20 ms, sample-exact, mark within 40 ms`, {
    skip,
    timeout: 30_000,
  }, async (t) => {
    const h = await harness();
    try {
      const frames = numberedFrames(500); // 10 s
      const floor = await startFloor(550);
      const chunk = 5; // 100 ms per message, sent every 100/speed ms
      for (let index = 0; index < frames.length; index += chunk) {
        const payload = Buffer.concat(frames.slice(index, index + chunk)).toString('base64');
        h.send({ event: 'media', media: { payload } });
        await delay(100 / speed);
      }
      h.send({ event: 'mark', mark: { name: 'end' } });
      await delay(10_500 - (1000 * 10) / speed + 500);
      const sounding = h.arrivals.filter((arrival) => !isSilence(arrival.payload));
      // After the last frame Playout fades the last sample to zero (2 ms): that frame is no audio.
      const fadeTail = sounding[frames.length];
      if (fadeTail) assert.ok(isSilence(fadeTail.payload.subarray(16)), 'only a 2 ms fade follows the audio');
      const audio = sounding.slice(0, frames.length);
      assert.equal(sounding.length - (fadeTail ? 1 : 0), frames.length, 'every frame played once');
      // The first and last frames carry Playout's anti-click fades; everything between is exact.
      const inner = (list: Uint8Array[]): Buffer => Buffer.concat(list.slice(1, -1));
      assert.ok(
        inner(audio.map((arrival) => arrival.payload)).equals(inner(frames)),
        'the audio is sample-exact, in order',
      );
      const first = h.arrivals.indexOf(audio[0] as Arrival);
      const window = h.arrivals.slice(first, first + frames.length);
      for (let i = 1; i < window.length; i++) {
        assert.equal(
          ((window[i]?.seq ?? 0) - (window[i - 1]?.seq ?? 0) + 65536) % 65536,
          1,
          'no sequence gap',
        );
      }
      // Slot timing from the kernel's capture timestamps, so this process's own event loop (the
      // bot and the receiving socket share it) does not add to what the wire shows.
      const rows = await h.capture.stop();
      const wireMs = new Map(rows.map(([epoch, seq]) => [Number(seq), Number(epoch) * 1000] as const));
      const wire = window.map((arrival) => wireMs.get(arrival.seq));
      assert.ok(
        wire.every((atMs) => atMs !== undefined),
        `tshark missed ${wire.filter((atMs) => atMs === undefined).length} of ${wire.length} packets (first missing at ${wire.indexOf(undefined)}; it saw ${wireMs.size})`,
      );
      const deviations = slotErrors(wire.map((atMs) => atMs ?? 0));
      const floorDeviations = await floor.deviations();
      const p99 = percentile(deviations, 99);
      const mark = h.bot.marks.find((entry) => entry.name === 'end');
      assert.ok(mark, 'the mark came back');
      const lastAudioAt = audio.at(-1)?.atMs ?? 0;
      const markLagMs = mark.atMs - lastAudioAt;
      t.diagnostic(
        `speed ${speed}x: inter-packet deviation p50 ${percentile(deviations, 50).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${Math.max(...deviations).toFixed(2)} ms (bare pacer in the same run: p50 ${percentile(floorDeviations, 50).toFixed(2)}, p99 ${percentile(floorDeviations, 99).toFixed(2)}, max ${Math.max(...floorDeviations).toFixed(2)} ms); mark ${markLagMs.toFixed(1)} ms after the last audio packet`,
      );
      // On an idle machine the p99 deviation stays under 2 ms (bench/RESULTS.md has the figures).
      // Here the test guards against the bridge pacing worse than the machine allows: its p99 is
      // judged against the bare pacer's in the same window, with 15 ms as the floor of the bound.
      const limitMs = Math.max(15, 2 * percentile(floorDeviations, 99) + 2);
      assert.ok(p99 < limitMs, `p99 deviation ${p99.toFixed(2)} ms (limit ${limitMs.toFixed(1)} ms)`);
      // Both times are taken in this process, whose event loop may take the UDP packet after the
      // WebSocket message when the machine stalls: a few ms of apparent lead are measurement.
      assert.ok(markLagMs >= -5 && markLagMs < 40, `mark ${markLagMs.toFixed(1)} ms after its audio`);
    } finally {
      await h.close();
    }
  });
}

test('a bot streaming in real time is heard on time again after a 1.5 s stall: pauses trimmed, words intact', {
  timeout: 40_000,
}, async (t) => {
  const h = await harness();
  let sender: NodeJS.Timeout | undefined;
  try {
    // 300 ms of speech, 200 ms of digital silence, for 18 s, sent as a real-time bot does:
    // every 20 ms, what is due by then (after a stall, all it owes at once, as TCP delivers).
    const tones = numberedFrames(900);
    const silence = encodeMulaw(new Int16Array(FRAME));
    const frames = tones.map((tone, i) => (i % 25 < 15 ? tone : silence));
    const startedAt = performance.now();
    let sent = 0;
    sender = setInterval(() => {
      const due = Math.min(frames.length, Math.floor((performance.now() - startedAt) / 20));
      if (due > sent) {
        h.send({
          event: 'media',
          media: { payload: Buffer.concat(frames.slice(sent, due)).toString('base64') },
        });
        sent = due;
      }
      if (sent === frames.length) clearInterval(sender);
    }, 20);
    await delay(3000);
    // The stall: the loop is held 1.5 s; the media clock skips the ticks beyond 1 s behind.
    const stallEnd = performance.now() + 1500;
    while (performance.now() < stallEnd) {
      // held
    }
    // The queued bot audio, every 100 ms while the bot streams.
    const depthMs: number[] = [];
    while (sent < frames.length) {
      await delay(100);
      depthMs.push((h.bridge.stats().queuedSamples / 8000) * 1000);
    }
    await delay(1000);
    const stats = h.bridge.stats();
    const peakMs = Math.max(...depthMs);
    const finalMs = Math.min(...depthMs.slice(-20));
    t.diagnostic(
      `after the stall: bot audio standing ${peakMs.toFixed(0)} ms at most, ${finalMs.toFixed(0)} ms at least in the stream's last 2 s; ${stats.trimmedFrames} silent frames trimmed, ${stats.underrunFrames} underruns`,
    );
    assert.ok(peakMs >= 400, `the stall left ${peakMs.toFixed(0)} ms standing`);
    assert.ok(finalMs <= 160, `${finalMs.toFixed(0)} ms still standing at the end`);
    assert.ok(stats.trimmedFrames > 0);
    // Every word reached the caller, in order and exact. Past its first 2 ms: a frame after an
    // underrun fades in, and an underrun frame fades out of the last sample before it.
    const spoken = frames.filter((frame) => frame !== silence);
    const heard = h.arrivals.filter((arrival) => !isSilence(arrival.payload.subarray(16)));
    assert.equal(heard.length, spoken.length, 'every speech frame played once');
    assert.ok(
      heard.every((arrival, i) =>
        arrival.payload.subarray(16).equals(Buffer.from(spoken[i] ?? []).subarray(16)),
      ),
      'speech sample-exact, in order',
    );
  } finally {
    clearInterval(sender);
    await h.close();
  }
});

test('clear stops bot audio within one frame and returns every pending mark at once', {
  timeout: 30_000,
}, async (t) => {
  const h = await harness();
  try {
    const frames = numberedFrames(500);
    // 10 s of audio at once, with a mark after every second of it.
    for (let second = 0; second < 10; second++) {
      const payload = Buffer.concat(frames.slice(second * 50, second * 50 + 50)).toString('base64');
      h.send({ event: 'media', media: { payload } });
      h.send({ event: 'mark', mark: { name: `s${second + 1}` } });
    }
    await delay(2500);
    const clearSentAt = performance.now();
    h.send({ event: 'clear' });
    await delay(500);
    const marks = h.bot.marks;
    const early = marks.filter((mark) => mark.atMs < clearSentAt).map((mark) => mark.name);
    const afterClear = marks.filter((mark) => mark.atMs >= clearSentAt);
    // A mark comes back once its second of audio has been played: judge the early ones by the
    // audio the caller actually received, not by how late a loaded machine started playing.
    const audio = h.arrivals.filter((arrival) => !isSilence(arrival.payload));
    const playedBeforeClear = audio.filter((arrival) => arrival.atMs < clearSentAt).length;
    const secondsPlayed = Math.floor(playedBeforeClear / 50);
    assert.ok(secondsPlayed >= 1, `only ${playedBeforeClear} frames played in 2.5 s`);
    const names = (from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => `s${from + i}`);
    assert.ok(
      Math.abs(early.length - secondsPlayed) <= 1,
      `${early.length} marks back before clear for ${playedBeforeClear} frames played`,
    );
    assert.deepEqual(early, names(1, early.length), 'marks for audio already played came back in order');
    assert.deepEqual(
      afterClear.map((mark) => mark.name),
      names(early.length + 1, 10),
      'every pending mark came back after clear, in order',
    );
    const spread = (afterClear.at(-1)?.atMs ?? 0) - (afterClear[0]?.atMs ?? 0);
    const clearLatency = (afterClear[0]?.atMs ?? 0) - clearSentAt;
    const audioAfterClear = audio.filter((arrival) => arrival.atMs >= clearSentAt);
    const audioAfterClearMs = (audioAfterClear.at(-1)?.atMs ?? clearSentAt) - clearSentAt;
    t.diagnostic(
      `clear: pending marks back ${clearLatency.toFixed(1)} ms after clear was sent, spread ${spread.toFixed(2)} ms; ${audioAfterClear.length} bot audio packets after clear, the last ${audioAfterClearMs.toFixed(1)} ms after`,
    );
    // One turn answers them all; within a frame even when the machine is loaded.
    assert.ok(spread < 20, `pending marks spread over ${spread.toFixed(1)} ms`);
    // At most the tick the clock ran before the socket read the clear (missed ticks are skipped,
    // never caught up), then the next frame's 2 ms fade to zero: never a run of stale audio.
    assert.ok(audioAfterClear.length <= 2, `${audioAfterClear.length} bot audio packets after clear`);
  } finally {
    await h.close();
  }
});

test('a bot DTMF command becomes RFC 4733 events that tshark decodes as the same digits', {
  skip,
  timeout: 30_000,
}, async () => {
  const h = await harness({
    tshark: {
      fields: ['rtpevent.event_id', 'rtpevent.end_of_event', 'rtp.timestamp'],
      options: ['-o', 'rtpevent.event_payload_type_value:101'],
    },
  });
  try {
    h.send({ event: 'patchbay', command: 'dtmf', digits: '19*#' });
    await delay(2500);
    const events = (await h.capture.stop()).filter(([id]) => id !== undefined && id !== '');
    // One digit per distinct event timestamp, once each, in order (end packets are sent 3 times).
    const digits = new Map<string, string>();
    for (const [id, , timestamp] of events)
      if (timestamp && !digits.has(timestamp)) digits.set(timestamp, id ?? '');
    const names = [...digits.values()].map((id) => '0123456789*#ABCD'[Number(id)]);
    assert.deepEqual(names, ['1', '9', '*', '#']);
    assert.ok(
      events.some(([, end]) => end === '1'),
      'events carry the end bit',
    );
  } finally {
    await h.close();
  }
});

/**
 * Bad bot input, four calls on one shared media clock:
 * - junk: invalid JSON, unknown events, a wrong streamSid and a binary frame are each ignored
 *   and counted (`invalidMessages`), and the call goes on;
 * - oversized: a message over 1 MiB makes `ws` close that bot's socket (1009); the call then
 *   follows its reconnect policy (here: hang up) and nothing else is touched;
 * - stalled: a bot that stops reading holds up nothing (its queue is bounded, drop-oldest);
 * - the good call beside them plays its bot audio sample-exact throughout.
 */
test('bad bot input never disturbs the process or the other calls', { skip, timeout: 30_000 }, async () => {
  const mediaClock = new MediaClock(new SystemClock(), 20, undefined, 2);
  const good = await harness({ mediaClock });
  const junk = await harness({ mediaClock });
  const oversized = await harness({ mediaClock });
  const stalled = await harness({ mediaClock, maxBufferedBytes: 2048 });
  try {
    const frames = numberedFrames(150);
    good.send({ event: 'media', media: { payload: Buffer.concat(frames).toString('base64') } });
    junk.bot.socket.send('{not json');
    junk.bot.socket.send(JSON.stringify({ event: 'dance', streamSid: junk.bot.streamSid }));
    junk.bot.socket.send(
      JSON.stringify({ event: 'media', streamSid: 'MZwrong', media: { payload: 'AAAA' } }),
    );
    junk.bot.socket.send(Buffer.from([1, 2, 3]));
    junk.send({ event: 'mark', mark: { name: 'still-alive' } });
    oversized.bot.socket.send(`{"event":"media","pad":"${'x'.repeat(2 << 20)}"}`);
    (stalled.bot.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    await delay(4000);

    const sounding = good.arrivals
      .filter((arrival) => !isSilence(arrival.payload))
      .slice(1, frames.length - 1);
    assert.ok(
      Buffer.concat(sounding.map((a) => a.payload)).equals(Buffer.concat(frames.slice(1, -1))),
      'good call exact',
    );
    assert.equal(junk.connection.stats.invalidMessages, 4);
    assert.ok(
      junk.bot.marks.some((mark) => mark.name === 'still-alive'),
      'the junk call still answers marks',
    );
    assert.deepEqual(junk.closedReasons, []);
    assert.equal(oversized.closedReasons.length, 1, 'the oversized stream ended its own call');
    assert.match(oversized.closedReasons[0] ?? '', /1009|over 1048576 bytes/);
    // A few seconds of a stalled reader fit in the kernel's loopback socket buffers (MBs), so
    // the drop-oldest path itself is unit-tested in test/stream; here the point is that nothing
    // else is held up and the call stays up.
    assert.deepEqual(stalled.closedReasons, []);
    assert.equal(mediaClock.stats().ticksSkipped, 0, 'the media clock never fell behind');
  } finally {
    for (const h of [good, junk, oversized, stalled]) await h.close();
    mediaClock.stop();
  }
});
