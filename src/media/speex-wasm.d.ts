/** The Emscripten build of speexdsp's resampler (BSD-3-Clause); only what patchbay calls. */
declare module '@echogarden/speex-resampler-wasm/simd' {
  export interface SpeexWasm {
    readonly HEAP16: Int16Array;
    readonly HEAP32: Int32Array;
    readonly HEAPU32: Uint32Array;
    _malloc(bytes: number): number;
    _free(pointer: number): void;
    _speex_resampler_init(
      channels: number,
      inRate: number,
      outRate: number,
      quality: number,
      errorPointer: number,
    ): number;
    _speex_resampler_destroy(state: number): void;
    _speex_resampler_process_int(
      state: number,
      channel: number,
      input: number,
      inputLengthPointer: number,
      output: number,
      outputLengthPointer: number,
    ): number;
    _speex_resampler_get_output_latency(state: number): number;
  }
  const load: () => Promise<SpeexWasm>;
  export default load;
}
