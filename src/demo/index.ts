export { dtmfFrequencies, EchoBot, type EchoBotOptions, toneMulaw } from './echo-bot.js';
