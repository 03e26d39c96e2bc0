/**
 * Where the stream towards the caller stands, and that position moved on: what a node carrying
 * on the call (call takeover) sends next, so the far end sees one stream from two nodes.
 */
import type { SrtpPosition } from './srtp/index.js';

export interface RtpPosition {
  ssrc: number;
  sequenceNumber: number;
  timestamp: number;
  /** Under SRTP: the rollover counter at `sequenceNumber`, the SRTCP index, the far end's ROC. */
  srtp?: SrtpPosition;
}

const SEQ_MODULUS = 0x10000;
/** RFC 3711 §3.4: the SRTCP index is 31 bits. */
const SRTCP_INDEX_MODULUS = 2 ** 31;

/**
 * `position` after `packets` more RTP packets, `ticks` more of RTP time (RFC 3550 §5.1) and
 * `reports` more SRTCP packets. A sequence number that wraps moves the SRTP rollover counter on
 * (RFC 3711 §3.3.1); the far end's receive state stays as last seen.
 */
export function movedOn(position: RtpPosition, packets: number, ticks: number, reports = 0): RtpPosition {
  const next = position.sequenceNumber + packets;
  const srtp = position.srtp;
  return {
    ssrc: position.ssrc,
    sequenceNumber: next % SEQ_MODULUS,
    timestamp: (position.timestamp + ticks) >>> 0,
    ...(srtp
      ? {
          srtp: {
            ...srtp,
            rolloverCount: (srtp.rolloverCount + Math.floor(next / SEQ_MODULUS)) >>> 0,
            srtcpIndex: (srtp.srtcpIndex + reports) % SRTCP_INDEX_MODULUS,
          },
        }
      : {}),
  };
}
