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
