/**
 * What replay needs from the media receive pipeline, stated as small interfaces so replay
 * drives whatever src/media provides, plus the decoder chosen per stream codec.
 */
import type { AudioDecoder } from '../media/codec.js';
import { G711Decoder } from '../media/g711-codec.js';
import { Impairer, parseImpairSpec } from '../media/impair.js';
import { AudioReceiver } from '../media/jitter/receiver.js';
import { createOpusDecoder } from '../media/opus.js';
import type { Clock } from '../util/clock.js';

/** One RTP packet as the receiver takes it (arrival on the injected clock). */
export interface ReceivedRtpPacket {
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker: boolean;
  payloadType: number;
  payload: Uint8Array;
  arrivalMs: number;
}

/** The jitter-buffer statistics replay plots; other fields go to the report as they are. */
export interface ReceiverStatsView {
  [field: string]: unknown;
}

/** The receive side replay drives: `src/media/jitter/receiver.ts`'s AudioReceiver. */
export interface PacketReceiver {
  insert(packet: ReceivedRtpPacket): void;
  /** One 20 ms frame of PCM at the decoder's rate, called once per 20 ms tick. */
  pull(): Int16Array;
  stats(): ReceiverStatsView;
}

export type ReceiverFactory = (decoder: AudioDecoder, clock: Clock) => PacketReceiver;

/** One packet on its way through the impairment model (`src/media/impair.ts`). */
export interface ImpairedDelivery<T> {
  packet: T;
  arrivalMs: number;
}

/** Seeded impairment: zero (lost), one or more (duplicated) deliveries per sent packet. */
export type Impairment = <T extends { sequenceNumber: number; timestamp: number }>(
  packet: T,
  sendMs: number,
) => ImpairedDelivery<T>[];

export const OPUS_REPLAY_RATE = 48000;

/** A decoder for an SDP encoding name, or undefined when replay cannot decode it. */
export async function createDecoderFor(encoding: string): Promise<AudioDecoder | undefined> {
  const name = encoding.toUpperCase();
  if (name === 'PCMU' || name === 'PCMA') return new G711Decoder(name);
  if (name === 'OPUS') return createOpusDecoder({ sampleRate: OPUS_REPLAY_RATE });
  return undefined;
}

/**
 * Wraps a decoder to see what the receiver asked of it: whether real audio has been decoded
 * yet (the end of the jitter buffer's initial delay) and how much was concealed or recovered.
 */
export class ObservedDecoder implements AudioDecoder {
  decodedFrames = 0;
  concealedSamples = 0;
  recoveredSamples = 0;
  readonly recoverFromNext?: (nextPayload: Uint8Array, samples: number) => Int16Array | null;

  constructor(private readonly inner: AudioDecoder) {
    const recover = inner.recoverFromNext?.bind(inner);
    if (recover)
      this.recoverFromNext = (nextPayload, samples) => {
        const recovered = recover(nextPayload, samples);
        if (recovered) this.recoveredSamples += recovered.length;
        return recovered;
      };
  }

  get name(): string {
    return this.inner.name;
  }
  get sampleRate(): number {
    return this.inner.sampleRate;
  }
  get rtpClockRate(): number {
    return this.inner.rtpClockRate;
  }

  decode(payload: Uint8Array): Int16Array {
    this.decodedFrames++;
    return this.inner.decode(payload);
  }

  conceal(samples: number): Int16Array {
    this.concealedSamples += samples;
    return this.inner.conceal(samples);
  }

  close(): void {
    this.inner.close();
  }
}

/** The live media modules replay runs on. */
export interface MediaPipeline {
  receiverFactory: ReceiverFactory;
  parseImpairment(spec: string): Impairment;
}

/** Replay runs on src/media's AudioReceiver, with the seeded model of src/media/impair.ts. */
export async function loadMediaPipeline(): Promise<MediaPipeline> {
  return {
    receiverFactory: (decoder, clock) => {
      const receiver = new AudioReceiver(decoder, clock);
      return {
        insert: (packet) => receiver.insert(packet),
        pull: () => receiver.pull(),
        stats: () => ({ ...receiver.stats() }),
      };
    },
    parseImpairment: (spec) => {
      const impairer = new Impairer(parseImpairSpec(spec));
      return (packet, sendMs) => impairer.apply(packet, sendMs);
    },
  };
}
