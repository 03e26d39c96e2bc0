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
const BOT_URL_MESSAGE = 'ws://, wss:// or builtin:echo';

/**
 * Why `text` is not a URL the gateway can stream to, or undefined when it is. Parsed as the
 * WebSocket client parses it. The message never quotes the URL: its query or user info may
 * carry a token, and it reaches logs and API answers.
 */
export function botUrlProblem(text: string): string | undefined {
  if (text === DEMO_BOT_URL) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `not a valid URL (${BOT_URL_MESSAGE}): check the host, the port and for spaces`;
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') return BOT_URL_MESSAGE;
  if (url.hostname === '') return 'a ws:// or wss:// URL needs a host';
  // RFC 6455 §3: fragments MUST NOT be used on WebSocket URIs; the client refuses them.
  if (url.hash !== '') return 'a WebSocket URL has no #fragment (RFC 6455 §3)';
  return undefined;
}

export function isBotUrl(text: string): boolean {
  return botUrlProblem(text) === undefined;
}

/** A bot URL: a WebSocket URL or the built-in echo bot. */
const botUrlSchema = z.string().superRefine((text, ctx) => {
  const problem = botUrlProblem(text);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

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
      'Send {"event":"patchbay","patchbay":{"type":"speech_started"|"speech_stopped"}} when the caller starts/stops talking, from a gateway-side detector (8 and 16 kHz streams only). Off by default: strict Twilio bots do not expect it.',
    ),
});

/**
 * A target whose fields agree: Twilio Media Streams carry 8 kHz µ-law only, so another
 * sampleRate with that dialect would be accepted and never used; the speech detector runs at
 * 8 and 16 kHz only, so vad on a 24 kHz stream would send no events.
 */
export const checkedStreamTargetSchema = streamTargetSchema
  .refine((target) => target.dialect !== 'twilio' || target.sampleRate === 8000, {
    message: 'the twilio dialect is 8000 Hz µ-law only: drop sampleRate or use dialect stereo or exotel',
    path: ['sampleRate'],
  })
  .refine((target) => !target.vad || target.sampleRate === 8000 || target.sampleRate === 16000, {
    message: 'the speech detector runs at 8000 or 16000 Hz: drop vad or use one of those sampleRates',
    path: ['vad'],
  });
