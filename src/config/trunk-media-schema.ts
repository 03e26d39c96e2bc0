/** The media section of a trunk: how its carrier's audio is buffered and protected. */
import { z } from 'zod';

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

export const trunkMediaSchema = z.strictObject({
  jitterBuffer: jitterBufferSchema.prefault({}),
  encryption: z
    .enum(['none', 'optional', 'required'])
    .default('none')
    .describe(
      'SRTP with SDES keys (RFC 3711, RFC 4568) on this carrier leg. none: plain RTP only (an RTP/SAVP-only offer gets 488); optional: RTP/SAVP when the carrier offers it, plain otherwise, and our offers propose SRTP as an RFC 5939 capability; required: RTP/SAVP only (a plain offer gets 488).',
    ),
});
