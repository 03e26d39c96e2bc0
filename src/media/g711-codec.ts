import type { AudioCodecName } from '../util/index.js';
import type { AudioDecoder, AudioEncoder } from './codec.js';
import { decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw } from './g711.js';
import { G711Concealer } from './g711-plc.js';

/** RTP/AVP encoding names (RFC 3551 §4.5.14): static payload types 0 and 8. */
type G711Law = Extract<AudioCodecName, 'PCMU' | 'PCMA'>;

const G711_RATE = 8000;

function checkLaw(law: G711Law): void {
  if (law !== 'PCMU' && law !== 'PCMA') throw new TypeError(`not a G.711 law: ${String(law)}`);
}

/**
 * G.711 decoder whose conceal() runs the Appendix I PLC. All output, decoded or concealed,
 * passes through the concealer's history and so lags by G711Concealer.delaySamples (3.75 ms).
 * Output goes to buffers the decoder owns (one for decode, one for conceal), valid until the
 * next call of the same method: a 20 ms frame allocates nothing.
 */
export class G711Decoder implements AudioDecoder {
  readonly name: G711Law;
  readonly sampleRate = G711_RATE;
  readonly rtpClockRate = G711_RATE;
  readonly #concealer = new G711Concealer();
  #decoded = new Int16Array(0);
  #concealed = new Int16Array(0);
  #closed = false;

  constructor(law: G711Law) {
    checkLaw(law);
    this.name = law;
  }

  decode(payload: Uint8Array): Int16Array {
    this.#assertOpen();
    if (this.#decoded.length !== payload.length) this.#decoded = new Int16Array(payload.length);
    const pcm = this.#decoded;
    if (this.name === 'PCMU') decodeMulaw(payload, pcm);
    else decodeAlaw(payload, pcm);
    return this.#concealer.process(pcm, pcm);
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
    if (this.#concealed.length !== whole) this.#concealed = new Int16Array(whole);
    const out = this.#concealed;
    this.#concealer.conceal(whole, out);
    return whole === samples ? out : out.subarray(0, samples);
  }

  close(): void {
    this.#closed = true;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error(`${this.name} decoder is closed`);
  }
}

/** G.711 encoder writing into a payload buffer it owns, valid until the next encode(). */
export class G711Encoder implements AudioEncoder {
  readonly name: G711Law;
  readonly sampleRate = G711_RATE;
  readonly rtpClockRate = G711_RATE;
  #payload = new Uint8Array(0);
  #closed = false;

  constructor(law: G711Law) {
    checkLaw(law);
    this.name = law;
  }

  encode(pcm: Int16Array): Uint8Array {
    if (this.#closed) throw new Error(`${this.name} encoder is closed`);
    if (this.#payload.length !== pcm.length) this.#payload = new Uint8Array(pcm.length);
    return this.name === 'PCMU' ? encodeMulaw(pcm, this.#payload) : encodeAlaw(pcm, this.#payload);
  }

  close(): void {
    this.#closed = true;
  }
}
