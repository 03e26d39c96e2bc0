/**
 * The pure TypeScript polyphase resampler (Kaiser-windowed sinc, speexdsp's design and
 * quality table) the gateway used before it took speexdsp's own, compiled to WASM: kept as
 * bench/resampler.ts's baseline and as the reference its output is checked against. Streaming:
 * the filter history is carried across calls; after n input samples the output count is always
 * ceil(n * out / in).
 */

const SUPPORTED_RATES = new Set([8000, 16000, 24000, 48000]);

/** speexdsp's quality table: taps per phase, cutoff (fraction of Nyquist), stopband dB. */
const QUALITY_TABLE: ReadonlyArray<{ taps: number; cutoff: number; stopbandDb: number }> = [
  { taps: 8, cutoff: 0.832, stopbandDb: 60 },
  { taps: 16, cutoff: 0.885, stopbandDb: 60 },
  { taps: 32, cutoff: 0.882, stopbandDb: 80 },
  { taps: 48, cutoff: 0.895, stopbandDb: 80 },
  { taps: 64, cutoff: 0.921, stopbandDb: 100 },
  { taps: 80, cutoff: 0.922, stopbandDb: 100 },
  { taps: 96, cutoff: 0.94, stopbandDb: 100 },
  { taps: 128, cutoff: 0.94, stopbandDb: 100 },
  { taps: 160, cutoff: 0.945, stopbandDb: 100 },
  { taps: 192, cutoff: 0.95, stopbandDb: 120 },
  { taps: 256, cutoff: 0.975, stopbandDb: 120 },
];

const DEFAULT_QUALITY = 4;

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Zeroth-order modified Bessel function of the first kind (series), for the Kaiser window. */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50 && term > 1e-12 * sum; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
  }
  return sum;
}

/** Kaiser's beta for a stopband attenuation in dB (Kaiser 1974 formula, A > 50). */
function kaiserBeta(stopbandDb: number): number {
  return 0.1102 * (stopbandDb - 8.7);
}

export class PolyphaseResampler {
  readonly inRate: number;
  readonly outRate: number;
  /** Group delay of the filter, in output samples (the output lags the input by this much). */
  readonly delaySamples: number;
  readonly #upFactor: number;
  readonly #downFactor: number;
  readonly #taps: number;
  /** Phase-major filter bank: phase p's taps are filters[p * taps .. (p + 1) * taps). */
  readonly #filters: Float64Array;
  #work: Float64Array;
  /** Index of the input sample under the next output, relative to the next input chunk. */
  #nextIndex = 0;
  #phase = 0;

  constructor(inRate: number, outRate: number, options: { quality?: number } = {}) {
    if (!SUPPORTED_RATES.has(inRate) || !SUPPORTED_RATES.has(outRate))
      throw new RangeError(`unsupported resampling ${inRate} -> ${outRate}`);
    const quality = options.quality ?? DEFAULT_QUALITY;
    const params = QUALITY_TABLE[quality];
    if (!params || !Number.isInteger(quality)) throw new RangeError(`quality must be 0..10, got ${quality}`);
    this.inRate = inRate;
    this.outRate = outRate;
    const divisor = gcd(inRate, outRate);
    this.#upFactor = outRate / divisor;
    this.#downFactor = inRate / divisor;
    // Downsampling lowers the cutoff, so the filter gets proportionally longer (as speexdsp does).
    const stretch = Math.max(1, this.#downFactor / this.#upFactor);
    this.#taps = 4 * Math.ceil((params.taps * stretch) / 4);
    this.delaySamples = ((this.#taps / 2) * this.#upFactor) / this.#downFactor;
    this.#filters = this.#designFilters(params.cutoff / stretch, kaiserBeta(params.stopbandDb));
    this.#work = new Float64Array(this.#taps - 1 + 960);
  }

  /**
   * Output k sits at input time k*down/up - taps/2: a causal filter whose taps all lie at or
   * before the newest input, so each output is available as soon as its input arrives.
   */
  #designFilters(cutoff: number, beta: number): Float64Array {
    const taps = this.#taps;
    const upFactor = this.#upFactor;
    const half = taps / 2;
    const filters = new Float64Array(upFactor * taps);
    const windowNorm = besselI0(beta);
    for (let p = 0; p < upFactor; p++) {
      let sum = 0;
      const row = new Float64Array(taps);
      for (let j = 0; j < taps; j++) {
        const t = p / upFactor - half + (taps - 1 - j);
        const x = t / half;
        const window = Math.abs(x) >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - x * x)) / windowNorm;
        const arg = Math.PI * cutoff * t;
        const sinc = t === 0 ? 1 : Math.sin(arg) / arg;
        row[j] = cutoff * sinc * window;
        sum += row[j] ?? 0;
      }
      // Unit gain at DC for every phase, so no phase-dependent ripple on low tones.
      for (let j = 0; j < taps; j++) filters[p * taps + j] = (row[j] ?? 0) / sum;
    }
    return filters;
  }

  process(input: Int16Array): Int16Array {
    const taps = this.#taps;
    const upFactor = this.#upFactor;
    const downFactor = this.#downFactor;
    const filters = this.#filters;
    const history = taps - 1;
    if (this.#work.length < history + input.length) {
      const grown = new Float64Array(history + input.length);
      grown.set(this.#work.subarray(0, history));
      this.#work = grown;
    }
    const work = this.#work;
    for (let n = 0; n < input.length; n++) work[history + n] = input[n] ?? 0;

    const outputCount =
      this.#nextIndex < input.length
        ? Math.ceil(((input.length - this.#nextIndex) * upFactor - this.#phase) / downFactor)
        : 0;
    const output = new Int16Array(outputCount);
    let index = this.#nextIndex;
    let phase = this.#phase;
    for (let k = 0; k < outputCount; k++) {
      const base = phase * taps;
      // Four accumulators break the add dependency chain (taps is always a multiple of 4).
      let acc0 = 0;
      let acc1 = 0;
      let acc2 = 0;
      let acc3 = 0;
      for (let j = 0; j < taps; j += 4) {
        acc0 += work[index + j]! * filters[base + j]!;
        acc1 += work[index + j + 1]! * filters[base + j + 1]!;
        acc2 += work[index + j + 2]! * filters[base + j + 2]!;
        acc3 += work[index + j + 3]! * filters[base + j + 3]!;
      }
      const acc = acc0 + acc1 + acc2 + acc3;
      output[k] = acc >= 32767 ? 32767 : acc <= -32768 ? -32768 : Math.round(acc);
      phase += downFactor;
      while (phase >= upFactor) {
        phase -= upFactor;
        index++;
      }
    }
    this.#nextIndex = index - input.length;
    this.#phase = phase;
    // Keep the newest taps-1 samples as history for the next chunk.
    work.copyWithin(0, input.length, input.length + history);
    return output;
  }
}
