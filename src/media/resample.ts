/**
 * Resampling between the rates the gateway bridges (8, 16, 24 and 48 kHz, every direction):
 * speexdsp's resampler (the polyphase Kaiser-windowed sinc every softphone uses), compiled to
 * WASM with SIMD. Measured in `bench/resampler.ts` at several times the speed of the pure
 * TypeScript polyphase filter it replaced (kept as the bench's baseline), with the same output
 * within rounding. Streaming: the filter history carries across calls, so 20 ms frames give
 * the same output as one long buffer; a frame of n input samples gives n * out / in outputs
 * (every supported pair divides a 20 ms frame exactly).
 */
import loadSpeexWasm, { type SpeexWasm } from '@echogarden/speex-resampler-wasm/simd';

const SUPPORTED_RATES = new Set([8000, 16000, 24000, 48000]);
/** speexdsp's quality 4 ("VoIP"): 64 taps per phase before stretching, 100 dB stopband. */
const DEFAULT_RESAMPLER_QUALITY = 4;
/** Input samples the WASM buffers hold at first: a 20 ms frame at 48 kHz; grown on demand. */
const INITIAL_INPUT_SAMPLES = 960;

let wasm: Promise<SpeexWasm> | undefined;

/** The WASM module, instantiated once per process (and per worker thread). */
function speexWasm(): Promise<SpeexWasm> {
  wasm ??= loadSpeexWasm();
  return wasm;
}

/**
 * One direction of one call. `process` returns a view of a buffer this resampler owns, valid
 * until its next call: the per-frame path allocates nothing. `close` frees its WASM memory.
 */
export class Resampler {
  readonly inRate: number;
  readonly outRate: number;
  /** Group delay of the filter, in output samples (the output lags the input by this much). */
  readonly delaySamples: number;
  readonly #wasm: SpeexWasm;
  readonly #state: number;
  /** Two uint32 lengths: input samples offered / consumed, output room / written. */
  readonly #lengths: number;
  #input = 0;
  #output = 0;
  #capacity = 0;
  #out = new Int16Array(0);
  #closed = false;

  private constructor(module: SpeexWasm, inRate: number, outRate: number, quality: number) {
    this.#wasm = module;
    this.inRate = inRate;
    this.outRate = outRate;
    this.#lengths = module._malloc(8);
    this.#state = module._speex_resampler_init(1, inRate, outRate, quality, this.#lengths);
    if (this.#state === 0) throw new Error(`speex resampler ${inRate} -> ${outRate} failed to start`);
    this.delaySamples = module._speex_resampler_get_output_latency(this.#state);
    this.#reserve(INITIAL_INPUT_SAMPLES);
  }

  static async create(
    inRate: number,
    outRate: number,
    options: { quality?: number } = {},
  ): Promise<Resampler> {
    if (!SUPPORTED_RATES.has(inRate) || !SUPPORTED_RATES.has(outRate))
      throw new RangeError(`unsupported resampling ${inRate} -> ${outRate}`);
    const quality = options.quality ?? DEFAULT_RESAMPLER_QUALITY;
    if (!Number.isInteger(quality) || quality < 0 || quality > 10)
      throw new RangeError(`quality must be 0..10, got ${quality}`);
    return new Resampler(await speexWasm(), inRate, outRate, quality);
  }

  process(input: Int16Array): Int16Array {
    if (this.#closed) return this.#out.subarray(0, 0);
    if (input.length > this.#capacity) this.#reserve(input.length);
    const module = this.#wasm;
    // Views are read afresh each call: growing WASM memory replaces them.
    module.HEAP16.set(input, this.#input >> 1);
    const lengths = this.#lengths >> 2;
    module.HEAPU32[lengths] = input.length;
    module.HEAPU32[lengths + 1] = this.#out.length;
    module._speex_resampler_process_int(
      this.#state,
      0,
      this.#input,
      this.#lengths,
      this.#output,
      this.#lengths + 4,
    );
    const written = module.HEAPU32[lengths + 1] ?? 0;
    const start = this.#output >> 1;
    this.#out.set(module.HEAP16.subarray(start, start + written));
    return this.#out.subarray(0, written);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const module = this.#wasm;
    module._speex_resampler_destroy(this.#state);
    module._free(this.#input);
    module._free(this.#output);
    module._free(this.#lengths);
  }

  /** WASM buffers for `samples` input samples and the most output they can make. */
  #reserve(samples: number): void {
    const module = this.#wasm;
    if (this.#capacity > 0) {
      module._free(this.#input);
      module._free(this.#output);
    }
    const outputSamples = Math.ceil((samples * this.outRate) / this.inRate) + 16;
    this.#input = module._malloc(samples * 2);
    this.#output = module._malloc(outputSamples * 2);
    this.#capacity = samples;
    this.#out = new Int16Array(outputSamples);
  }
}
