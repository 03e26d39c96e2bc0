/**
 * Plays periodic audio faster by removing whole pitch periods, like the "accelerate" operation
 * of WebRTC's NetEQ: find the longest lag L (2.5-15 ms) at which the audio repeats closely
 * (Pearson correlation 0.9 or more: one period or a few) and skip L samples (or, with less
 * delay left to give back than L, the whole periods of L that fit), joined with a short
 * cross-fade where the audio and its repetition agree best, so N + L input samples become N
 * output samples with no seam and no change of pitch.
 * Voiced speech and tones repeat at their pitch period; noise and unvoiced sounds do not and are
 * left alone. It serves the playout to give back standing delay in audio that has no pause.
 *
 * Cost is bounded: a coarse search from the longest lag down, every second lag on every second
 * sample, then up the peak of the first that repeats: at most about 5,000 multiply-adds per 20 ms
 * frame at 8 kHz; no allocation after construction.
 */

/** Below this the audio does not repeat closely enough to remove a period unheard. */
const MIN_CORRELATION = 0.9;
/** Pitch periods searched: 400 Hz down to ~67 Hz, every voice. */
const MIN_LAG_MS = 2.5;
const MAX_LAG_MS = 15;
/** The cross-fade where the two periods are joined. */
const JOIN_FADE_MS = 2;
/** Below this mean energy per sample (about -50 dBFS) the frame is left to the silence trim. */
const MIN_ENERGY_PER_SAMPLE = 100 * 100;

export class TimeCompressor {
  readonly frameSamples: number;
  readonly minLag: number;
  readonly maxLag: number;
  /** The input a compressed frame needs: a frame and the longest period after it. */
  readonly input: Int16Array;
  readonly #fadeSamples: number;

  constructor(sampleRate: number, frameSamples: number) {
    this.frameSamples = frameSamples;
    this.minLag = Math.max(2, Math.round((sampleRate * MIN_LAG_MS) / 1000));
    // The cross-fade spans one period inside the frame, so a period is at most a frame.
    this.maxLag = Math.min(frameSamples, Math.round((sampleRate * MAX_LAG_MS) / 1000));
    this.input = new Int16Array(frameSamples + this.maxLag);
    this.#fadeSamples = Math.max(1, Math.round((sampleRate * JOIN_FADE_MS) / 1000));
  }

  /**
   * The period to remove from `input` (filled with `frameSamples + maxLag` samples), at most
   * `limit` samples; 0 when the audio does not repeat closely within that, or is too quiet.
   */
  findPeriod(limit: number): number {
    if (limit < this.minLag) return 0;
    const longest = this.#longestRepeatingLag();
    if (longest === 0) return 0;
    // Only whole periods go, or the seam is a jump of phase: the longest lag, or when the
    // budget is shorter a part of it (a multiple of the period divided by a whole number)
    // that repeats over as long a stretch. Searched up to the budget alone, a smooth low voice
    // also "repeats" at a short lag over its short window (a 100 Hz voice at 2.5-3 ms).
    for (let parts = 1; ; parts++) {
      const lag = Math.round(longest / parts);
      if (lag < this.minLag) return 0;
      if (lag > limit) continue;
      let best = 0;
      let bestScore = MIN_CORRELATION;
      for (let near = Math.max(this.minLag, lag - 1); near <= Math.min(limit, lag + 1); near++) {
        const score = this.#correlation(near, 1, longest);
        if (score >= bestScore) {
          best = near;
          bestScore = score;
        }
      }
      if (best !== 0) return best;
    }
  }

  /**
   * The longest lag (2.5-15 ms) at which the audio repeats, at the peak of that repetition; 0
   * when none does. The longest gives back the most delay per frame and is the strictest
   * test: two whole periods alike.
   */
  #longestRepeatingLag(): number {
    let best = 0;
    for (let lag = this.maxLag; lag >= this.minLag && best === 0; lag -= 2)
      if (this.#correlation(lag, 2) >= MIN_CORRELATION) best = lag;
    if (best === 0) return 0;
    // Climb to the peak of that repetition: a lag a little off the period also passes.
    let bestScore = this.#correlation(best, 1);
    for (const step of [-1, 1]) {
      for (let lag = best + step; lag >= this.minLag && lag <= this.maxLag; lag += step) {
        const score = this.#correlation(lag, 1);
        if (score <= bestScore) break;
        bestScore = score;
        best = lag;
      }
    }
    return bestScore >= MIN_CORRELATION ? best : 0;
  }

  /**
   * Writes the compressed frame into `output` (frameSamples long): the input up to the point
   * where it and the input `period` later agree best, a short cross-fade there, then the input
   * `period` later. Joining where the two periods agree, over 2 ms, leaves the rest of the
   * audio sample for sample as it was; a cross-fade over the whole period would blend every
   * sample of it with its neighbour a period away.
   */
  compress(period: number, output: Int16Array): void {
    const input = this.input;
    const fade = Math.min(period, this.#fadeSamples);
    const join = this.#bestJoin(period, fade);
    for (let i = 0; i < join; i++) output[i] = input[i] as number;
    for (let i = 0; i < fade; i++) {
      const weight = (i + 1) / (fade + 1);
      const from = input[join + i] as number;
      output[join + i] = Math.round(from + ((input[join + i + period] as number) - from) * weight);
    }
    for (let i = join + fade; i < this.frameSamples; i++) output[i] = input[i + period] as number;
  }

  /** Where in the frame the input and the input `period` later differ least over `fade` samples. */
  #bestJoin(period: number, fade: number): number {
    const input = this.input;
    let best = 0;
    let bestDistance = Number.POSITIVE_INFINITY;
    for (let join = 0; join + fade <= this.frameSamples; join++) {
      let distance = 0;
      for (let i = join; i < join + fade && distance < bestDistance; i++) {
        const difference = (input[i] as number) - (input[i + period] as number);
        distance += difference * difference;
      }
      if (distance < bestDistance) {
        bestDistance = distance;
        best = join;
        if (distance === 0) break;
      }
    }
    return best;
  }

  /**
   * Pearson correlation of the first `window` samples (default `lag`) with those `lag` later,
   * over the sample stride given: with their means removed, so a DC offset does not pass for a
   * repetition (audio that is mostly a constant level repeats at every lag, and a cross-fade
   * would smear what rides on it). Negative, or too quiet once the mean is removed, scores 0.
   */
  #correlation(lag: number, stride: number, window = lag): number {
    const input = this.input;
    let sumA = 0;
    let sumB = 0;
    let cross = 0;
    let energyA = 0;
    let energyB = 0;
    for (let i = 0; i < window; i += stride) {
      const a = input[i] as number;
      const b = input[i + lag] as number;
      sumA += a;
      sumB += b;
      cross += a * b;
      energyA += a * a;
      energyB += b * b;
    }
    const samples = Math.ceil(window / stride);
    const covariance = cross - (sumA * sumB) / samples;
    const varianceA = energyA - (sumA * sumA) / samples;
    const varianceB = energyB - (sumB * sumB) / samples;
    const quiet = MIN_ENERGY_PER_SAMPLE * samples;
    if (covariance <= 0 || varianceA < quiet || varianceB < quiet) return 0;
    return covariance / Math.sqrt(varianceA * varianceB);
  }
}
