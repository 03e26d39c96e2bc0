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

interface StretchResult {
  /** The input itself when unchanged, else a view valid until the next stretch or merge. */
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
 * Where stretched and merged audio is written, reused from call to call: the jitter buffer
 * copies each result into its FIFO at once, and a new array per stretched packet would be a
 * malloc'd backing store per packet for every call whose buffer is giving back a delay.
 */
let scratch = new Int16Array(0);

function outputOf(length: number): Int16Array {
  if (scratch.length < length) scratch = new Int16Array(Math.max(length, 2 * scratch.length));
  return scratch.subarray(0, length);
}

/**
 * The lag with the best normalised autocorrelation between input[0..lag) and input[lag..2 lag),
 * and that correlation (the first lag reaching the maximum). The windows' energies come from
 * one running sum of squares; the cross products of four neighbouring lags are summed in one
 * pass, each sample read once for all four. Every product and partial sum is an integer below
 * 2^53, so these sums are exact: no bit differs from summing each lag on its own.
 */
export function bestLag(
  input: Int16Array,
  minLag: number,
  maxLag: number,
): { lag: number; correlation: number } {
  const span = 2 * maxLag;
  if (energyPrefix.length < span + 1) energyPrefix = new Float64Array(span + 1);
  const energy = energyPrefix;
  energy[0] = 0;
  for (let i = 0; i < span; i++) {
    const sample = input[i] as number;
    energy[i + 1] = (energy[i] as number) + sample * sample;
  }
  const best = { lag: minLag, correlation: -1 };
  const consider = (lag: number, cross: number): void => {
    const energyA = energy[lag] as number;
    const norm = Math.sqrt(energyA * ((energy[2 * lag] as number) - energyA));
    const correlation = norm > 0 ? cross / norm : 1;
    if (correlation > best.correlation) {
      best.lag = lag;
      best.correlation = correlation;
    }
  };
  let lag = minLag;
  for (; lag + 3 <= maxLag; lag += 4) {
    // cross[k] = sum over i < lag + k of input[i] * input[i + lag + k]; the common i < lag first.
    let cross0 = 0;
    let cross1 = 0;
    let cross2 = 0;
    let cross3 = 0;
    let at0 = input[lag] as number;
    let at1 = input[lag + 1] as number;
    let at2 = input[lag + 2] as number;
    for (let i = 0; i < lag; i++) {
      const sample = input[i] as number;
      const at3 = input[i + lag + 3] as number;
      cross0 += sample * at0;
      cross1 += sample * at1;
      cross2 += sample * at2;
      cross3 += sample * at3;
      at0 = at1;
      at1 = at2;
      at2 = at3;
    }
    const tail0 = input[lag] as number;
    const tail1 = input[lag + 1] as number;
    const tail2 = input[lag + 2] as number;
    cross1 += tail0 * (input[2 * lag + 1] as number);
    cross2 += tail0 * (input[2 * lag + 2] as number) + tail1 * (input[2 * lag + 3] as number);
    cross3 +=
      tail0 * (input[2 * lag + 3] as number) +
      tail1 * (input[2 * lag + 4] as number) +
      tail2 * (input[2 * lag + 5] as number);
    consider(lag, cross0);
    consider(lag + 1, cross1);
    consider(lag + 2, cross2);
    consider(lag + 3, cross3);
  }
  for (; lag <= maxLag; lag++) {
    let cross = 0;
    for (let i = 0; i < lag; i++) cross += (input[i] as number) * (input[i + lag] as number);
    consider(lag, cross);
  }
  return best;
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

function longestRemovable(input: Int16Array, sampleRate: number): number | null {
  const range = lagRange(sampleRate, input.length);
  if (!range) return null;
  const maxLag = range[1];
  const estimate = bestLag(input, range[0], maxLag);
  if (estimate.correlation < MIN_PERIODICITY) return maxLag;
  return estimate.lag * Math.floor(maxLag / estimate.lag);
}

/**
 * Removes one pitch period: the first two periods become one crossfaded period
 * (output = fade(x[0..P) → x[P..2P)) followed by x[2P..]).
 *
 * `anySignal` (for audio already far too late) removes as much as one call may, whatever the
 * audio: as many whole periods as fit in the longest lag when the audio is periodic (the
 * joins stay in phase), else the longest lag itself. Loud aperiodic audio (noise, a
 * fricative, music) otherwise never gives back a delay, and after a stall a call would keep it
 * to the end; a crossfade across noise is as good as any other join.
 */
export function accelerate(input: Int16Array, sampleRate: number, anySignal = false): StretchResult {
  const lag = anySignal ? longestRemovable(input, sampleRate) : suitablePeriod(input, sampleRate);
  if (lag === null) return { output: input, changedSamples: 0 };
  const output = outputOf(input.length - lag);
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
  const output = outputOf(input.length + lag);
  output.set(input.subarray(0, lag), 0);
  crossfade(input, lag, input, 0, lag, output, lag);
  output.set(input.subarray(lag), 2 * lag);
  return { output, changedSamples: lag };
}

/**
 * Crossfades the start of `decoded` with `continuation` (the concealment's next samples) (NetEQ
 * Merge); the result is a view valid until the next stretch or merge.
 */
export function mergeAfterConcealment(continuation: Int16Array, decoded: Int16Array): Int16Array {
  const length = Math.min(continuation.length, decoded.length);
  const output = outputOf(decoded.length);
  output.set(decoded);
  crossfade(continuation, 0, decoded, 0, length, output, 0);
  return output;
}
