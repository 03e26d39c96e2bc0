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

interface PitchEstimate {
  lag: number;
  correlation: number;
}

function bestLag(input: Int16Array, minLag: number, maxLag: number): PitchEstimate {
  let best: PitchEstimate = { lag: minLag, correlation: -1 };
  for (let lag = minLag; lag <= maxLag; lag++) {
    let cross = 0;
    let energyA = 0;
    let energyB = 0;
    for (let i = 0; i < lag; i++) {
      const a = input[i] ?? 0;
      const b = input[i + lag] ?? 0;
      cross += a * b;
      energyA += a * a;
      energyB += b * b;
    }
    const norm = Math.sqrt(energyA * energyB);
    const correlation = norm > 0 ? cross / norm : 1;
    if (correlation > best.correlation) best = { lag, correlation };
  }
  return best;
}

function rms(input: Int16Array): number {
  let sum = 0;
  for (const s of input) sum += s * s;
  return input.length > 0 ? Math.sqrt(sum / input.length) : 0;
}

/** Linear crossfade from `from` to `to` over `length` samples. */
function crossfade(
  from: Int16Array,
  fromStart: number,
  to: Int16Array,
  toStart: number,
  length: number,
): Int16Array {
  const out = new Int16Array(length);
  for (let i = 0; i < length; i++) {
    const w = (i + 1) / (length + 1);
    out[i] = Math.round((from[fromStart + i] ?? 0) * (1 - w) + (to[toStart + i] ?? 0) * w);
  }
  return out;
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
  output.set(crossfade(input, 0, input, lag, lag), 0);
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
  output.set(crossfade(input, lag, input, 0, lag), lag);
  output.set(input.subarray(lag), 2 * lag);
  return { output, changedSamples: lag };
}

/** Crossfades the start of `decoded` with `continuation` (the concealment's next samples) (NetEQ Merge). */
export function mergeAfterConcealment(continuation: Int16Array, decoded: Int16Array): Int16Array {
  const length = Math.min(continuation.length, decoded.length);
  const output = Int16Array.from(decoded);
  output.set(crossfade(continuation, 0, decoded, 0, length), 0);
  return output;
}
