/**
 * Where a call's audio goes: a bot's WebSocket URL and the dialect spoken on it, as a route
 * names it in the gateway file and the control API's originate request does.
 */
import { z } from 'zod';
import { positiveMs } from './primitives.js';

/** URL scheme of stream targets served inside the gateway instead of over WebSocket. */
export const BUILTIN_TARGET_PREFIX = 'builtin:';
/** The one built-in bot: the demo echo bot the gateway embeds. */
export const DEMO_BOT_URL = `${BUILTIN_TARGET_PREFIX}echo`;
const BOT_URL = /^(wss?:\/\/.+|builtin:echo)$/;
const BOT_URL_MESSAGE = 'ws://, wss:// or builtin:echo';

/** A bot URL: a WebSocket URL or the built-in echo bot. */
const botUrlSchema = z.string().regex(BOT_URL, BOT_URL_MESSAGE);

export function isBotUrl(text: string): boolean {
  return BOT_URL.test(text);
}

/** A target as written; `checkedStreamTargetSchema` adds the rules between its fields. */
export const streamTargetSchema = z.strictObject({
  url: botUrlSchema.describe(
    'ws:// or wss:// bot URL, or `builtin:echo` for the demo bot the gateway embeds.',
  ),
  dialect: z.enum(['twilio', 'stereo', 'exotel']).default('twilio'),
  sampleRate: z
    .union([z.literal(8000), z.literal(16000), z.literal(24000)], {
      error: 'sampleRate is 8000, 16000 or 24000',
    })
    .default(8000)
    .describe('PCM rate of the stereo and exotel dialects; twilio is 8000 (µ-law) only.'),
  customParameters: z.record(z.string(), z.string()).default({}),
  auth: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('bearer'), token: z.string().min(1) }),
      z.strictObject({ type: z.literal('hmac'), secret: z.string().min(16) }),
    ])
    .optional(),
  reconnect: z
    .strictObject({
      maxAttempts: z.number().int().min(0).max(20).default(0),
      backoffMs: positiveMs.default(500),
    })
    .prefault({}),
  connectTimeoutMs: positiveMs.default(5000),
  vad: z
    .boolean()
    .default(false)
    .describe(
      'Send {"event":"patchbay","patchbay":{"type":"speech_started"|"speech_stopped"}} when the caller starts/stops talking, from a gateway-side detector (8 and 16 kHz streams). Off by default: strict Twilio bots do not expect it.',
    ),
});

/**
 * A target whose fields agree: Twilio Media Streams carry 8 kHz µ-law only, so another
 * sampleRate with that dialect would be accepted and never used.
 */
export const checkedStreamTargetSchema = streamTargetSchema.refine(
  (target) => target.dialect !== 'twilio' || target.sampleRate === 8000,
  {
    message: 'the twilio dialect is 8000 Hz µ-law only: drop sampleRate or use dialect stereo or exotel',
    path: ['sampleRate'],
  },
);
