export { type BridgeRate, carrierDecoderFor, carrierEncoderFor } from './carrier-codecs.js';
export type { AudioDecoder, AudioEncoder } from './codec.js';
export {
  assertDtmfDigits,
  type DtmfEvent,
  type DtmfPacketOut,
  DtmfReceiver,
  DtmfSender,
  type DtmfSendOptions,
  DtmfTransmitter,
  digitToEvent,
  parseTelephoneEvent,
  serializeTelephoneEvent,
  type TelephoneEventPayload,
} from './dtmf.js';
export { ALAW_SILENCE, decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw, MULAW_SILENCE } from './g711.js';
export { G711Decoder, G711Encoder, type G711Law } from './g711-codec.js';
export { G711Concealer } from './g711-plc.js';
export {
  type ArrivedPacket,
  Impairer,
  type ImpairOptions,
  impair,
  parseImpairSpec,
  type SentPacket,
} from './impair.js';
export {
  AudioReceiver,
  accelerate,
  type JitterBufferOptions,
  type JitterDelayBounds,
  type JitterStats,
  LateFrameWait,
  mergeAfterConcealment,
  type PlayoutDecision,
  type PlayoutTrace,
  preemptiveExpand,
  type StretchResult,
  simulatePlayout,
} from './jitter/index.js';
export {
  callMediaClock,
  MAX_CATCH_UP_TICKS,
  MEDIA_FRAME_MS,
  MediaClock,
  type MediaClockEvents,
  type MediaClockStats,
  NO_TICKS,
} from './media-clock.js';
export {
  type BotAudioPull,
  type LateFrameCounts,
  MediaLeg,
  type MediaLegEvents,
  type MediaLegOptions,
  type MediaLegStats,
  type NegotiatedMedia,
  NO_LATE_FRAMES,
  type RtpPosition,
} from './media-leg.js';
export { ObservedDecoder } from './observed-decoder.js';
export {
  createOpusDecoder,
  createOpusEncoder,
  type OpusAudioDecoder,
  type OpusDecoderOptions,
  type OpusEncoderOptions,
  type OpusSampleRate,
  opusPacketHasLbrr,
} from './opus.js';
export { DEFAULT_RESAMPLER_QUALITY, Resampler } from './resample.js';
export {
  PortAllocator,
  parseRtp,
  type ReceivedRtp,
  type RemoteReceptionReport,
  RtpPacketWriter,
  RtpSession,
  type RtpSessionOptions,
  type RtpStreamStats,
  readUdpDrops,
  UdpDropSampler,
  type UdpDropTable,
} from './rtp/index.js';
export {
  REPLAY_WINDOW,
  type SrtpDropCounts,
  type SrtpDropReason,
  SrtpFilter,
  type SrtpKeying,
  SrtpSession,
  type SrtpStats,
} from './srtp/index.js';
export { decodeWav, encodeWav, pcmBytes, WAV_HEADER_BYTES, type WavAudio, wavHeader } from './wav.js';
