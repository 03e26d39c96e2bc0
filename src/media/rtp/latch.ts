/**
 * Where a session's RTP and RTCP go and which sources it takes them from: symmetric RTP and
 * RTCP (RFC 4961, and the NAT practice of SBCs), latching rules:
 *  1. Until media arrives, we send to the address the SDP gave (setRemote).
 *  2. The first valid RTP packet latches the RTP destination to its source address/port.
 *  3. RTP from other sources is dropped (counted as foreignPackets), unless the latched
 *     source has been silent for relatchAfterMs: then the new source is latched.
 *  4. RTCP follows the media source, so nobody else can end or skew the call with a forged
 *     BYE or report. With rtcp-mux only the latched RTP source itself (RFC 5761 §4: one
 *     5-tuple). Otherwise the SDP's RTCP endpoint, or the first RTCP from the latched RTP
 *     source's address (its port behind a NAT is anybody's guess); that RTCP source holds
 *     until the RTP latch moves. Before RTP latches, only the SDP's endpoint. Other RTCP is
 *     dropped and counted as foreignPackets.
 *  5. setRemote() (a re-INVITE) clears the latches and starts again at rule 1.
 */
import type { RemoteInfo } from 'node:dgram';

export interface Endpoint {
  address: string;
  port: number;
}

function sameEndpoint(a: Endpoint | undefined, rinfo: RemoteInfo): boolean {
  return a !== undefined && a.address === rinfo.address && a.port === rinfo.port;
}

export class RtpLatch {
  readonly #rtcpMux: boolean;
  readonly #relatchAfterMs: number;
  #signalledRtp: Endpoint | undefined;
  #signalledRtcp: Endpoint | undefined;
  #rtpSource: Endpoint | undefined;
  #rtpSourceSeenMs = 0;
  #rtcpSource: Endpoint | undefined;

  constructor(rtcpMux: boolean, relatchAfterMs: number) {
    this.#rtcpMux = rtcpMux;
    this.#relatchAfterMs = relatchAfterMs;
  }

  /** Rules 1 and 5: the far end from SDP; RTCP to rtcpPort, else port+1, or port itself with rtcp-mux. */
  setRemote(address: string, port: number, rtcpPort?: number): void {
    this.#signalledRtp = { address, port };
    this.#signalledRtcp = { address, port: rtcpPort ?? (this.#rtcpMux ? port : port + 1) };
    this.#rtpSource = undefined;
    this.#rtcpSource = undefined;
  }

  get rtpDestination(): Endpoint | undefined {
    return this.#rtpSource ?? this.#signalledRtp;
  }

  get rtcpDestination(): Endpoint | undefined {
    return (this.#rtcpMux ? this.#rtpSource : this.#rtcpSource) ?? this.#signalledRtcp;
  }

  /** Rules 2 and 3: whether RTP from `rinfo` is (or now becomes) the latched source. */
  acceptRtp(rinfo: RemoteInfo, now: number): boolean {
    if (!sameEndpoint(this.#rtpSource, rinfo)) {
      if (this.#rtpSource && now - this.#rtpSourceSeenMs < this.#relatchAfterMs) return false;
      this.#rtpSource = { address: rinfo.address, port: rinfo.port };
      this.#rtcpSource = undefined; // rule 4: RTCP follows the media source
    }
    this.#rtpSourceSeenMs = now;
    return true;
  }

  /** Rule 4: whether RTCP from `rinfo` comes from the media source (checked before parsing). */
  acceptsRtcpFrom(rinfo: RemoteInfo): boolean {
    if (this.#rtcpMux) return sameEndpoint(this.#rtpSource ?? this.#signalledRtp, rinfo);
    if (this.#rtcpSource) return sameEndpoint(this.#rtcpSource, rinfo);
    return this.#rtpSource
      ? this.#rtpSource.address === rinfo.address
      : sameEndpoint(this.#signalledRtcp, rinfo);
  }

  /** Valid RTCP latches its source (a no-op with rtcp-mux, where RTCP follows the RTP latch). */
  latchRtcp(rinfo: RemoteInfo): void {
    if (!this.#rtcpMux) this.#rtcpSource ??= { address: rinfo.address, port: rinfo.port };
  }
}
