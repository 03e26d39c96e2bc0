import type { StreamDialect } from './dialect.js';
import { TwilioDialect } from './twilio.js';

export { signRequest, verifySignature } from './auth.js';
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
export { Playout, type PlayoutOptions, type PlayoutStats, type PulledFrame } from './playout.js';
export { TwilioDialect } from './twilio.js';

/** The dialect a route asks for; stereo and exotel carry PCM at the route's sample rate. */
export function createDialect(
  name: 'twilio' | 'stereo' | 'exotel',
  sampleRate: 8000 | 16000 | 24000,
): StreamDialect {
  switch (name) {
    case 'twilio':
      return new TwilioDialect();
    default:
      throw new Error(`the ${name} dialect (${sampleRate} Hz) is not available in this build`);
  }
}
