/**
 * Pacing of bot audio towards the caller: a bot sends 10 s of audio at
 * 2x and at 10x real time; how evenly does the bridge put it on the wire? Measured next to a
 * bare pacer (bench/lib/bare-pacer.ts: the same MediaClock sending a packet per tick and nothing
 * else) in the same run. Slot error = |gap between consecutive packets − 20 ms|.
 *
 *   npx tsx bench/stream-pacing.ts [runs=3]
 *
 * This process is the gateway side only: MediaLeg on the shared MediaClock (rtp.pacingLeadMs 2)
 * + attachBot (StreamConnection, TwilioDialect, CallBridge, Playout). The bot and the packet
 * receivers run in bench/lib/pacing-peers.ts and the floor in its own process, so neither adds
 * work to the event loop being measured. Packet times are tshark's kernel timestamps on `lo`:
 * a receiving process's own wake-up latency (large in a VM whose idle vCPU halts) is not the
 * sender's pacing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { attachBot } from '../src/gateway/bridge.js';
import { MediaClock } from '../src/media/media-clock.js';
import { PortAllocator } from '../src/media/rtp/index.js';
import { TwilioDialect } from '../src/stream/index.js';
import { SystemClock, silentLogger } from '../src/util/index.js';
import { captureUdp } from '../test/interop/helpers/tshark.js';
import { openLoopbackPcmuLeg } from './lib/loopback-leg.js';

const runs = Number(process.argv[2] ?? 3);
const FRAMES = 500;

const script = (name: string): string =>
  fileURLToPath(new URL(`./lib/${name}${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    let buffer = '';
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString();
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      child.stdout?.off('data', onData);
      resolve(buffer.slice(0, newline));
      // The second line (the arrivals) is read by the caller from `rest`.
      child.stdout?.unshift(Buffer.from(buffer.slice(newline + 1)));
    };
    child.stdout?.on('data', onData);
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

interface SlotStats {
  p50: number;
  p99: number;
  max: number;
}

function slotStats(timesMs: number[]): SlotStats {
  const errors = timesMs
    .slice(1)
    .map((atMs, i) => Math.abs(atMs - (timesMs[i] ?? atMs) - 20))
    .sort((a, b) => a - b);
  return { p50: percentile(errors, 50), p99: percentile(errors, 99), max: errors.at(-1) ?? Number.NaN };
}

async function measure(speed: number): Promise<{ bridge: SlotStats; floor: SlotStats }> {
  const peers = spawn(process.execPath, [...process.execArgv, script('pacing-peers'), String(speed)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ports = JSON.parse(await firstLine(peers)) as {
    wsPort: number;
    bridgePort: number;
    floorPort: number;
  };
  let output = '';
  peers.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = once(peers, 'exit');
  const bridgeCapture = captureUdp(ports.bridgePort, ['frame.time_epoch', 'rtp.seq']);
  const floorCapture = captureUdp(ports.floorPort, ['frame.time_epoch']);
  await Promise.all([bridgeCapture.ready, floorCapture.ready]);
  const clock = new SystemClock();
  const mediaClock = new MediaClock(clock, 20, undefined, 2);
  const base = 40000 + 2 * Math.floor(Math.random() * 2000);
  const leg = await openLoopbackPcmuLeg({
    portAllocator: new PortAllocator(base, base + 20),
    clock,
    mediaClock,
    remotePort: ports.bridgePort,
  });
  const { connection } = attachBot(leg, {
    url: `ws://127.0.0.1:${ports.wsPort}`,
    dialect: new TwilioDialect(),
    call: { callSid: 'CA1', accountSid: 'AC1', customParameters: {} },
    clock,
    logger: silentLogger,
    onClosed: () => undefined,
  });
  mediaClock.start();
  const pacer = spawn(
    process.execPath,
    [...process.execArgv, script('bare-pacer'), String(ports.floorPort), String(FRAMES + 50)],
    { stdio: 'ignore' },
  );
  await connection.connect();
  await exited;
  pacer.kill();
  connection.close('done');
  mediaClock.stop();
  leg.close();
  const arrivals = JSON.parse(output.trim()) as { bridge: Array<[number, number, boolean]> };
  const first = arrivals.bridge.findIndex(([, , silent]) => !silent);
  const window = arrivals.bridge.slice(first, first + FRAMES);
  if (first < 0 || window.length < FRAMES) throw new Error(`only ${window.length} audio packets arrived`);
  const wireMs = new Map(
    (await bridgeCapture.stop()).map(([epoch, seq]) => [Number(seq), Number(epoch) * 1000] as const),
  );
  const wire = window.map(([seq]) => wireMs.get(seq));
  if (wire.some((atMs) => atMs === undefined)) throw new Error('tshark missed bridge packets');
  const floor = (await floorCapture.stop()).map(([epoch]) => Number(epoch) * 1000);
  return { bridge: slotStats(wire as number[]), floor: slotStats(floor) };
}

const median = (values: number[]): number =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
const ms = (value: number): string => value.toFixed(2);

console.log(`stream pacing: ${runs} runs per speed, ${FRAMES} packets each, Node ${process.version}\n`);
console.log('| bot speed | run | bridge p50 / p99 / max ms | bare pacer p50 / p99 / max ms |');
console.log('| --- | --- | --- | --- |');
for (const speed of [2, 10]) {
  const results: Array<{ bridge: SlotStats; floor: SlotStats }> = [];
  for (let run = 1; run <= runs; run++) {
    const result = await measure(speed);
    results.push(result);
    const { bridge, floor } = result;
    console.log(
      `| ${speed}x | ${run} | ${ms(bridge.p50)} / ${ms(bridge.p99)} / ${ms(bridge.max)} | ${ms(floor.p50)} / ${ms(floor.p99)} / ${ms(floor.max)} |`,
    );
  }
  const pick = (side: 'bridge' | 'floor', key: keyof SlotStats) =>
    ms(median(results.map((r) => r[side][key])));
  console.log(
    `| ${speed}x | median | ${pick('bridge', 'p50')} / ${pick('bridge', 'p99')} / ${pick('bridge', 'max')} | ${pick('floor', 'p50')} / ${pick('floor', 'p99')} / ${pick('floor', 'max')} |`,
  );
}
