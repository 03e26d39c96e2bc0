/**
 * Pitch-synchronous time stretching (WSOLA-style, as NetEQ's Accelerate and
 * PreemptiveExpand): find the lag with the best normalised autocorrelation, then remove
 * or repeat one period, crossfading across it so the waveform stays continuous and the
 * pitch is preserved.
 */

/** Pitch lags searched: 2.5 ms to 10 ms (400 Hz down to 100 Hz). */
const MIN_LAG_MS = 2.5;
const MAX_LAG_MS = 10;
/** Below this correlation a segment is not periodic enough to stretch unless it is quiet. */
const MIN_PERIODICITY = 0.6;
/** RMS below which a segment counts as low-energy and may be stretched anywhere. */
const QUIET_RMS = 300;

export interface StretchResult {
  output: Int16Array;
  /** Samples removed (negative) or inserted (positive); 0 when the segment was unsuitable. */
  changedSamples: number;
}

/**
 * Squared samples summed from the start, reused between calls: energy[k] is the energy of
 * input[0..k). Every term and partial sum is an integer below 2^53, so the sums are exact and
 * any window's energy is a difference of two of them.
 */
let energyPrefix = new Float64Array(0);

/**
 * Sum of input[i] * input[i + lag] for i in [0, lag), four products per step: integer partial
 * sums are exact, so splitting them over four accumulators changes no bit of the result.
 */
function crossProduct(input: Int16Array, lag: number): number {
  let sum0 = 0;
  let sum1 = 0;
  let sum2 = 0;
  let sum3 = 0;
  let i = 0;
  for (; i + 3 < lag; i += 4) {
    sum0 += (input[i] as number) * (input[i + lag] as number);
    sum1 += (input[i + 1] as number) * (input[i + 1 + lag] as number);
    sum2 += (input[i + 2] as number) * (input[i + 2 + lag] as number);
    sum3 += (input[i + 3] as number) * (input[i + 3 + lag] as number);
  }
  for (; i < lag; i++) sum0 += (input[i] as number) * (input[i + lag] as number);
  return sum0 + sum1 + sum2 + sum3;
}

/**
 * The lag with the best normalised autocorrelation between input[0..lag) and input[lag..2 lag),
 * and that correlation. The two windows' energies come from one running sum of squares, so
 * each lag costs one product per sample rather than three.
 */
function bestLag(input: Int16Array, minLag: number, maxLag: number): { lag: number; correlation: number } {
  const span = 2 * maxLag;
  if (energyPrefix.length < span + 1) energyPrefix = new Float64Array(span + 1);
  const energy = energyPrefix;
  energy[0] = 0;
  for (let i = 0; i < span; i++) {
    const sample = input[i] as number;
    energy[i + 1] = (energy[i] as number) + sample * sample;
  }
  let bestLagFound = minLag;
  let bestCorrelation = -1;
  for (let lag = minLag; lag <= maxLag; lag++) {
    const cross = crossProduct(input, lag);
    const energyA = energy[lag] as number;
    const norm = Math.sqrt(energyA * ((energy[2 * lag] as number) - energyA));
    const correlation = norm > 0 ? cross / norm : 1;
    if (correlation > bestCorrelation) {
      bestLagFound = lag;
      bestCorrelation = correlation;
    }
  }
  return { lag: bestLagFound, correlation: bestCorrelation };
}

function rms(input: Int16Array): number {
  let sum = 0;
  for (const s of input) sum += s * s;
  return input.length > 0 ? Math.sqrt(sum / input.length) : 0;
}

/** Linear crossfade from `from` to `to` over `length` samples, written into `out` at `outStart`. */
function crossfade(
  from: Int16Array,
  fromStart: number,
  to: Int16Array,
  toStart: number,
  length: number,
  out: Int16Array,
  outStart: number,
): void {
  for (let i = 0; i < length; i++) {
    const w = (i + 1) / (length + 1);
    out[outStart + i] = Math.round((from[fromStart + i] ?? 0) * (1 - w) + (to[toStart + i] ?? 0) * w);
  }
}

function lagRange(sampleRate: number, length: number): [number, number] | null {
  const minLag = Math.round((MIN_LAG_MS * sampleRate) / 1000);
  const maxLag = Math.min(Math.round((MAX_LAG_MS * sampleRate) / 1000), Math.floor(length / 2));
  return maxLag >= minLag ? [minLag, maxLag] : null;
}

function suitablePeriod(input: Int16Array, sampleRate: number): number | null {
  const range = lagRange(sampleRate, input.length);
  if (!range) return null;
  const estimate = bestLag(input, range[0], range[1]);
  if (estimate.correlation >= MIN_PERIODICITY || rms(input) < QUIET_RMS) return estimate.lag;
  return null;
}

/**
 * Removes one pitch period: the first two periods become one crossfaded period
 * (output = fade(x[0..P) → x[P..2P)) followed by x[2P..]).
 */
export function accelerate(input: Int16Array, sampleRate: number): StretchResult {
  const lag = suitablePeriod(input, sampleRate);
  if (lag === null) return { output: input, changedSamples: 0 };
  const output = new Int16Array(input.length - lag);
  crossfade(input, 0, input, lag, lag, output, 0);
  output.set(input.subarray(2 * lag), lag);
  return { output, changedSamples: -lag };
}

/**
 * Inserts one pitch period: x[0..P), then a period fading from x[P..2P) into x[0..P),
 * then x[P..] again, so both joins are continuous.
 */
export function preemptiveExpand(input: Int16Array, sampleRate: number): StretchResult {
  const lag = suitablePeriod(input, sampleRate);
  if (lag === null) return { output: input, changedSamples: 0 };
  const output = new Int16Array(input.length + lag);
  output.set(input.subarray(0, lag), 0);
  crossfade(input, lag, input, 0, lag, output, lag);
  output.set(input.subarray(lag), 2 * lag);
  return { output, changedSamples: lag };
}

/** Crossfades the start of `decoded` with `continuation` (the concealment's next samples) (NetEQ Merge). */
export function mergeAfterConcealment(continuation: Int16Array, decoded: Int16Array): Int16Array {
  const length = Math.min(continuation.length, decoded.length);
  const output = Int16Array.from(decoded);
  crossfade(continuation, 0, decoded, 0, length, output, 0);
  return output;
}
