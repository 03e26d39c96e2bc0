/**
 * The audio a receiver has produced and not yet played: decoded samples, and while frames pass
 * as bytes (AudioReceiver.pullPassing), the bytes of the last passed packet that did not fit
 * its frame. Frames are 20 ms and packets usually are too, but a time stretch leaves part of a
 * packet over, and from then on every frame is the end of one packet and the start of the next:
 * kept as bytes, that part goes out as it came, never decoded, until something needs samples.
 */
import { SampleFifo } from '../../util/index.js';
import type { SampleBytes } from '../codec.js';

export class PendingAudio {
  readonly #samples: SampleFifo;
  readonly #frameSamples: number;
  /** Bytes after the decoded samples (there are none while any are carried), and their codec. */
  readonly #carry: Uint8Array;
  #carried = 0;
  #carryCodec: SampleBytes | undefined;
  /** The frame passFrame() hands out when something leads the packet. */
  readonly #frame: Uint8Array;
  readonly #scratch: Int16Array;

  constructor(frameSamples: number) {
    this.#frameSamples = frameSamples;
    // Room for a frame left over plus a long packet, stretched: growing past it is rare.
    this.#samples = new SampleFifo(4 * frameSamples);
    this.#carry = new Uint8Array(frameSamples);
    this.#frame = new Uint8Array(frameSamples);
    this.#scratch = new Int16Array(frameSamples);
  }

  /** Samples held, decoded or carried as bytes. */
  get length(): number {
    return this.#samples.length + this.#carried;
  }

  write(samples: Int16Array): void {
    this.#decodeCarry();
    this.#samples.write(samples);
  }

  writeSilence(count: number): void {
    this.#decodeCarry();
    this.#samples.writeSilence(count);
  }

  /** Moves the oldest `out.length` samples into `out`. */
  read(out: Int16Array): void {
    this.#decodeCarry();
    this.#samples.read(out);
  }

  /**
   * The frame read() would give after write(decode(packet)), for a packet that passed as
   * `passed` (one frame of bytes, with less than a frame held): what is held leads it, and the
   * packet's bytes beyond the frame are carried to lead the next. Valid until the next call.
   */
  passFrame(passed: Uint8Array, codec: SampleBytes): Uint8Array {
    const held = this.length;
    if (held === 0) return passed;
    const frame = this.#frame;
    const carry = this.#carry;
    const head = this.#frameSamples - held;
    if (this.#carried > 0) for (let i = 0; i < held; i++) frame[i] = carry[i] as number;
    else {
      this.#samples.read(this.#scratch, held);
      codec.encode(this.#scratch, held, frame, 0);
    }
    // Loops rather than set(subarray): a view would be an allocation per frame.
    for (let i = 0; i < head; i++) frame[held + i] = passed[i] as number;
    for (let i = 0; i < held; i++) carry[i] = passed[head + i] as number;
    this.#carried = held;
    this.#carryCodec = codec;
    return frame;
  }

  /** Samples are asked for or added: the carried bytes become the samples they stand for. */
  #decodeCarry(): void {
    if (this.#carried === 0 || !this.#carryCodec) return;
    this.#carryCodec.decode(this.#carry, 0, this.#carried, this.#scratch);
    this.#samples.write(this.#scratch, this.#carried);
    this.#carried = 0;
  }
}
