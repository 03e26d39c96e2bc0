/**
 * Opus in-band FEC vs PLC only, on a speech fixture with seeded single-packet losses.
 * Run: npx tsx bench/opus-fec.ts [lossPercent=10] [seed=1]
 * The experiment is exported so test/media/opus-fec.test.ts runs a short version of it.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import {
  createOpusDecoder,
  createOpusEncoder,
  type OpusSampleRate,
  opusPacketHasLbrr,
} from '../src/media/opus.js';
import { decodeWav } from '../src/media/wav.js';
import { seededRandom } from '../src/util/index.js';

export const SPEECH_FIXTURE = 'fixtures/audio/speech-16k.wav';

export interface FecExperimentOptions {
  pcm: Int16Array;
  sampleRate: OpusSampleRate;
  lossPercent: number;
  seed: number;
  bitrate?: number;
}

export interface FecExperimentResult {
  frames: number;
  lostFrames: number;
  /** Lost frames whose next packet arrived, so FEC recovery was possible. */
  lostWithNext: number;
  recoveredFromFec: number;
  /**
   * The same two counts over lost frames whose next packet carries LBRR (opusPacketHasLbrr):
   * SILK codes LBRR only for frames its VAD marked active (RFC 6716 §4.2.4, libopus: speech
   * activity above 30%), so a frame lost in a pause has no FEC to recover it and PLC fills it.
   */
  lostWithFecInNext: number;
  recoveredWhereFecSent: number;
  /** Loudest (RMS, dBFS) of the lost frames that had no FEC to recover them: how much they mattered. */
  loudestUnrecoverableDbfs: number;
  /** Segmental SNR against the lossless decode, over all voiced segments. */
  segmentalSnrFecDb: number;
  segmentalSnrPlcDb: number;
  /** The same, over the lost segments only. */
  lostSegmentSnrFecDb: number;
  lostSegmentSnrPlcDb: number;
}

const SNR_FLOOR_DB = -10;
const SNR_CEILING_DB = 35;
/** Segments quieter than this (mean square of the reference) are silence and skipped. */
const SILENT_SEGMENT_POWER = 10 * 10;

function rmsDbfs(pcm: Int16Array, start: number, length: number): number {
  let sum = 0;
  for (let i = start; i < start + length; i++) sum += (pcm[i] ?? 0) ** 2;
  return 10 * Math.log10(Math.max(sum / length, 1e-9) / 32768 ** 2);
}

/** Per-segment SNR clamped to [-10, 35] dB, the usual segmental SNR convention. */
function segmentSnrDb(reference: Int16Array, test: Int16Array, start: number, length: number): number {
  let signal = 0;
  let noise = 0;
  for (let i = start; i < start + length; i++) {
    const r = reference[i] as number;
    const e = r - ((test[i] as number) ?? 0);
    signal += r * r;
    noise += e * e;
  }
  if (noise === 0) return SNR_CEILING_DB;
  const snr = 10 * Math.log10(signal / noise);
  return Math.min(SNR_CEILING_DB, Math.max(SNR_FLOOR_DB, snr));
}

function isVoiced(reference: Int16Array, start: number, length: number): boolean {
  let power = 0;
  for (let i = start; i < start + length; i++) power += (reference[i] as number) ** 2;
  return power / length > SILENT_SEGMENT_POWER;
}

/** Mean segmental SNR over the voiced segments among `segments`. */
export function segmentalSnrDb(
  reference: Int16Array,
  test: Int16Array,
  segmentLength: number,
  segments: Iterable<number> = range(Math.floor(reference.length / segmentLength)),
): number {
  let total = 0;
  let counted = 0;
  for (const segment of segments) {
    const start = segment * segmentLength;
    if (!isVoiced(reference, start, segmentLength)) continue;
    total += segmentSnrDb(reference, test, start, segmentLength);
    counted++;
  }
  return counted === 0 ? SNR_CEILING_DB : total / counted;
}

function* range(count: number): Generator<number> {
  for (let i = 0; i < count; i++) yield i;
}

export async function runFecExperiment(options: FecExperimentOptions): Promise<FecExperimentResult> {
  const frameSamples = options.sampleRate / 50;
  const frames = Math.floor(options.pcm.length / frameSamples);
  const encoder = await createOpusEncoder({
    sampleRate: options.sampleRate,
    application: 'voip',
    fec: true,
    packetLossPercent: options.lossPercent,
    bitrate: options.bitrate ?? 24000,
  });
  const packets: Uint8Array[] = [];
  for (let f = 0; f < frames; f++)
    packets.push(encoder.encode(options.pcm.subarray(f * frameSamples, (f + 1) * frameSamples)));
  encoder.close();

  // Single-packet losses only: a packet right after a loss always arrives.
  const random = seededRandom(options.seed);
  const lost = packets.map(() => false);
  for (let f = 1; f < frames; f++) lost[f] = !lost[f - 1] && random() < options.lossPercent / 100;

  const reference = new Int16Array(frames * frameSamples);
  const withFec = new Int16Array(frames * frameSamples);
  const plcOnly = new Int16Array(frames * frameSamples);
  const lossless = await createOpusDecoder({ sampleRate: options.sampleRate });
  const fecDecoder = await createOpusDecoder({ sampleRate: options.sampleRate });
  const plcDecoder = await createOpusDecoder({ sampleRate: options.sampleRate });
  let lostWithNext = 0;
  let recoveredFromFec = 0;
  let lostWithFecInNext = 0;
  let recoveredWhereFecSent = 0;
  let loudestUnrecoverableDbfs = Number.NEGATIVE_INFINITY;
  const lostSegments: number[] = [];
  for (let f = 0; f < frames; f++) {
    const packet = packets[f] as Uint8Array;
    const offset = f * frameSamples;
    reference.set(lossless.decode(packet), offset);
    if (!lost[f]) {
      withFec.set(fecDecoder.decode(packet), offset);
      plcOnly.set(plcDecoder.decode(packet), offset);
      continue;
    }
    lostSegments.push(f);
    const next = f + 1 < frames && !lost[f + 1] ? packets[f + 1] : undefined;
    if (next) lostWithNext++;
    const recovered = next ? fecDecoder.recoverFromNext(next, frameSamples) : null;
    if (recovered) recoveredFromFec++;
    if (next && opusPacketHasLbrr(next)) {
      lostWithFecInNext++;
      if (recovered) recoveredWhereFecSent++;
    } else {
      loudestUnrecoverableDbfs = Math.max(
        loudestUnrecoverableDbfs,
        rmsDbfs(options.pcm, offset, frameSamples),
      );
    }
    withFec.set(recovered ?? fecDecoder.conceal(frameSamples), offset);
    plcOnly.set(plcDecoder.conceal(frameSamples), offset);
  }
  lossless.close();
  fecDecoder.close();
  plcDecoder.close();
  return {
    frames,
    lostFrames: lostSegments.length,
    lostWithNext,
    recoveredFromFec,
    lostWithFecInNext,
    recoveredWhereFecSent,
    loudestUnrecoverableDbfs,
    segmentalSnrFecDb: segmentalSnrDb(reference, withFec, frameSamples),
    segmentalSnrPlcDb: segmentalSnrDb(reference, plcOnly, frameSamples),
    lostSegmentSnrFecDb: segmentalSnrDb(reference, withFec, frameSamples, lostSegments),
    lostSegmentSnrPlcDb: segmentalSnrDb(reference, plcOnly, frameSamples, lostSegments),
  };
}

async function main(): Promise<void> {
  const lossPercent = Number(process.argv[2] ?? 10);
  const seed = Number(process.argv[3] ?? 1);
  const wav = decodeWav(readFileSync(SPEECH_FIXTURE));
  const result = await runFecExperiment({
    pcm: wav.samples,
    sampleRate: wav.sampleRate as OpusSampleRate,
    lossPercent,
    seed,
  });
  const percent = (part: number, whole: number) => `${((whole === 0 ? 1 : part / whole) * 100).toFixed(1)}%`;
  const db = (value: number) => `${value.toFixed(2)} dB`;
  console.log(
    `opus-fec: ${SPEECH_FIXTURE}, ${wav.sampleRate} Hz, 24 kbit/s, loss ${lossPercent}%, seed ${seed}`,
  );
  console.log(
    `frames ${result.frames}, lost ${result.lostFrames}, lost with next packet ${result.lostWithNext}`,
  );
  console.log(
    `recovered from FEC: ${result.recoveredFromFec}/${result.lostWithNext} (${percent(result.recoveredFromFec, result.lostWithNext)}); ` +
      `where the next packet carried FEC: ${result.recoveredWhereFecSent}/${result.lostWithFecInNext} (${percent(result.recoveredWhereFecSent, result.lostWithFecInNext)}); ` +
      `the loudest lost frame without FEC was ${result.loudestUnrecoverableDbfs.toFixed(1)} dBFS RMS`,
  );
  console.log(
    `segmental SNR vs lossless, all voiced segments: FEC+PLC ${db(result.segmentalSnrFecDb)}, PLC only ${db(result.segmentalSnrPlcDb)}`,
  );
  console.log(
    `segmental SNR vs lossless, lost segments only: FEC+PLC ${db(result.lostSegmentSnrFecDb)}, PLC only ${db(result.lostSegmentSnrPlcDb)}`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
