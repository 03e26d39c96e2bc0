/**
 * The codecs of the carrier leg and the rate the bot side runs at. Opus runs at the bridge rate
 * in both directions (libopus codes 8, 16 and 24 kHz natively; the RTP clock stays 48 kHz,
 * RFC 7587 §4.1), so no resampler sits on the Opus path.
 */
import type { AudioCodecName } from '../util/index.js';
import type { AudioDecoder, AudioEncoder } from './codec.js';
import { G711Decoder, G711Encoder } from './g711-codec.js';
import { createOpusDecoder, createOpusEncoder } from './opus.js';
import { Resampler } from './resample.js';

/** The sample rate of audio exchanged with the bot. */
export type BridgeRate = 8000 | 16000 | 24000;

/**
 * Complexity 5 and 24 kbit/s: bench/RESULTS.md measured ~800 µs a frame at complexity 10 and
 * 48 kHz through WASM (~20 calls per core), and LBRR (FEC) needs >= 24 kbit/s at 16 kHz or
 * libopus silently sends none.
 */
const OPUS_ENCODER = { complexity: 5, bitrate: 24_000, fec: true } as const;
/** Bounds on the Opus encoder's expected-loss setting (libopus accepts 0..100). */
export const MAX_OPUS_LOSS_PERCENT = 30;
export const MIN_OPUS_LOSS_PERCENT = 1;

/** The encoder for audio towards the carrier in `codec`, fed at `bridgeRate`. */
export async function carrierEncoderFor(
  codec: AudioCodecName,
  bridgeRate: BridgeRate,
): Promise<AudioEncoder> {
  if (codec === 'opus')
    return createOpusEncoder({
      ...OPUS_ENCODER,
      sampleRate: bridgeRate,
      packetLossPercent: MIN_OPUS_LOSS_PERCENT,
    });
  return new G711Encoder(codec);
}

/** The decoder for the carrier's `codec`; Opus decodes straight to `bridgeRate`. */
export async function carrierDecoderFor(
  codec: AudioCodecName,
  bridgeRate: BridgeRate,
): Promise<AudioDecoder> {
  return codec === 'opus' ? createOpusDecoder({ sampleRate: bridgeRate }) : new G711Decoder(codec);
}

export async function resamplerBetween(inRate: number, outRate: number): Promise<Resampler | undefined> {
  return inRate === outRate ? undefined : Resampler.create(inRate, outRate);
}
