/**
 * A plain receiver for replay tests: plays packets in sequence order after a fixed start delay, conceals an empty or gapped queue one 20 ms
 * frame at a time. No adaptive delay, no FEC, no time-stretching.
 */
import type { AudioDecoder, ReceivedRtp } from '../media/index.js';
import type { PacketReceiver } from './pipeline.js';

const START_DELAY_FRAMES = 2;
const FRAME_MS = 20;
/** Packets held at most; the oldest is dropped beyond it. */
const MAX_QUEUED = 512;

/** RFC 3550 §A.1 style modular comparison of 16-bit sequence numbers. */
function sequenceBefore(a: number, b: number): boolean {
  return ((b - a + 0x10000) & 0xffff) < 0x8000 && a !== b;
}

export class SequentialPlayout implements PacketReceiver {
  #queue: ReceivedRtp[] = [];
  #pending = new Int16Array(0);
  #pulls = 0;
  #nextSequence: number | undefined;
  #concealedFrames = 0;
  #droppedLate = 0;
  #lastPacketSamples: number;

  readonly #decoder: AudioDecoder;

  constructor(decoder: AudioDecoder) {
    this.#decoder = decoder;
    this.#lastPacketSamples = (decoder.sampleRate * FRAME_MS) / 1000;
  }

  insert(packet: ReceivedRtp): void {
    if (this.#nextSequence !== undefined && sequenceBefore(packet.sequenceNumber, this.#nextSequence)) {
      this.#droppedLate++;
      return;
    }
    let at = this.#queue.length;
    while (
      at > 0 &&
      sequenceBefore(packet.sequenceNumber, (this.#queue[at - 1] as ReceivedRtp).sequenceNumber)
    )
      at--;
    if (this.#queue[at - 1]?.sequenceNumber === packet.sequenceNumber) return; // duplicate
    this.#queue.splice(at, 0, packet);
    if (this.#queue.length > MAX_QUEUED) this.#queue.shift();
  }

  pull(): Int16Array {
    const frame = (this.#decoder.sampleRate * FRAME_MS) / 1000;
    if (this.#pulls++ < START_DELAY_FRAMES) return new Int16Array(frame);
    while (this.#pending.length < frame) this.#append(this.#nextPcm(frame - this.#pending.length));
    const out = this.#pending.slice(0, frame);
    this.#pending = this.#pending.slice(frame);
    return out;
  }

  stats(): Record<string, number> {
    return {
      bufferDelayMs: this.#queue.length * FRAME_MS,
      targetDelayMs: START_DELAY_FRAMES * FRAME_MS,
      concealedFrames: this.#concealedFrames,
      droppedLate: this.#droppedLate,
    };
  }

  #nextPcm(missing: number): Int16Array {
    const head = this.#queue[0];
    const inOrder = head && (this.#nextSequence === undefined || head.sequenceNumber === this.#nextSequence);
    if (head && inOrder) {
      this.#queue.shift();
      this.#nextSequence = (head.sequenceNumber + 1) & 0xffff;
      const pcm = this.#decoder.decode(head.payload);
      if (pcm.length > 0) this.#lastPacketSamples = pcm.length;
      return pcm;
    }
    this.#concealedFrames++;
    if (!head || this.#nextSequence === undefined) return this.#decoder.conceal(missing); // underrun: wait
    // A gap before the head: conceal one packet's worth and move past the missing packet.
    this.#nextSequence = (this.#nextSequence + 1) & 0xffff;
    return this.#decoder.conceal(this.#lastPacketSamples);
  }

  #append(pcm: Int16Array): void {
    const joined = new Int16Array(this.#pending.length + pcm.length);
    joined.set(this.#pending);
    joined.set(pcm, this.#pending.length);
    this.#pending = joined;
  }
}
