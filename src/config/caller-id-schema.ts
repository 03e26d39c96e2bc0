/**
 * Caller-ID settings: the identity headers of outbound INVITEs (a trunk's `outbound.callerId`,
 * and per call in `POST /v1/calls`). Every value is checked so that none can end a header early.
 */
import { z } from 'zod';
import { parseCallerIdentity } from './patterns.js';

const callerIdentity = z.string().refine((text) => parseCallerIdentity(text) !== undefined, {
  message:
    'a SIP URI (sip:+15551230000@carrier.example) or an E.164 number (+15551230000), at most 256 characters, without spaces, commas, quotes, <>, ? or control characters',
});

/** RFC 3323 §4.2 priv-values and RFC 3325 §9.3 `id`. */
const PRIVACY_VALUES = ['none', 'id', 'user', 'header', 'session', 'critical'] as const;
/** RFC 5806 §4 diversion-reason values. */
const DIVERSION_REASONS = [
  'unknown',
  'user-busy',
  'no-answer',
  'unavailable',
  'unconditional',
  'time-of-day',
  'do-not-disturb',
  'deflection',
  'follow-me',
  'out-of-service',
  'away',
] as const;

/** Caller-ID headers of an outbound INVITE; the same shape overrides them per call (`POST /v1/calls`). */
export const callerIdSchema = z.strictObject({
  assertedIdentity: callerIdentity
    .optional()
    .describe(
      'P-Asserted-Identity (RFC 3325): the identity the carrier bills and screens. An E.164 number is sent as sip:<number>@<fromHost>;user=phone.',
    ),
  privacy: z
    .array(z.enum(PRIVACY_VALUES))
    .min(1)
    .refine((values) => !values.includes('none') || values.length === 1, {
      message: "'none' cannot be combined with other privacy values",
    })
    .optional()
    .describe(
      "Privacy header (RFC 3323, RFC 3325). With 'id' or 'user' the call is anonymous: From becomes \"Anonymous\" <sip:anonymous@anonymous.invalid> (RFC 3323 §4.1.1.3) and P-Asserted-Identity carries the real caller.",
    ),
  diversion: z
    .strictObject({
      identity: callerIdentity.describe('Who the call was diverted from.'),
      reason: z.enum(DIVERSION_REASONS).default('unconditional'),
    })
    .optional()
    .describe(
      'Diversion header (RFC 5806): the number the call was forwarded from, for carriers that bill or screen on it.',
    ),
});

export type CallerIdConfig = z.output<typeof callerIdSchema>;
