/**
 * What one bot's message flood costs the process: a call plays bot audio on the shared
 * MediaClock while a second call's bot, in its own process (bench/lib/flood-bot.ts), sends
 * 10,000 invalid messages, 10,000 marks and 10,000 clears at once. Reported for a quiet window
 * and for the flood, in the same run: the longest event-loop turn in CPU time (what this
 * process itself keeps every other call waiting; the garbage collector's helper threads count
 * too) and by the smaller of its CPU and wall time, the most bot messages handled in one turn,
 * and the largest gap between the playing call's RTP packets.
 *
 *   node --import tsx bench/stream-flood.ts [rounds=3]
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type WebSocket from 'ws';
import { WebSocketServer } from 'ws';
import { attachBot } from '../src/gateway/bridge.js';
import { MediaClock } from '../src/media/media-clock.js';
import { PortAllocator } from '../src/media/rtp/index.js';
import { TwilioDialect } from '../src/stream/index.js';
import { SystemClock, silentLogger } from '../src/util/index.js';
import { openLoopbackPcmuLeg } from './lib/loopback-leg.js';

const rounds = Number(process.argv[2] ?? 3);
const FLOOD_MESSAGES = 30_000;

interface TurnWorst {
  /** CPU time of the busiest turn (the garbage collector's helper threads count too). */
  cpuMs: number;
  /**
   * The busiest turn by the smaller of its wall and CPU time: wall time counts our being
   * descheduled on a shared box, CPU time counts helper threads running beside the loop; what
   * this process itself kept the loop busy for is no more than either.
   */
  ownMs: number;
  /** The most bot messages handled in one turn. */
  messages: number;
}

/** The busiest turns of this process, checked between two passes over the immediate queue. */
function turnMonitor(handled: () => number): { worst(): TurnWorst; reset(): void; stop(): void } {
  let lastCpu = process.cpuUsage();
  let lastWall = performance.now();
  let lastHandled = handled();
  let worst: TurnWorst = { cpuMs: 0, ownMs: 0, messages: 0 };
  let running = true;
  const sample = () => {
    const spent = process.cpuUsage(lastCpu);
    const cpuMs = (spent.user + spent.system) / 1000;
    const now = performance.now();
    const count = handled();
    worst = {
      cpuMs: Math.max(worst.cpuMs, cpuMs),
      ownMs: Math.max(worst.ownMs, Math.min(cpuMs, now - lastWall)),
      messages: Math.max(worst.messages, count - lastHandled),
    };
    lastCpu = process.cpuUsage();
    lastWall = now;
    lastHandled = count;
    if (running) setImmediate(sample);
  };
  setImmediate(sample);
  return {
    worst: () => worst,
    reset: () => {
      worst = { cpuMs: 0, ownMs: 0, messages: 0 };
    },
    stop: () => {
      running = false;
    },
  };
}

function largestGapMs(times: number[], fromMs: number, toMs: number): number {
  const window = times.filter((atMs) => atMs >= fromMs && atMs < toMs);
  return Math.max(...window.slice(1).map((atMs, i) => atMs - (window[i] ?? 0)));
}

async function openLeg(clock: SystemClock, mediaClock: MediaClock, base: number) {
  const sink = createSocket('udp4');
  await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
  const leg = await openLoopbackPcmuLeg({
    portAllocator: new PortAllocator(base, base + 20),
    clock,
    mediaClock,
    remotePort: (sink.address() as AddressInfo).port,
    telephoneEventPayloadType: 101,
  });
  return { sink, leg };
}

async function round(): Promise<void> {
  const clock = new SystemClock();
  const mediaClock = new MediaClock(clock, 20, undefined, 2);
  const script = fileURLToPath(
    new URL(`./lib/flood-bot${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
  );
  const floodBot = spawn(process.execPath, [...process.execArgv, script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const botLines = createInterface({ input: floodBot.stdout });
  const nextLine = async (): Promise<string> => String((await once(botLines, 'line'))[0]);
  const floodPort = await nextLine();

  // The playing call: its bot (here, quiet) sends 8 s of tone once; its RTP arrivals are timed.
  const goodBot = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(goodBot, 'listening');
  // The bot's first messages may arrive before connect() resolves: listen from the upgrade on.
  const goodBotStream = new Promise<{ socket: WebSocket; streamSid: string }>((resolve) =>
    goodBot.once('connection', (socket) =>
      socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { event: string; streamSid: string };
        if (message.event === 'start') resolve({ socket, streamSid: message.streamSid });
      }),
    ),
  );
  const good = await openLeg(clock, mediaClock, 42000);
  const arrivals: number[] = [];
  good.sink.on('message', () => arrivals.push(performance.now()));
  const { connection: goodConnection } = attachBot(good.leg, {
    url: `ws://127.0.0.1:${(goodBot.address() as AddressInfo).port}`,
    dialect: new TwilioDialect(),
    call: { callSid: 'CA1', accountSid: 'AC1', customParameters: {} },
    clock,
    logger: silentLogger,
    onClosed: () => undefined,
  });
  const flooding = await openLeg(clock, mediaClock, 42040);
  const { connection: flooded, bridge: floodedBridge } = attachBot(flooding.leg, {
    url: `ws://127.0.0.1:${floodPort}`,
    dialect: new TwilioDialect(),
    call: { callSid: 'CA2', accountSid: 'AC1', customParameters: {} },
    clock,
    logger: silentLogger,
    onClosed: () => undefined,
  });
  mediaClock.start();
  await goodConnection.connect();
  await flooded.connect();
  const { socket: botSocket, streamSid } = await goodBotStream;
  const tone = Buffer.alloc(8000 * 8, 0x2a).toString('base64');
  botSocket.send(JSON.stringify({ event: 'media', streamSid, media: { payload: tone } }));

  const turns = turnMonitor(() => floodedBridge.stats().botInputs + flooded.stats.invalidMessages);
  await delay(500);
  turns.reset();
  const quietFrom = performance.now();
  await delay(2000);
  const quiet = turns.worst();
  turns.reset();
  const floodFrom = performance.now();
  floodBot.stdin.write('flood\n');
  await nextLine();
  while (flooded.stats.messagesReceived < FLOOD_MESSAGES) await delay(20);
  await delay(100);
  const flood = turns.worst();
  const floodTo = performance.now();
  turns.stop();
  console.log(
    [
      `longest turn (CPU) ${quiet.cpuMs.toFixed(1)} ms quiet, ${flood.cpuMs.toFixed(1)} ms under flood`,
      `(own) ${quiet.ownMs.toFixed(1)} ms quiet, ${flood.ownMs.toFixed(1)} ms under flood`,
      `at most ${flood.messages} bot messages handled in one turn`,
      `largest RTP gap ${largestGapMs(arrivals, quietFrom, floodFrom).toFixed(1)} ms quiet, ${largestGapMs(arrivals, floodFrom, floodTo).toFixed(1)} ms under flood`,
      `flood handled in ${(floodTo - floodFrom).toFixed(0)} ms, socket paused ${flooded.stats.paused} times, ${flooded.stats.messagesDropped} dropped`,
    ].join('; '),
  );

  goodConnection.close('done');
  flooded.close('done');
  floodBot.stdin.end();
  await once(floodBot, 'exit');
  mediaClock.stop();
  for (const { leg, sink } of [good, flooding]) {
    leg.close();
    sink.close();
  }
  for (const client of goodBot.clients) client.terminate();
  await new Promise((resolve) => goodBot.close(resolve));
}

for (let i = 0; i < rounds; i++) await round();
