/**
 * What a media worker keeps of the calls it has closed: a MediaHost (the worker's side) and the
 * main thread's WorkerChannel on a MessageChannel in one thread, calls opened 25 at a time, each
 * with RTP from its caller's socket for half a second and a bot WebSocket (the embedded echo
 * bot), then the bot closed and the leg closed. The heap after forced collections at checkpoints:
 * a leak shows as bytes per call that stay; JIT code settling in shows as a one-off. With
 * `--snapshots DIR` a heap snapshot at each checkpoint, to compare by constructor.
 *
 *   node --expose-gc --import tsx bench/media-host-churn.ts [--calls 1000] [--snapshots DIR]
 */
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import { MessageChannel } from 'node:worker_threads';
import { streamTargetSchema } from '../src/config/index.js';
import { EchoBot } from '../src/demo/index.js';
import { type HostPort, MediaHost } from '../src/gateway/worker/media-host.js';
import { type ChannelPort, WorkerChannel } from '../src/gateway/worker/worker-channel.js';
import { callMediaClock, PortAllocator } from '../src/media/index.js';
import { SystemClock, silentLogger } from '../src/util/index.js';
import { parseBenchArgs } from './lib/bench-args.js';

const { values } = parseBenchArgs(
  'usage: node --expose-gc --import tsx bench/media-host-churn.ts [--calls 1000] [--snapshots DIR]',
  { calls: { type: 'string', default: '1000' }, snapshots: { type: 'string' } },
);
const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('run with node --expose-gc');
const CONCURRENT = 25;
/** Calls before the first checkpoint: modules, pools and JIT warm up. */
const WARM_UP_CALLS = 100;
const PACKETS_PER_CALL = 25;
const PORT_MIN = 44_000;

const clock = new SystemClock();
const ports = new MessageChannel();
const host = new MediaHost({
  port: ports.port2 as unknown as HostPort,
  clock,
  logger: silentLogger,
  mediaClock: callMediaClock(clock, silentLogger, 3),
  portAllocator: new PortAllocator(PORT_MIN, PORT_MIN + 4 * CONCURRENT - 1),
  bindAddress: '127.0.0.1',
});
const channel = new WorkerChannel(ports.port1 as unknown as ChannelPort, clock, {
  clock: () => undefined,
  latencies: () => undefined,
  heap: () => undefined,
});
const bot = await EchoBot.start({ echoDelayMs: 0 });
const target = streamTargetSchema.parse({ url: bot.url, reconnect: { maxAttempts: 0 } });
const hooks = { hangup: () => undefined, transfer: () => undefined, gone: () => undefined };
let placed = 0;

/** One call: PCMU from a caller socket, a bot, both closed at the end. */
async function call(): Promise<void> {
  const callId = `call-${placed++}`;
  const caller = createSocket('udp4');
  await new Promise<void>((resolve) => caller.bind(0, '127.0.0.1', resolve));
  const leg = await channel.open(callId, 8000, {
    jitterBuffer: { minDelayMs: 0, maxDelayMs: 200 },
    encryption: 'none',
  });
  await leg.start({
    remoteAddress: '127.0.0.1',
    remotePort: caller.address().port,
    rtcpMux: true,
    codec: { payloadType: 0, name: 'PCMU', clockRate: 8000, channels: 1 },
  });
  const stream = leg.connectBot({ callSid: callId, from: 'a', to: 'b', direction: 'inbound' }, target, hooks);
  await stream.ready;
  // RTP version 2, PCMU, 160 bytes of silence; the SSRC differs per call.
  const packet = Buffer.alloc(12 + 160, 0xff);
  packet.writeUInt16BE(0x8000, 0);
  packet.writeUInt32BE(placed, 8);
  for (let index = 0; index < PACKETS_PER_CALL; index++) {
    packet.writeUInt16BE(index, 2);
    packet.writeUInt32BE(index * 160, 4);
    caller.send(packet, leg.localPort, '127.0.0.1');
    await delay(20);
  }
  stream.close('hangup');
  leg.close();
  caller.close();
}

async function run(calls: number): Promise<void> {
  for (let done = 0; done < calls; done += CONCURRENT)
    await Promise.all(Array.from({ length: Math.min(CONCURRENT, calls - done) }, () => call()));
}

/** The heap in use once the closes have settled and a few full collections ran, MiB. */
async function heapAfterCollection(): Promise<number> {
  await delay(1500);
  for (let round = 0; round < 4; round++) {
    collect?.();
    await delay(100);
  }
  if (values.snapshots) writeHeapSnapshot(join(values.snapshots, `after-${placed}-calls.heapsnapshot`));
  return getHeapStatistics().used_heap_size / 2 ** 20;
}

await run(WARM_UP_CALLS);
const base = await heapAfterCollection();
console.log(`after ${placed} calls: ${base.toFixed(2)} MiB`);
const total = Number(values.calls);
for (const share of [0.2, 1]) {
  await run(Math.round(total * share) - (placed - WARM_UP_CALLS));
  const heap = await heapAfterCollection();
  const perCall = ((heap - base) * 2 ** 20) / (placed - WARM_UP_CALLS);
  console.log(
    `after ${placed} calls: ${heap.toFixed(2)} MiB, ${perCall.toFixed(0)} B per call since ${WARM_UP_CALLS}`,
  );
}
console.log(`calls the channel still holds: ${channel.calls}`);
host.stop();
ports.port1.close();
await bot.close();
