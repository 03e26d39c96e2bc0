import type { StreamDialect } from './dialect.js';
import { ExotelDialect } from './exotel.js';
import { StereoDialect } from './stereo.js';
import { TwilioDialect } from './twilio.js';

export { signRequest, verifySignature } from './auth.js';
export { BINARY_OPCODE, ClientFrameWriter, TEXT_OPCODE } from './client-frames.js';
export {
  type StreamAuth,
  StreamConnection,
  type StreamConnectionOptions,
  type StreamConnectionStats,
} from './connection.js';
export {
  type BotCommand,
  type BotInput,
  parseBotCommand,
  type StreamCallInfo,
  type StreamDialect,
  type WireMessage,
} from './dialect.js';
export { EXOTEL_CHUNK_ALIGN_BYTES, ExotelDialect } from './exotel.js';
export { type OpenedBotSocket, openBotSocket } from './open-bot-socket.js';
export {
  NO_PLAYOUT_COUNTS,
  Playout,
  type PlayoutOptions,
  type PlayoutStats,
  type PulledFrame,
} from './playout.js';
export { decodeL16, encodeL16, type PcmStreamRate, StereoDialect } from './stereo.js';
export { TwilioDialect } from './twilio.js';
export { type VadEvent, type VadOptions, VoiceActivityDetector } from './vad.js';

/** The dialect a route asks for; stereo and exotel carry PCM at the route's sample rate. */
export function createDialect(
  name: 'twilio' | 'stereo' | 'exotel',
  sampleRate: 8000 | 16000 | 24000,
): StreamDialect {
  switch (name) {
    case 'twilio':
      return new TwilioDialect();
    case 'stereo':
      return new StereoDialect(sampleRate);
    case 'exotel':
      return new ExotelDialect(sampleRate);
  }
}
export { RateLimitedWarning } from './rate-limited-warning.js';
