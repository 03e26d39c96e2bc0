/**
 * What a media leg rebuilds when a re-INVITE changes the codec: the decoder and jitter buffer
 * of the caller's audio, the encoder of the bot's, and the resamplers between the codec's rate
 * and the bridge's. One per running codec; the leg closes the old one for the new.
 */
import type { AudioCodecName, Clock } from '../util/index.js';
import { type BridgeRate, carrierDecoderFor, carrierEncoderFor, resamplerBetween } from './carrier-codecs.js';
import type { AudioEncoder } from './codec.js';
import { decodeMulaw } from './g711.js';
import { AudioReceiver, type JitterDelayBounds } from './jitter/index.js';
import { ObservedDecoder } from './observed-decoder.js';
import type { Resampler } from './resample.js';

/**
 * A frame of bot audio: PCM at the bridge rate, or (a Uint8Array) a µ-law bot's 8 kHz bytes as
 * it sent them, which a PCMU carrier gets unchanged and any other is sent decoded.
 */
export type BotAudioFrame = Int16Array | Uint8Array;

export interface CodecChainOptions {
  codec: { name: AudioCodecName; clockRate: number; payloadType: number };
  bridgeRate: BridgeRate;
  clock: Clock;
  /** Bounds of the jitter buffer's target delay (the trunk's `media.jitterBuffer`). */
  jitterBuffer: JitterDelayBounds | undefined;
  frameMs: number;
}

export class CodecChain {
  /** `name/clockRate/payloadType`: a re-INVITE with another key needs another chain. */
  readonly codecKey: string;
  readonly decoder: ObservedDecoder;
  readonly receiver: AudioReceiver;
  /** The frame the receiver writes each tick, reused. */
  readonly callerFrame: Int16Array;
  readonly toBridge: Resampler | undefined;
  /** PCMU with an 8 kHz bridge: a frame played as it came can pass as its bytes, both ways. */
  readonly passesMulaw: boolean;
  readonly encoder: AudioEncoder;
  readonly fromBridge: Resampler | undefined;
  /** RTP timestamp ticks per frame towards the caller. */
  readonly samplesPerFrame: number;
  /** A µ-law bot frame decoded, for a carrier codec other than PCMU: made at the first such frame. */
  #botMulawPcm: Int16Array | undefined;

  private constructor(parts: {
    codecKey: string;
    decoder: ObservedDecoder;
    receiver: AudioReceiver;
    toBridge: Resampler | undefined;
    passesMulaw: boolean;
    encoder: AudioEncoder;
    fromBridge: Resampler | undefined;
    samplesPerFrame: number;
  }) {
    this.codecKey = parts.codecKey;
    this.decoder = parts.decoder;
    this.receiver = parts.receiver;
    this.callerFrame = new Int16Array(parts.receiver.frameSamples);
    this.toBridge = parts.toBridge;
    this.passesMulaw = parts.passesMulaw;
    this.encoder = parts.encoder;
    this.fromBridge = parts.fromBridge;
    this.samplesPerFrame = parts.samplesPerFrame;
  }

  static keyOf(codec: CodecChainOptions['codec']): string {
    return `${codec.name}/${codec.clockRate}/${codec.payloadType}`;
  }

  static async build({
    codec,
    bridgeRate,
    clock,
    jitterBuffer,
    frameMs,
  }: CodecChainOptions): Promise<CodecChain> {
    const decoder = new ObservedDecoder(await carrierDecoderFor(codec.name, bridgeRate));
    const encoder = await carrierEncoderFor(codec.name, bridgeRate);
    const toBridge = await resamplerBetween(decoder.sampleRate, bridgeRate);
    return new CodecChain({
      codecKey: CodecChain.keyOf(codec),
      decoder,
      receiver: new AudioReceiver(decoder, clock, jitterBuffer),
      toBridge,
      passesMulaw: codec.name === 'PCMU' && !toBridge,
      encoder,
      fromBridge: await resamplerBetween(bridgeRate, encoder.sampleRate),
      samplesPerFrame: (encoder.rtpClockRate * frameMs) / 1000,
    });
  }

  /** The RTP payload of a bot frame: encoded at the codec's rate, or a µ-law bot's bytes as they came. */
  payloadOf(bot: BotAudioFrame): Uint8Array {
    if (bot instanceof Uint8Array) {
      if (this.passesMulaw) return bot; // the bot's µ-law to a PCMU carrier, as it came
      this.#botMulawPcm ??= new Int16Array(bot.length);
      bot = decodeMulaw(bot, this.#botMulawPcm);
    }
    return this.encoder.encode(this.fromBridge ? this.fromBridge.process(bot) : bot);
  }

  close(): void {
    this.decoder.close();
    this.encoder.close();
    this.toBridge?.close();
    this.fromBridge?.close();
  }
}
