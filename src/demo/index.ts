export { EchoBot } from './echo-bot.js';
