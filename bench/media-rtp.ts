/**
 * CPU cost of the per-call media path, per 20 ms frame (PCMU, 160 bytes):
 *  receive: UDP -> RtpSession (rtp.js parse + RFC 3550 stats) -> G.711 decode (+PLC history) -> 8k->16k resample
 *  send:    G.711 encode -> RtpSession.send (rtp.js serialize) -> UDP
 * Baselines in the same run: raw UDP receive with no parsing, and raw UDP send of prebuilt bytes.
 * Socket paths are measured with process.cpuUsage() over whole trials (the sender runs in a child
 * process so its CPU is not counted); the pure compute is also timed frame by frame for percentiles.
 *
 * Run: npx tsx bench/media-rtp.ts
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { RtpPacket } from 'rtp.js/packets';
import { G711Decoder, G711Encoder } from '../src/media/g711-codec.js';
import { Resampler } from '../src/media/resample.js';
import { PortAllocator } from '../src/media/rtp/port-allocator.js';
import { ReceiveStats } from '../src/media/rtp/receive-stats.js';
import { RtpSession } from '../src/media/rtp/session.js';
import { SystemClock } from '../src/util/index.js';

const LOOPBACK = '127.0.0.1';
const TRIALS = 7;
const PACKETS_PER_TRIAL = 20_000;
const FRAMES_PER_SECOND = 50;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** A child process that sends `count` PCMU RTP packets to `port`, in bursts so little is dropped. */
const SENDER_SOURCE = `
const dgram = require('node:dgram');
const [port, count, ssrc] = process.argv.slice(1).map(Number);
const socket = dgram.createSocket('udp4');
let seq = 0;
function burst() {
  for (let i = 0; i < 20 && seq < count; i++, seq++) {
    // A fresh buffer per packet: send() is asynchronous and must not see later writes.
    const packet = Buffer.alloc(172, 0xff);
    packet[0] = 0x80; packet[1] = 0; packet.writeUInt32BE(ssrc, 8);
    packet.writeUInt16BE(seq & 0xffff, 2);
    packet.writeUInt32BE((seq * 160) >>> 0, 4);
    socket.send(packet, port, '127.0.0.1');
  }
  if (seq < count) setTimeout(burst, 1); else setTimeout(() => socket.close(), 50);
}
burst();
`;

let senderSsrc = 0x1000;

async function runSender(port: number): Promise<void> {
  // A new SSRC per trial: each trial is a new stream to the session, not a sequence restart.
  const args = ['-e', SENDER_SOURCE, String(port), String(PACKETS_PER_TRIAL), String(senderSsrc++)];
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  await once(child, 'exit');
}

/** CPU µs per received packet while the child blasts packets at `port`; the handler counts receipts. */
async function receiveTrial(port: number, received: () => number): Promise<number> {
  const startCount = received();
  const startCpu = cpuMicros();
  await runSender(port);
  // Let the socket drain what the kernel still holds.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const packets = received() - startCount;
  return (cpuMicros() - startCpu) / Math.max(1, packets);
}

async function measureReceive(): Promise<{ baseline: number[]; pipeline: number[] }> {
  const raw: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => raw.bind(0, LOOPBACK, resolve));
  let rawCount = 0;
  raw.on('message', () => {
    rawCount++;
  });

  const session = await RtpSession.open({
    portRange: new PortAllocator(46000, 46999),
    bindAddress: LOOPBACK,
    clock: new SystemClock(),
    rtcpIntervalMs: 3_600_000,
  });
  const decoder = new G711Decoder('PCMU');
  const resampler = await Resampler.create(8000, 16000);
  let pipelineCount = 0;
  let sink = 0;
  session.on('packet', (packet) => {
    const wideband = resampler.process(decoder.decode(packet.payload));
    sink += wideband[0] ?? 0;
    pipelineCount++;
  });

  const baseline: number[] = [];
  const pipeline: number[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    baseline.push(await receiveTrial(raw.address().port, () => rawCount));
    pipeline.push(await receiveTrial(session.localPort, () => pipelineCount));
  }
  raw.close();
  session.close();
  if (Number.isNaN(sink)) console.log('unreachable');
  return { baseline, pipeline };
}

async function sendTrial(sendOne: (i: number) => void, flush: () => Promise<void>): Promise<number> {
  const startCpu = cpuMicros();
  for (let i = 0; i < PACKETS_PER_TRIAL; i++) {
    sendOne(i);
    if (i % 200 === 199) await flush();
  }
  await flush();
  return (cpuMicros() - startCpu) / PACKETS_PER_TRIAL;
}

async function measureSend(): Promise<{ baseline: number[]; pipeline: number[] }> {
  // Nothing listens on the destination: the kernel drops the datagrams, same for both paths.
  const deadPort = 9;
  const raw = createSocket('udp4');
  await new Promise<void>((resolve) => raw.bind(0, LOOPBACK, resolve));
  const prebuilt = Buffer.alloc(172, 0xff);
  prebuilt[0] = 0x80;
  const flushRaw = () =>
    new Promise<void>((resolve) => raw.send(prebuilt, deadPort, LOOPBACK, () => resolve()));

  const session = await RtpSession.open({
    portRange: new PortAllocator(47000, 47999),
    bindAddress: LOOPBACK,
    clock: new SystemClock(),
    rtcpIntervalMs: 3_600_000,
  });
  session.setRemote(LOOPBACK, deadPort);
  const encoder = new G711Encoder('PCMU');
  const pcm = new Int16Array(160).map((_, i) => Math.round(8000 * Math.sin(i / 5)));
  const flushSession = () => new Promise<void>((resolve) => setImmediate(resolve));

  const baseline: number[] = [];
  const pipeline: number[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    baseline.push(await sendTrial(() => raw.send(prebuilt, deadPort, LOOPBACK), flushRaw));
    pipeline.push(
      await sendTrial(
        (i) => session.send(encoder.encode(pcm), { payloadType: 0, timestamp: i * 160 }),
        flushSession,
      ),
    );
  }
  raw.close();
  session.close();
  return { baseline, pipeline };
}

/** Frame-by-frame timing of the pure compute (no sockets), for median and p99. */
async function timeCompute(): Promise<{ receive: number[]; send: number[] }> {
  const frames = 20_000;
  const packets: DataView[] = [];
  for (let i = 0; i < 256; i++) {
    const packet = new RtpPacket();
    packet.setSequenceNumber(i);
    packet.setTimestamp(i * 160);
    packet.setSsrc(1);
    packet.setPayload(new DataView(new Uint8Array(160).fill(i).buffer));
    packets.push(packet.getView());
  }
  const stats = new ReceiveStats(1, 8000);
  const decoder = new G711Decoder('PCMU');
  const resampler = await Resampler.create(8000, 16000);
  const encoder = new G711Encoder('PCMU');
  const pcm = new Int16Array(160).map((_, i) => Math.round(8000 * Math.sin(i / 5)));
  const receive: number[] = [];
  const send: number[] = [];
  let sink = 0;
  for (let i = 0; i < frames; i++) {
    const view = packets[i % packets.length]!;
    let start = process.hrtime.bigint();
    const parsed = new RtpPacket(view);
    const payload = parsed.getPayload();
    stats.update(i & 0xffff, i * 160, i * 20, payload.byteLength);
    const out = resampler.process(
      decoder.decode(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength)),
    );
    receive.push(Number(process.hrtime.bigint() - start) / 1000);
    sink += out[0] ?? 0;

    start = process.hrtime.bigint();
    const packet = new RtpPacket();
    packet.setSequenceNumber(i & 0xffff);
    packet.setTimestamp(i * 160);
    packet.setSsrc(2);
    const encoded = encoder.encode(pcm);
    packet.setPayload(new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength));
    sink += packet.getView().byteLength;
    send.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  if (Number.isNaN(sink)) console.log('unreachable');
  // Drop the first 10% (JIT warm-up).
  return { receive: receive.slice(frames / 10), send: send.slice(frames / 10) };
}

/** Median and p99 of per-frame samples; with a handful of per-trial samples, p99 is the worst trial. */
function row(name: string, values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `| ${name} | ${percentile(sorted, 50).toFixed(2)} | ${percentile(sorted, 99).toFixed(2)} |`;
}

const compute = await timeCompute();
const receive = await measureReceive();
const send = await measureSend();

const receiveUs = median(receive.pipeline);
const sendUs = median(send.pipeline);
const perCallUsPerSecond = FRAMES_PER_SECOND * (receiveUs + sendUs);

console.log(`# media-rtp (Node ${process.version}, ${TRIALS} trials x ${PACKETS_PER_TRIAL} packets)\n`);
console.log(
  'Socket paths, CPU µs per 20 ms frame (process.cpuUsage over a trial), median / worst of trials:\n',
);
console.log('| path | median µs | worst trial µs |');
console.log('| --- | --- | --- |');
console.log(row('baseline: raw UDP receive, no parsing', receive.baseline));
console.log(row('receive: RtpSession + PCMU decode + 8k->16k', receive.pipeline));
console.log(row('baseline: raw UDP send of prebuilt bytes', send.baseline));
console.log(row('send: PCMU encode + RtpSession.send', send.pipeline));
console.log(
  `\nRatios (median): receive ${(receiveUs / median(receive.baseline)).toFixed(2)}x raw receive, ` +
    `send ${(sendUs / median(send.baseline)).toFixed(2)}x raw send.`,
);
console.log('\nPure compute per frame (no sockets), µs, per-frame percentiles:\n');
console.log('| path | median µs | p99 µs |');
console.log('| --- | --- | --- |');
console.log(row('parse + stats + PCMU decode/PLC history + resample 8k->16k', compute.receive));
console.log(row('PCMU encode + RTP serialize', compute.send));
console.log(
  `\nImplied calls per core (one receive + one send stream per call, 50 frames/s each): ` +
    `${Math.floor(1_000_000 / perCallUsPerSecond)} (${(perCallUsPerSecond / 1000).toFixed(2)} ms CPU per call-second)`,
);
