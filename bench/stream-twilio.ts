/**
 * CPU per call-second, memory per call and RTP-to-WebSocket latency of the `twilio` stream
 * path, next to a bare RTP-to-WebSocket forwarder measured in the same run.
 *
 *   node --expose-gc --import tsx bench/stream-twilio.ts [calls=50] [seconds=10] [rounds=3]
 *
 * (--expose-gc lets it collect before reading the heap; without it memory per call reads n/a.)
 *
 * Path under test, per call: UDP -> RtpSession -> jitter buffer -> PCMU decode -> bridge ->
 * TwilioDialect (µ-law, base64, JSON) -> StreamConnection -> ws, on the shared MediaClock,
 * with the bot's (silent) playout pulled every tick. The floor: a UDP socket per call whose
 * handler base64-encodes the payload into the same Twilio JSON and sends it on a ws. The far
 * ends (RTP senders and the WebSocket server) run in a child process (bench/lib/caller-farm.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { attachBot } from '../src/gateway/bridge.js';
import type { MediaLeg } from '../src/media/index.js';
import { MediaClock } from '../src/media/media-clock.js';
import { PortAllocator } from '../src/media/rtp/index.js';
import { type StreamConnection, TwilioDialect } from '../src/stream/index.js';
import { SystemClock, silentLogger } from '../src/util/index.js';
import { openLoopbackPcmuLeg } from './lib/loopback-leg.js';

const calls = Number(process.argv[2] ?? 50);
const seconds = Number(process.argv[3] ?? 10);
const rounds = Number(process.argv[4] ?? 3);

interface Farm {
  child: ChildProcess;
  wsPort: number;
  run(): Promise<{ matched: number; p50: number; p95: number; p99: number }>;
}

async function startFarm(ports: number[]): Promise<Farm> {
  const script = fileURLToPath(
    new URL(`./lib/caller-farm${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
  );
  const child = spawn(process.execPath, [...process.execArgv, script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let buffer = '';
  const waiters: Array<(line: string) => void> = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  const nextLine = (): Promise<string> => {
    const line = lines.shift();
    return line !== undefined ? Promise.resolve(line) : new Promise((resolve) => waiters.push(resolve));
  };
  child.stdin?.write(`${JSON.stringify({ ports, durationMs: seconds * 1000 })}\n`);
  const { wsPort } = JSON.parse(await nextLine()) as { wsPort: number };
  return {
    child,
    wsPort,
    run: async () => {
      child.stdin?.write('go\n');
      return JSON.parse(await nextLine());
    },
  };
}

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

interface Row {
  cpuMsPerCallSecond: number;
  heapKbPerCall: number;
  p50: number;
  p95: number;
  p99: number;
  matched: number;
  /** W3C jitterBufferDelay / jitterBufferEmittedCount over all calls, ms (gateway path only). */
  jitterDelayMs?: number;
  /** Samples concealed, inserted or removed by time-stretching, % of samples played (gateway path only). */
  alteredPercent?: number;
}

interface PathUnderTest {
  ports: number[];
  /** Opens the per-call WebSockets to the farm and starts media. */
  connect(wsPort: number): Promise<void>;
  /** The gateway path's jitter-buffer figures so far (before the senders stop, so the end of
   * the streams does not count as concealment). */
  jitterFigures(): Pick<Row, 'jitterDelayMs' | 'alteredPercent'>;
  close(): Promise<void>;
}

async function measure(setup: () => Promise<PathUnderTest>): Promise<Row> {
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const path = await setup();
  const farm = await startFarm(path.ports);
  await path.connect(farm.wsPort);
  global.gc?.();
  const heapPerCall = global.gc ? (process.memoryUsage().heapUsed - heapBefore) / 1024 / calls : Number.NaN;
  const cpuBefore = cpuMs();
  let jitter: Pick<Row, 'jitterDelayMs' | 'alteredPercent'> = {};
  const snapshot = setTimeout(
    () => {
      jitter = path.jitterFigures();
    },
    seconds * 1000 - 100,
  );
  const latency = await farm.run();
  clearTimeout(snapshot);
  const cpu = cpuMs() - cpuBefore;
  await path.close();
  farm.child.kill();
  return { cpuMsPerCallSecond: cpu / (calls * seconds), heapKbPerCall: heapPerCall, ...latency, ...jitter };
}

async function gatewayPath(): Promise<PathUnderTest> {
  const clock = new SystemClock();
  const mediaClock = new MediaClock(clock);
  const base = 40000 + 2 * Math.floor(Math.random() * 4000);
  const allocator = new PortAllocator(base, base + 4 * calls + 10);
  const legs: MediaLeg[] = [];
  const connections: StreamConnection[] = [];
  for (let call = 0; call < calls; call++) {
    // Port 9 (discard): the bot plays silence to the caller.
    legs.push(await openLoopbackPcmuLeg({ portAllocator: allocator, clock, mediaClock, remotePort: 9 }));
  }
  const connect = async (wsPort: number): Promise<void> => {
    for (const [call, leg] of legs.entries()) {
      const { connection } = attachBot(leg, {
        url: `ws://127.0.0.1:${wsPort}/?call=${call}`,
        dialect: new TwilioDialect(),
        call: { callSid: `CA${call}`, accountSid: 'AC', customParameters: {} },
        clock,
        logger: silentLogger,
        onClosed: () => undefined,
      });
      await connection.connect();
      connections.push(connection);
    }
    mediaClock.start();
  };
  return {
    ports: legs.map((leg) => leg.localPort),
    connect,
    jitterFigures: () => {
      let delaySeconds = 0;
      let emitted = 0;
      let altered = 0;
      let played = 0;
      for (const leg of legs) {
        const stats = leg.stats().jitterBuffer;
        delaySeconds += stats?.jitterBufferDelay ?? 0;
        emitted += stats?.jitterBufferEmittedCount ?? 0;
        altered +=
          (stats?.concealedSamples ?? 0) +
          (stats?.insertedSamplesForDeceleration ?? 0) +
          (stats?.removedSamplesForAcceleration ?? 0);
        played += stats?.totalSamplesReceived ?? 0;
      }
      return {
        jitterDelayMs: (1000 * delaySeconds) / Math.max(1, emitted),
        alteredPercent: (100 * altered) / Math.max(1, played),
      };
    },
    close: async () => {
      mediaClock.stop();
      for (const connection of connections) connection.close('done');
      for (const leg of legs) leg.close();
    },
  };
}

async function bareForwarder(): Promise<PathUnderTest> {
  const sockets: Socket[] = [];
  for (let call = 0; call < calls; call++) {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    sockets.push(socket);
  }
  const webSockets: WebSocket[] = [];
  const connect = async (wsPort: number): Promise<void> => {
    for (const [call, socket] of sockets.entries()) {
      const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/?call=${call}`, { perMessageDeflate: false });
      await once(ws, 'open');
      webSockets.push(ws);
      let sequence = 0;
      socket.on('message', (data) => {
        sequence++;
        ws.send(
          JSON.stringify({
            event: 'media',
            sequenceNumber: String(sequence),
            media: {
              track: 'inbound',
              chunk: String(sequence),
              timestamp: String(sequence * 20),
              payload: data.subarray(12).toString('base64'),
            },
            streamSid: 'MZ',
          }),
        );
      });
    }
  };
  return {
    ports: sockets.map((socket) => socket.address().port),
    connect,
    jitterFigures: () => ({}),
    close: async () => {
      for (const ws of webSockets) ws.close();
      for (const socket of sockets) socket.close();
    },
  };
}

const results: Record<'floor' | 'twilio', Row[]> = { floor: [], twilio: [] };
for (let round = 0; round < rounds; round++) {
  results.floor.push(await measure(bareForwarder));
  results.twilio.push(await measure(gatewayPath));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? Number.NaN;
}

console.log(
  `${calls} concurrent calls x ${seconds} s, ${rounds} rounds (medians); Node ${process.version}\n`,
);
console.log(
  '| path | CPU ms per call-second | heap KiB per call | RTP->WS latency ms p50 / p95 / p99 | frames matched | jitter buffer mean delay ms | audio concealed or stretched |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const [label, rows] of [
  ['bare forwarder (floor)', results.floor],
  ['twilio path', results.twilio],
] as const) {
  console.log(
    `| ${label} | ${median(rows.map((r) => r.cpuMsPerCallSecond)).toFixed(3)} | ${median(rows.map((r) => r.heapKbPerCall)).toFixed(0)} | ` +
      `${median(rows.map((r) => r.p50)).toFixed(1)} / ${median(rows.map((r) => r.p95)).toFixed(1)} / ${median(rows.map((r) => r.p99)).toFixed(1)} | ${median(rows.map((r) => r.matched))} | ` +
      `${median(rows.map((r) => r.jitterDelayMs ?? Number.NaN)).toFixed(1)} | ${median(rows.map((r) => r.alteredPercent ?? Number.NaN)).toFixed(2)}% |`,
  );
}
const ratio =
  median(results.twilio.map((r) => r.cpuMsPerCallSecond)) /
  median(results.floor.map((r) => r.cpuMsPerCallSecond));
console.log(
  `\ntwilio path / floor CPU: ${ratio.toFixed(1)}x; one core carries about ${(1000 / median(results.twilio.map((r) => r.cpuMsPerCallSecond))).toFixed(0)} calls on the twilio path`,
);
