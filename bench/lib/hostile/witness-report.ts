/**
 * What the witness call measures as its RTP arrives (kernel timestamps, so the figures are
 * the gateway's and not the witness process's scheduling), summed up per phase of the mix.
 * The witness sends frame k as 160 bytes of one µ-law code, CODES[k mod 96]; the echo bot
 * sends every frame straight back, so what the gateway plays to the witness is the same run
 * of codes, each 160 samples long but not aligned to packets (the G.711 decoder's Appendix I
 * PLC delays audio by 30 samples, and the jitter buffer may move the phase). A code that never
 * comes back is a frame lost on the way through the gateway (concealed, dropped or stretched
 * away); a packet without any code is inserted audio (an underrun's silence, concealment).
 */
import { percentile } from '../../../test/interop/helpers/sipp.js';

/** µ-law codes with clear energy that survive decode and re-encode unchanged (0x10-0x6f). */
export const CODES: readonly number[] = Array.from({ length: 96 }, (_, i) => 0x10 + i);
/** A code further ahead than this is taken as one from behind (the codes repeat every 96 frames). */
const MAX_SKIP = CODES.length / 2;
/** A run of one code shorter than this is not counted (concealment and fades make short ones). */
const MIN_RUN_BYTES = 16;

export interface Arrival {
  /** Kernel receive time, epoch ms. */
  atMs: number;
  sequence: number;
  timestamp: number;
  /** Indexes into CODES of the payload's runs of one code (at least MIN_RUN_BYTES), in order. */
  codes: number[];
}

const LARGEST_GAPS = 5;

/** Gap upper bounds of the histogram, in ms; the last bucket is everything above. */
export const GAP_BUCKETS_MS = [25, 40, 60, 100] as const;

export interface WitnessPhase {
  name: string;
  packets: number;
  maxGapMs: number;
  /** Counts of inter-arrival gaps ≤25, ≤40, ≤60, ≤100 and >100 ms. */
  gapHistogram: number[];
  gapsOver60Ms: number;
  /** The five largest gaps: [ms into the phase at which the gap ended, gap ms]. */
  largestGaps: Array<[number, number]>;
  /** RTP sequence numbers missing (packets lost between the gateway and us). */
  sequenceLost: number;
  /** 20 ms frames the gateway never sent (its RTP timestamp jumped: a skipped media tick). */
  ticksLost: number;
  /** Witness frames that did not come back through gateway, bot and gateway. */
  echoLost: number;
  /** Packets without any witness code once the echo was flowing (an underrun's silence, concealment). */
  echoInserted: number;
}

export interface ProbeResult {
  /** Epoch ms. */
  sentAtMs: number;
  latencyMs: number | undefined;
}

export interface OptionsPhase {
  name: string;
  sent: number;
  answered: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  over200Ms: number;
}

/** The witness codes in a PCMU payload: runs of one code, in order. */
export function codesOf(payload: Uint8Array): number[] {
  const codes: number[] = [];
  let start = 0;
  for (let i = 1; i <= payload.length; i++) {
    if (i < payload.length && payload[i] === payload[start]) continue;
    const code = CODES.indexOf(payload[start] ?? -1);
    if (i - start >= MIN_RUN_BYTES && code >= 0) codes.push(code);
    start = i;
  }
  return codes;
}

/** Arrivals between `fromMs` and `toMs`, summed up; the packet before the window anchors it. */
export function summarizeWitness(
  name: string,
  arrivals: readonly Arrival[],
  fromMs: number,
  toMs: number,
): WitnessPhase {
  const phase: WitnessPhase = {
    name,
    packets: 0,
    maxGapMs: 0,
    gapHistogram: GAP_BUCKETS_MS.map(() => 0).concat(0),
    gapsOver60Ms: 0,
    largestGaps: [],
    sequenceLost: 0,
    ticksLost: 0,
    echoLost: 0,
    echoInserted: 0,
  };
  for (const loss of echoLosses(arrivals))
    if (loss.atMs >= fromMs && loss.atMs < toMs) phase.echoLost += loss.frames;
  let previous: Arrival | undefined;
  let flowing = false;
  for (const arrival of arrivals) {
    if (arrival.atMs >= toMs) break;
    flowing ||= arrival.codes.length > 0;
    if (arrival.atMs < fromMs) {
      previous = arrival;
      continue;
    }
    phase.packets++;
    if (previous) {
      const gap = arrival.atMs - previous.atMs;
      phase.maxGapMs = Math.max(phase.maxGapMs, gap);
      const bucket = GAP_BUCKETS_MS.findIndex((bound) => gap <= bound);
      const at = bucket < 0 ? GAP_BUCKETS_MS.length : bucket;
      phase.gapHistogram[at] = (phase.gapHistogram[at] ?? 0) + 1;
      if (gap > 60) phase.gapsOver60Ms++;
      if (gap > (phase.largestGaps[LARGEST_GAPS - 1]?.[1] ?? 0)) {
        phase.largestGaps.push([Math.round(arrival.atMs - fromMs), Math.round(gap)]);
        phase.largestGaps.sort((a, b) => b[1] - a[1]);
        phase.largestGaps.length = Math.min(phase.largestGaps.length, LARGEST_GAPS);
      }
      const sequenceStep = (arrival.sequence - previous.sequence) & 0xffff;
      if (sequenceStep > 1 && sequenceStep < 1000) phase.sequenceLost += sequenceStep - 1;
      const frames = Math.round(((arrival.timestamp - previous.timestamp) >>> 0) / 160);
      if (frames > 1 && frames < 1000) phase.ticksLost += frames - 1 - Math.max(0, sequenceStep - 1);
    }
    if (arrival.codes.length === 0 && flowing) phase.echoInserted++;
    previous = arrival;
  }
  return phase;
}

/**
 * Where witness frames went missing: a forward jump between the codes that came back, placed
 * at the packet that resumed the sequence. A code counts only when the next one follows it:
 * concealment and time-stretching of the flat codes make short runs of other codes (the
 * concealment's fade moves a few codes up), which must not read as jumps.
 */
function echoLosses(arrivals: readonly Arrival[]): Array<{ atMs: number; frames: number }> {
  const sequence: Array<{ atMs: number; code: number }> = [];
  for (const arrival of arrivals)
    for (const code of arrival.codes)
      if (sequence.at(-1)?.code !== code) sequence.push({ atMs: arrival.atMs, code });
  const losses: Array<{ atMs: number; frames: number }> = [];
  let last = -1;
  for (const [i, { atMs, code }] of sequence.entries()) {
    const skipped = (code - last - 1 + CODES.length) % CODES.length;
    const confirmed = sequence[i + 1]?.code === (code + 1) % CODES.length;
    // From behind (a repeated piece) or not followed by its successor (noise): not the stream.
    if (last >= 0 && (skipped >= MAX_SKIP || (skipped > 0 && !confirmed))) continue;
    if (last >= 0 && skipped > 0) losses.push({ atMs, frames: skipped });
    last = code;
  }
  return losses;
}

export function summarizeProbes(
  name: string,
  probes: readonly ProbeResult[],
  fromMs: number,
  toMs: number,
): OptionsPhase {
  const window = probes.filter((probe) => probe.sentAtMs >= fromMs && probe.sentAtMs < toMs);
  const latencies = window.flatMap((probe) => (probe.latencyMs === undefined ? [] : [probe.latencyMs]));
  return {
    name,
    sent: window.length,
    answered: latencies.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.length > 0 ? Math.max(...latencies) : Number.NaN,
    over200Ms: latencies.filter((ms) => ms > 200).length,
  };
}
