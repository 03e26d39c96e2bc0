/**
 * What replay needs from the media receive pipeline, stated as small interfaces so replay
 * drives whatever src/media provides, plus the decoder chosen per stream codec.
 */
import {
  type AudioDecoder,
  AudioReceiver,
  createOpusDecoder,
  G711Decoder,
  Impairer,
  parseImpairSpec,
  type ReceivedRtp,
} from '../media/index.js';
import type { Clock } from '../util/index.js';

/**
 * The receive statistics replay plots and reports: AudioReceiver's JitterStats, or the simpler
 * fields of a test receiver such as SequentialPlayout; they go to the report as they are.
 */
export interface ReceiverStatsView {
  [field: string]: unknown;
}

/** The receive side replay drives: `src/media/jitter/receiver.ts`'s AudioReceiver. */
export interface PacketReceiver {
  insert(packet: ReceivedRtp): void;
  /** One 20 ms frame of PCM at the decoder's rate, called once per 20 ms tick. */
  pull(): Int16Array;
  /**
   * The next pull would conceal a packet that is only late (AudioReceiver.streamLate), so
   * replay waits for it as the gateway does; absent, the receiver conceals at the tick.
   */
  readonly streamLate?: boolean;
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

const OPUS_REPLAY_RATE = 48000;

/** A decoder for an SDP encoding name, or undefined when replay cannot decode it. */
export async function createDecoderFor(encoding: string): Promise<AudioDecoder | undefined> {
  const name = encoding.toUpperCase();
  if (name === 'PCMU' || name === 'PCMA') return new G711Decoder(name);
  if (name === 'OPUS') return createOpusDecoder({ sampleRate: OPUS_REPLAY_RATE });
  return undefined;
}

/** The live media modules replay runs on. */
interface MediaPipeline {
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
        get streamLate() {
          return receiver.streamLate;
        },
        stats: () => ({ ...receiver.stats() }),
      };
    },
    parseImpairment: (spec) => {
      const impairer = new Impairer(parseImpairSpec(spec));
      return (packet, sendMs) => impairer.apply(packet, sendMs);
    },
  };
}
