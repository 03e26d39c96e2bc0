/**
 * The audio a Playout queues and hands out, in the form its consumer takes: PCM samples, or
 * the bytes a µ-law bot sent, which a PCMU carrier then gets as they came, with no decode into
 * the queue and no encode out of it. Playout's decisions read the same levels from either
 * form (a µ-law byte's magnitude is a table lookup); fades and time compression work on
 * samples, and the µ-law form converts only the samples they touch.
 */
import {
  decodeG711Range,
  encodeMulaw,
  MULAW_SILENCE,
  mulawPeak,
  mulawToSample,
  sampleToMulaw,
} from '../media/index.js';
import { ByteFifo, SampleFifo } from '../util/index.js';

/** A frame as Playout hands it out: 16-bit PCM, or 8 kHz µ-law bytes. */
export type PlayoutFrame = Int16Array | Uint8Array;

export interface PlayoutAudio<F extends PlayoutFrame> {
  /** The frame handed out at each pull, reused. */
  readonly frame: F;
  /** Samples queued. */
  readonly length: number;
  write(audio: F, count: number): void;
  drop(count: number): void;
  /** Moves `count` queued samples to the start of the frame; returns their peak magnitude. */
  take(count: number): number;
  /** The peak magnitude of the next `count` queued samples (there must be that many). */
  peekPeak(count: number): number;
  /** The next `count` queued samples, as PCM, into `out`; they stay queued. */
  peekPcm(out: Int16Array, count: number): void;
  /** Where PCM for the whole frame is written before commitPcm() makes it the frame. */
  readonly pcmFrame: Int16Array;
  commitPcm(): void;
  sampleAt(index: number): number;
  setSample(index: number, sample: number): void;
  /** Silence from `from` to the end of the frame. */
  fillSilence(from: number): void;
}

/** The first room, in frames: a real-time bot's few frames; a burst grows it. */
const INITIAL_QUEUE_FRAMES = 8;

function pcmPeak(samples: Int16Array, count: number): number {
  let peak = 0;
  for (let i = 0; i < count; i++) {
    const sample = samples[i] as number;
    if (sample > peak) peak = sample;
    else if (-sample > peak) peak = -sample;
  }
  return peak;
}

export class PcmPlayoutAudio implements PlayoutAudio<Int16Array> {
  readonly frame: Int16Array;
  readonly #queue: SampleFifo;
  /** For peeks: holds `peekSamples` (the longest peek, the time compressor's input). */
  readonly #scratch: Int16Array;

  constructor(frameSamples: number, peekSamples: number) {
    this.frame = new Int16Array(frameSamples);
    this.#queue = new SampleFifo(INITIAL_QUEUE_FRAMES * frameSamples);
    this.#scratch = new Int16Array(peekSamples);
  }

  get length(): number {
    return this.#queue.length;
  }

  get pcmFrame(): Int16Array {
    return this.frame;
  }

  write(audio: Int16Array, count: number): void {
    this.#queue.write(audio, count);
  }

  drop(count: number): void {
    this.#queue.drop(count);
  }

  take(count: number): number {
    return pcmPeak(this.#queue.read(this.frame, count), count);
  }

  peekPeak(count: number): number {
    return pcmPeak(this.#queue.peek(this.#scratch, count), count);
  }

  peekPcm(out: Int16Array, count: number): void {
    this.#queue.peek(out, count);
  }

  commitPcm(): void {
    // pcmFrame is the frame.
  }

  sampleAt(index: number): number {
    return this.frame[index] as number;
  }

  setSample(index: number, sample: number): void {
    this.frame[index] = sample;
  }

  fillSilence(from: number): void {
    this.frame.fill(0, from);
  }
}

export class MulawPlayoutAudio implements PlayoutAudio<Uint8Array> {
  readonly frame: Uint8Array;
  readonly pcmFrame: Int16Array;
  readonly #queue: ByteFifo;
  readonly #scratch: Uint8Array;

  constructor(frameSamples: number, peekSamples: number) {
    this.frame = new Uint8Array(frameSamples);
    this.pcmFrame = new Int16Array(frameSamples);
    this.#queue = new ByteFifo(INITIAL_QUEUE_FRAMES * frameSamples);
    this.#scratch = new Uint8Array(peekSamples);
  }

  get length(): number {
    return this.#queue.length;
  }

  write(audio: Uint8Array, count: number): void {
    this.#queue.write(audio, count);
  }

  drop(count: number): void {
    this.#queue.drop(count);
  }

  take(count: number): number {
    return mulawPeak(this.#queue.read(this.frame, count), count);
  }

  peekPeak(count: number): number {
    return mulawPeak(this.#queue.peek(this.#scratch, count), count);
  }

  peekPcm(out: Int16Array, count: number): void {
    decodeG711Range('PCMU', this.#queue.peek(this.#scratch, count), 0, count, out);
  }

  commitPcm(): void {
    encodeMulaw(this.pcmFrame, this.frame);
  }

  sampleAt(index: number): number {
    return mulawToSample(this.frame[index] as number);
  }

  setSample(index: number, sample: number): void {
    this.frame[index] = sampleToMulaw(sample);
  }

  fillSilence(from: number): void {
    this.frame.fill(MULAW_SILENCE, from);
  }
}
