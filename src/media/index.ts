export type { AudioDecoder, AudioEncoder } from './codec.js';
export { ALAW_SILENCE, decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw, MULAW_SILENCE } from './g711.js';
export {
  createOpusDecoder,
  createOpusEncoder,
  type OpusAudioDecoder,
  type OpusDecoderOptions,
  type OpusEncoderOptions,
  type OpusSampleRate,
  opusPacketHasLbrr,
} from './opus.js';
export { decodeWav, encodeWav, type WavAudio } from './wav.js';
