import type { AudioCodecName } from '../util/index.js';
import type { AudioDecoder, AudioEncoder } from './codec.js';
import { decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw } from './g711.js';
import { G711Concealer } from './g711-plc.js';

/** RTP/AVP encoding names (RFC 3551 §4.5.14): static payload types 0 and 8. */
export type G711Law = Extract<AudioCodecName, 'PCMU' | 'PCMA'>;

const G711_RATE = 8000;

function checkLaw(law: G711Law): void {
  if (law !== 'PCMU' && law !== 'PCMA') throw new TypeError(`not a G.711 law: ${String(law)}`);
}

/**
 * G.711 decoder whose conceal() runs the Appendix I PLC. All output, decoded or concealed,
 * passes through the concealer's history and so lags by G711Concealer.delaySamples (3.75 ms).
 */
export class G711Decoder implements AudioDecoder {
  readonly name: G711Law;
  readonly sampleRate = G711_RATE;
  readonly rtpClockRate = G711_RATE;
  readonly #concealer = new G711Concealer();
  #closed = false;

  constructor(law: G711Law) {
    checkLaw(law);
    this.name = law;
  }

  decode(payload: Uint8Array): Int16Array {
    this.#assertOpen();
    const pcm = this.name === 'PCMU' ? decodeMulaw(payload) : decodeAlaw(payload);
    return this.#concealer.process(pcm);
  }

  /**
   * Appendix I conceals whole 10 ms frames. A shorter request (the jitter buffer's 5 ms merge
   * continuation) gets the head of a whole frame; the rest is dropped, a 5 ms skip inside a
   * loss event that the next good frame's overlap-add smooths.
   */
  conceal(samples: number): Int16Array {
    this.#assertOpen();
    const frame = G711Concealer.frameSamples;
    const whole = Math.ceil(samples / frame) * frame;
    const out = this.#concealer.conceal(whole);
    return whole === samples ? out : out.slice(0, samples);
  }

  close(): void {
    this.#closed = true;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error(`${this.name} decoder is closed`);
  }
}

export class G711Encoder implements AudioEncoder {
  readonly name: G711Law;
  readonly sampleRate = G711_RATE;
  readonly rtpClockRate = G711_RATE;
  #closed = false;

  constructor(law: G711Law) {
    checkLaw(law);
    this.name = law;
  }

  encode(pcm: Int16Array): Uint8Array {
    if (this.#closed) throw new Error(`${this.name} encoder is closed`);
    return this.name === 'PCMU' ? encodeMulaw(pcm) : encodeAlaw(pcm);
  }

  close(): void {
    this.#closed = true;
  }
}
