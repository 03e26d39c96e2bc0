export { ALAW_SILENCE, decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw, MULAW_SILENCE } from './g711.js';
export type { AudioDecoder, AudioEncoder } from './codec.js';
