/** The media section of a trunk: how its carrier's audio is buffered and protected. */
import { z } from 'zod';
import { SRTP_SUITES } from '../util/index.js';

const jitterBufferSchema = z
  .strictObject({
    minDelayMs: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .default(0)
      .describe(
        "Floor of the adaptive jitter buffer's target delay on this carrier's audio towards the bot. 0 lets it follow the measured jitter alone; a floor trades that much latency for headroom against jitter the buffer has not seen yet (a carrier whose jitter comes in bursts, a loaded host).",
      ),
    maxDelayMs: z
      .number()
      .int()
      .min(20)
      .max(1000)
      .default(1000)
      .describe('Ceiling of the target delay: beyond it, late audio is concealed rather than waited for.'),
  })
  .refine((buffer) => buffer.minDelayMs <= buffer.maxDelayMs, {
    message: 'minDelayMs must not exceed maxDelayMs',
    path: ['minDelayMs'],
  });

export const trunkMediaSchema = z
  .strictObject({
    jitterBuffer: jitterBufferSchema.prefault({}),
    encryption: z
      .enum(['none', 'optional', 'required'])
      .default('none')
      .describe(
        'SRTP with SDES keys (RFC 3711, RFC 4568) on this carrier leg. none: plain RTP only (an RTP/SAVP-only offer gets 488); optional: RTP/SAVP when the carrier offers it, plain otherwise, and our offers propose SRTP as an RFC 5939 capability; required: RTP/SAVP only (a plain offer gets 488).',
      ),
    srtpSuites: z
      .array(z.enum(SRTP_SUITES))
      .min(1)
      .refine((suites) => new Set(suites).size === suites.length, { message: 'a suite is listed twice' })
      .optional()
      .describe(
        "The SDES crypto suites this carrier leg takes, in our order of preference: our offers name each (one a=crypto with its own key), and an offer is answered with its first a=crypto whose suite is listed (the offerer's order, RFC 4568 §7.1.1). Default: all six are answered, and our offers name the two AES-128 counter-mode ones. Needs encryption optional or required.",
      ),
  })
  .refine((media) => media.srtpSuites === undefined || media.encryption !== 'none', {
    message: 'srtpSuites needs encryption optional or required',
    path: ['srtpSuites'],
  });
