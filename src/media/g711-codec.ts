import type { AudioCodecName } from '../util/index.js';
import type { AudioDecoder, AudioEncoder, SampleBytes } from './codec.js';
import {
  decodeAlaw,
  decodeG711Range,
  decodeMulaw,
  encodeAlaw,
  encodeG711Range,
  encodeMulaw,
} from './g711.js';
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
  #passed = new Uint8Array(0);
  /** The delayed bytes of #codedHistory for a frame of #passed's length. */
  #passedView: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  /**
   * The delay line in this law's bytes while frames pass as bytes (`bytes.pass`). The concealer's
   * history gets the passed audio only when decode() or conceal() next needs it: a call with
   * no loss never decodes.
   */
  #codedHistory: Uint8Array<ArrayBuffer> | undefined;
  /** Bytes passed since the concealer's history last took audio (at most its length). */
  #passedSinceHistory = 0;
  #historyCoded = false;
  #historyScratch: Int16Array<ArrayBuffer> | undefined;
  #closed = false;

  readonly bytes: SampleBytes;

  constructor(law: G711Law) {
    checkLaw(law);
    this.name = law;
    this.bytes = {
      pass: (payload) => this.#pass(payload),
      encode: (pcm, count, out, at) => encodeG711Range(law, pcm, count, out, at),
      decode: (bytes, from, count, out) => decodeG711Range(law, bytes, from, count, out),
    };
  }

  decode(payload: Uint8Array): Int16Array {
    this.#assertOpen();
    this.#restoreHistory();
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
    this.#restoreHistory();
    const frame = G711Concealer.frameSamples;
    const whole = Math.ceil(samples / frame) * frame;
    if (this.#concealed.length !== whole) this.#concealed = new Int16Array(whole);
    const out = this.#concealed;
    this.#concealer.conceal(whole, out);
    return whole === samples ? out : out.subarray(0, samples);
  }

  /**
   * What decode() would give for `payload`, as this law's bytes and without decoding: G.711 is
   * one byte per sample, so the PLC's 3.75 ms delay line runs on the bytes, and the history a
   * concealment searches gets them decoded only when decode() or conceal() next runs (the same
   * history decoding them would have left). The bytes are encode(decode()) but for µ-law's
   * negative zero (0x7F), which stays as it came: the same sample. Undefined while a loss is
   * being joined (that cross-fade needs samples) or for a payload longer than one block.
   */
  #pass(payload: Uint8Array): Uint8Array | undefined {
    this.#assertOpen();
    const length = payload.length;
    const delay = G711Concealer.delaySamples;
    if (this.#concealer.joining || length > G711Concealer.maxWholeSamples) return undefined;
    const history = this.#codeHistory();
    const historyLength = history.length;
    // As G711Concealer's #saveWhole: one shift, then the delayed bytes out through a view.
    history.copyWithin(0, length);
    history.set(payload, historyLength - length);
    if (this.#passed.length !== length) {
      this.#passed = new Uint8Array(length);
      this.#passedView = history.subarray(historyLength - length - delay, historyLength - delay);
    }
    this.#passed.set(this.#passedView);
    this.#passedSinceHistory = Math.min(historyLength, this.#passedSinceHistory + length);
    return this.#passed;
  }

  close(): void {
    this.#closed = true;
  }

  /** The delay line as bytes, encoded from the concealer's history when it last held the audio. */
  #codeHistory(): Uint8Array<ArrayBuffer> {
    this.#codedHistory ??= new Uint8Array(G711Concealer.historySamples);
    if (!this.#historyCoded) {
      const samples = this.#scratch();
      this.#concealer.readHistory(samples);
      this.bytes.encode(samples, samples.length, this.#codedHistory, 0);
      this.#passedSinceHistory = 0;
      this.#historyCoded = true;
    }
    return this.#codedHistory;
  }

  /** Gives the concealer the audio passed coded since it last had the history, decoded. */
  #restoreHistory(): void {
    if (!this.#historyCoded || !this.#codedHistory) return;
    const count = this.#passedSinceHistory;
    const samples = this.#scratch();
    this.bytes.decode(this.#codedHistory, this.#codedHistory.length - count, count, samples);
    this.#concealer.appendHistory(samples.subarray(0, count));
    this.#historyCoded = false;
  }

  #scratch(): Int16Array<ArrayBuffer> {
    this.#historyScratch ??= new Int16Array(G711Concealer.historySamples);
    return this.#historyScratch;
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
