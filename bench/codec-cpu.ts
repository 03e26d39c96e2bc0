/**
 * CPU per 20 ms frame for Opus (16 and 48 kHz) and PCMU encode/decode, against a baseline
 * measured in the same run: copying the same frame of PCM (a memcpy). Operations are
 * interleaved round by round so machine noise hits them alike.
 * Run: npx tsx bench/codec-cpu.ts [rounds=40] [framesPerRound=250]
 */
import { readFileSync } from 'node:fs';
import { decodeMulaw, encodeMulaw } from '../src/media/g711.js';
import { createOpusDecoder, createOpusEncoder } from '../src/media/opus.js';
import { decodeWav } from '../src/media/wav.js';
import { PolyphaseResampler } from './lib/polyphase-resampler.js';
import { SPEECH_FIXTURE } from './opus-fec.js';

interface Operation {
  name: string;
  /** Runs the operation on frame `i`. */
  run(i: number): void;
}

function frames(pcm: Int16Array, frameSamples: number): Int16Array[] {
  const out: Int16Array[] = [];
  for (let at = 0; at + frameSamples <= pcm.length; at += frameSamples)
    out.push(pcm.slice(at, at + frameSamples));
  return out;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 40);
  const perRound = Number(process.argv[3] ?? 250);
  const speech16k = decodeWav(readFileSync(SPEECH_FIXTURE)).samples;
  const speech48k = new PolyphaseResampler(16000, 48000).process(speech16k);
  const speech8k = new PolyphaseResampler(16000, 8000).process(speech16k);
  const pcm8k = frames(speech8k, 160);
  const pcm16k = frames(speech16k, 320);
  const pcm48k = frames(speech48k, 960);
  const pick = <T>(list: T[], i: number) => list[i % list.length] as T;

  const operations: Operation[] = [];
  for (const [rate, pcm] of [
    [8000, pcm8k],
    [16000, pcm16k],
    [48000, pcm48k],
  ] as const) {
    const copy = new Int16Array(rate / 50);
    operations.push({ name: `baseline memcpy ${rate / 1000}k`, run: (i) => copy.set(pick(pcm, i)) });
  }
  const mulaw = pcm8k.map((f) => encodeMulaw(f));
  operations.push({ name: 'PCMU encode', run: (i) => encodeMulaw(pick(pcm8k, i)) });
  operations.push({ name: 'PCMU decode', run: (i) => decodeMulaw(pick(mulaw, i)) });
  const closers: (() => void)[] = [];
  for (const [rate, pcm] of [
    [16000, pcm16k],
    [48000, pcm48k],
  ] as const) {
    const encoder = await createOpusEncoder({
      sampleRate: rate,
      application: 'voip',
      bitrate: 24000,
      fec: true,
      packetLossPercent: 10,
    });
    const decoder = await createOpusDecoder({ sampleRate: rate });
    const packets = pcm.map((f) => encoder.encode(f));
    operations.push({ name: `Opus encode ${rate / 1000}k`, run: (i) => encoder.encode(pick(pcm, i)) });
    operations.push({ name: `Opus decode ${rate / 1000}k`, run: (i) => decoder.decode(pick(packets, i)) });
    operations.push({ name: `Opus PLC ${rate / 1000}k`, run: () => decoder.conceal(rate / 50) });
    closers.push(
      () => encoder.close(),
      () => decoder.close(),
    );
  }
  // libopus defaults to complexity 10; 5 is the usual VoIP trade-off.
  const cheaper = await createOpusEncoder({
    sampleRate: 16000,
    application: 'voip',
    bitrate: 24000,
    complexity: 5,
  });
  operations.push({ name: 'Opus encode 16k complexity 5', run: (i) => cheaper.encode(pick(pcm16k, i)) });
  closers.push(() => cheaper.close());

  const samples = new Map<string, number[]>(operations.map((o) => [o.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const operation of operations) {
      const times = samples.get(operation.name) as number[];
      for (let i = 0; i < perRound; i++) {
        const start = process.hrtime.bigint();
        operation.run(round * perRound + i);
        times.push(Number(process.hrtime.bigint() - start) / 1000);
      }
    }
  }
  for (const close of closers) close();

  console.log(
    `codec-cpu: ${rounds} rounds x ${perRound} frames of ${SPEECH_FIXTURE}, Node ${process.version}`,
  );
  console.log('| operation (20 ms frame) | median us | p99 us | median / memcpy | frames per core-second |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  const medians = new Map<string, number>();
  for (const operation of operations) {
    const sorted = (samples.get(operation.name) as number[]).sort((a, b) => a - b);
    const median = percentile(sorted, 0.5);
    medians.set(operation.name, median);
    const rate = operation.name.includes('48k') ? '48k' : operation.name.includes('16k') ? '16k' : '8k';
    const baseline = medians.get(`baseline memcpy ${rate}`) ?? median;
    console.log(
      `| ${operation.name} | ${median.toFixed(2)} | ${percentile(sorted, 0.99).toFixed(2)} | ${(median / baseline).toFixed(1)}x | ${Math.round(1e6 / median)} |`,
    );
  }
  // One call = one 20 ms frame encoded and one decoded every 20 ms, each way.
  const perCall = (encode: string, decode: string) =>
    Math.floor(20_000 / ((medians.get(encode) ?? Number.NaN) + (medians.get(decode) ?? Number.NaN)));
  console.log(`\nimplied calls per core (encode + decode per 20 ms, codec CPU only):`);
  console.log(`  PCMU: ${perCall('PCMU encode', 'PCMU decode')}`);
  console.log(`  Opus 16k: ${perCall('Opus encode 16k', 'Opus decode 16k')}`);
  console.log(`  Opus 16k, complexity 5: ${perCall('Opus encode 16k complexity 5', 'Opus decode 16k')}`);
  console.log(`  Opus 48k: ${perCall('Opus encode 48k', 'Opus decode 48k')}`);
}

await main();
