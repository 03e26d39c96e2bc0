import { buildCompoundRtcp } from '../../../src/media/rtp/rtcp.js';

/** An RR from SSRC 1 with one report block about SSRC 2 carrying `cumulativeLost`. */
export function receiverReportLosing(cumulativeLost: number): Uint8Array {
  return buildCompoundRtcp({
    ssrc: 1,
    cname: 'patchbay-test',
    sender: undefined,
    reportBlock: {
      ssrc: 2,
      fractionLost: 0,
      cumulativeLost,
      extendedHighestSequence: 100_000,
      jitter: 0,
      lastSr: 0,
      delaySinceLastSr: 0,
    },
  });
}
