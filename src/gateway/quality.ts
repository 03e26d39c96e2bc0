import type { RtpStreamStats } from '../media/index.js';
import type { MediaSample } from '../trunks/index.js';

/**
 * Receive quality of the carrier leg (RFC 3550 §6.4.1 loss and jitter as we measured them,
 * RTT from the carrier's RTCP), or undefined when no RTP arrived. An unmeasured RTT (a peer
 * sending no RTCP) counts as 0, so such a call is judged on loss and jitter alone.
 */
export function receiveQuality(rtp: RtpStreamStats | undefined): MediaSample | undefined {
  const expected = (rtp?.packetsReceived ?? 0) + (rtp?.packetsLost ?? 0);
  if (!rtp || expected === 0) return undefined;
  return {
    lossFraction: rtp.packetsLost / expected,
    jitterMs: rtp.jitterMs,
    rttMs: rtp.roundTripTimeMs ?? 0,
  };
}
