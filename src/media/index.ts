export { type BridgeRate, carrierDecoderFor, carrierEncoderFor } from './carrier-codecs.js';
export type { AudioDecoder } from './codec.js';
export type { BotAudioFrame } from './codec-chain.js';
export {
  assertDtmfDigits,
  type DtmfEvent,
  DtmfReceiver,
  DtmfSender,
  DtmfTransmitter,
  parseTelephoneEvent,
  serializeTelephoneEvent,
} from './dtmf.js';
export {
  decodeAlaw,
  decodeG711Range,
  decodeMulaw,
  encodeAlaw,
  encodeMulaw,
  MULAW_SILENCE,
  mulawPeak,
  mulawToSample,
  sampleToMulaw,
} from './g711.js';
export { G711Decoder, G711Encoder } from './g711-codec.js';
export { G711Concealer } from './g711-plc.js';
export { Impairer, type ImpairOptions, impair, parseImpairSpec } from './impair.js';
export {
  AudioReceiver,
  accelerate,
  type JitterDelayBounds,
  type JitterStats,
  LateFrameWait,
  mergeAfterConcealment,
  preemptiveExpand,
  simulatePlayout,
} from './jitter/index.js';
export {
  callMediaClock,
  MAX_CATCH_UP_TICKS,
  MEDIA_FRAME_MS,
  MediaClock,
  type MediaClockStats,
  NO_TICKS,
} from './media-clock.js';
export {
  type BotAudioPull,
  type LateFrameCounts,
  MediaLeg,
  type MediaLegEvents,
  type MediaLegStats,
  type NegotiatedMedia,
  NO_LATE_FRAMES,
} from './media-leg.js';
export { ObservedDecoder } from './observed-decoder.js';
export { createOpusDecoder, createOpusEncoder, type OpusSampleRate, opusPacketHasLbrr } from './opus.js';
export { Resampler } from './resample.js';
export {
  PortAllocator,
  parseRtp,
  type ReceivedRtp,
  RtpPacketWriter,
  RtpSession,
  type RtpStreamStats,
  readUdpDrops,
  SendBatch,
  UdpDropSampler,
  type UdpDropTable,
} from './rtp/index.js';
export { movedOn, type RtpPosition } from './rtp-position.js';
export { REPLAY_WINDOW, type SrtpKeying, type SrtpPosition, SrtpSession } from './srtp/index.js';
export { decodeWav, encodeWav, pcmBytes, WAV_HEADER_BYTES, type WavAudio, wavHeader } from './wav.js';
