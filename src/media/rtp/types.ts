import type { SrtpStats } from '../srtp/index.js';

/**
 * The one received-RTP type (RFC 3550 §5.1 fields): what RtpSession delivers, the jitter
 * buffer takes and replay reads from captures. arrivalMs is on the injected clock.
 */
export interface ReceivedRtp {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker: boolean;
  payload: Uint8Array;
  arrivalMs: number;
}

/** What the far end reports about the stream we send (its RTCP report block on our SSRC). */
export interface RemoteReceptionReport {
  /** 0..1, over the far end's last report interval. */
  fractionLost: number;
  packetsLost: number;
  jitterMs: number;
  receivedAtMs: number;
}

export interface RtpStreamStats {
  /** Our SSRC. */
  ssrc: number;
  /** The SSRC whose audio we currently receive (the one these figures are of), if any. */
  remoteSsrc: number | undefined;
  packetsSent: number;
  /** Payload octets sent (the RTCP SR octet count, RFC 3550 §6.4.1). */
  bytesSent: number;
  packetsReceived: number;
  /** Payload octets received. */
  bytesReceived: number;
  /** Cumulative loss of the current source, RFC 3550 A.3 (duplicates not counted as received). */
  packetsLost: number;
  /** 0..1, over the last RTCP report interval (RFC 3550 A.3). */
  fractionLost: number;
  /** Interarrival jitter of the current source, RFC 3550 §6.4.1 / A.8. */
  jitterMs: number;
  /** From the last report block about us that carried LSR/DLSR (RFC 3550 §6.4.1). */
  roundTripTimeMs: number | undefined;
  duplicates: number;
  outOfOrder: number;
  /** Times the received SSRC changed (each change resets loss and jitter state). */
  ssrcChanges: number;
  /** Datagrams that were neither valid RTP nor valid RTCP, or larger than audio ever is, dropped. */
  malformed: number;
  /** RTP and RTCP from a source other than the latched one, dropped (symmetric RTP and RTCP). */
  foreignPackets: number;
  /**
   * Datagrams the kernel dropped on this session's sockets because their receive buffer was
   * full, as of the last sampleSocketDrops() (not read by stats(), which runs per frame).
   */
  socketDrops: number;
  /** Exceptions thrown by `packet` listeners (isolated: other listeners still run). */
  listenerErrors: number;
  /** Socket errors (send failures, and failures to build or send RTCP). */
  socketErrors: number;
  rtcpSent: number;
  rtcpReceived: number;
  /** The current source said RTCP BYE (RFC 3550 §6.6): its media has ended. */
  remoteBye: boolean;
  remoteReport: RemoteReceptionReport | undefined;
  /** SRTP suite and refused packets; undefined for a session that never used SRTP. */
  srtp: SrtpStats | undefined;
}
