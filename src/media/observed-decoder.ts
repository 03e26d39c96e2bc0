/**
 * A decoder wrapper that sees what the jitter buffer asked of it: whether real audio has been
 * decoded yet (the end of the buffer's initial delay, for replay) and how many frames were
 * concealed or recovered from the next packet's in-band FEC (RFC 6716 §2.1.7, LBRR). A frame
 * passed coded (G.711 bytes carried as they came) counts as decoded.
 */
import type { AudioDecoder, SampleBytes } from './codec.js';

export class ObservedDecoder implements AudioDecoder {
  decodedFrames = 0;
  concealedSamples = 0;
  /** Lost frames rebuilt from in-band FEC. */
  recoveredFrames = 0;
  recoveredSamples = 0;
  readonly recoverFromNext?: (nextPayload: Uint8Array, samples: number) => Int16Array | null;
  readonly bytes?: SampleBytes;
  readonly #inner: AudioDecoder;

  constructor(inner: AudioDecoder) {
    this.#inner = inner;
    const recover = inner.recoverFromNext?.bind(inner);
    if (recover)
      this.recoverFromNext = (nextPayload, samples) => {
        const recovered = recover(nextPayload, samples);
        if (recovered) {
          this.recoveredFrames++;
          this.recoveredSamples += recovered.length;
        }
        return recovered;
      };
    const bytes = inner.bytes;
    if (bytes)
      this.bytes = {
        pass: (payload) => {
          const passed = bytes.pass(payload);
          if (passed) this.decodedFrames++;
          return passed;
        },
        encode: bytes.encode,
        decode: bytes.decode,
      };
  }

  get name(): string {
    return this.#inner.name;
  }
  get sampleRate(): number {
    return this.#inner.sampleRate;
  }
  get rtpClockRate(): number {
    return this.#inner.rtpClockRate;
  }

  decode(payload: Uint8Array): Int16Array {
    this.decodedFrames++;
    return this.#inner.decode(payload);
  }

  conceal(samples: number): Int16Array {
    this.concealedSamples += samples;
    return this.#inner.conceal(samples);
  }

  close(): void {
    this.#inner.close();
  }
}
