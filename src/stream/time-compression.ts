/**
 * Plays periodic audio faster by removing whole pitch periods, like the "accelerate" operation
 * of WebRTC's NetEQ: find the longest lag L (2.5-15 ms) at which the audio repeats closely
 * (normalised correlation 0.9 or more: one period or a few), cross-fade the first L samples
 * into the next L, so N + L input samples become N output samples with no seam and no change
 * of pitch.
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
/** Below this mean energy per sample (about -50 dBFS) the frame is left to the silence trim. */
const MIN_ENERGY_PER_SAMPLE = 100 * 100;

export class TimeCompressor {
  readonly frameSamples: number;
  readonly minLag: number;
  readonly maxLag: number;
  /** The input a compressed frame needs: a frame and the longest period after it. */
  readonly input: Int16Array;

  constructor(sampleRate: number, frameSamples: number) {
    this.frameSamples = frameSamples;
    this.minLag = Math.max(2, Math.round((sampleRate * MIN_LAG_MS) / 1000));
    // The cross-fade spans one period inside the frame, so a period is at most a frame.
    this.maxLag = Math.min(frameSamples, Math.round((sampleRate * MAX_LAG_MS) / 1000));
    this.input = new Int16Array(frameSamples + this.maxLag);
  }

  /**
   * The period to remove from `input` (filled with `frameSamples + maxLag` samples), at most
   * `limit` samples; 0 when the audio does not repeat closely within that, or is too quiet.
   */
  findPeriod(limit: number): number {
    const maxLag = Math.min(this.maxLag, limit);
    if (maxLag < this.minLag) return 0;
    // The longest lag that repeats: the most delay given back per frame, and a stricter test
    // (two whole periods alike) than a short one.
    let best = 0;
    for (let lag = maxLag; lag >= this.minLag && best === 0; lag -= 2)
      if (this.#correlation(lag, 2) >= MIN_CORRELATION) best = lag;
    if (best === 0) return 0;
    // Climb to the peak of that repetition: a lag a little off the period also passes.
    let bestScore = this.#correlation(best, 1);
    for (const step of [-1, 1]) {
      for (let lag = best + step; lag >= this.minLag && lag <= maxLag; lag += step) {
        const score = this.#correlation(lag, 1);
        if (score <= bestScore) break;
        bestScore = score;
        best = lag;
      }
    }
    return bestScore >= MIN_CORRELATION ? best : 0;
  }

  /**
   * Writes the compressed frame into `output` (frameSamples long): the first `period` samples
   * fade from the first period into the second, the rest is the input after the second.
   */
  compress(period: number, output: Int16Array): void {
    const input = this.input;
    for (let i = 0; i < period; i++) {
      const weight = (i + 1) / (period + 1);
      output[i] = Math.round((input[i] as number) * (1 - weight) + (input[i + period] as number) * weight);
    }
    for (let i = period; i < this.frameSamples; i++) output[i] = input[i + period] as number;
  }

  /**
   * Normalised correlation of the first `lag` samples with the next `lag`, over the sample
   * stride given; negative or too quiet scores 0.
   */
  #correlation(lag: number, stride: number): number {
    const input = this.input;
    let cross = 0;
    let energyA = 0;
    let energyB = 0;
    for (let i = 0; i < lag; i += stride) {
      const a = input[i] as number;
      const b = input[i + lag] as number;
      cross += a * b;
      energyA += a * a;
      energyB += b * b;
    }
    const samples = Math.ceil(lag / stride);
    if (cross <= 0 || energyA < MIN_ENERGY_PER_SAMPLE * samples || energyB < MIN_ENERGY_PER_SAMPLE * samples)
      return 0;
    return cross / Math.sqrt(energyA * energyB);
  }
}
