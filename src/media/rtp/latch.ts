/**
 * Where a session's RTP and RTCP go and which sources it takes them from: symmetric RTP and
 * RTCP (RFC 4961, and the NAT practice of SBCs), latching rules:
 *  1. Until media arrives, we send to the address the SDP gave (setRemote).
 *  2. The first valid RTP packet latches the RTP destination to its source address/port.
 *  3. RTP from other sources is dropped (counted as foreignPackets), unless the latched
 *     source has been silent for relatchAfterMs and the new source has sent RELATCH_PACKETS
 *     packets of one stream in a row: then the new source is latched.
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

/**
 * A source that is not the latched one must send this many packets of one stream (one SSRC,
 * consecutive sequence numbers, from one address and port) before it takes over from a silent
 * latched source. A caller whose NAT binding moved sends exactly that; junk from strangers,
 * each datagram with its own SSRC and sequence, never does — also not right after our own
 * event loop stalled, when the caller's next packets wait behind the junk.
 */
const RELATCH_PACKETS = 3;

function sameEndpoint(a: Endpoint | undefined, rinfo: RemoteInfo): boolean {
  return a !== undefined && a.address === rinfo.address && a.port === rinfo.port;
}

export class RtpLatch {
  #rtcpMux: boolean;
  readonly #relatchAfterMs: number;
  #signalledRtp: Endpoint | undefined;
  #signalledRtcp: Endpoint | undefined;
  #rtpSource: Endpoint | undefined;
  #rtpSourceSeenMs = 0;
  #rtcpSource: Endpoint | undefined;
  /** The stream that may take over from a silent latched source (rule 3). */
  #candidate: (Endpoint & { ssrc: number; nextSequence: number; packets: number }) | undefined;

  constructor(rtcpMux: boolean, relatchAfterMs: number) {
    this.#rtcpMux = rtcpMux;
    this.#relatchAfterMs = relatchAfterMs;
  }

  /** RFC 5761: RTCP shares the RTP port, as constructed and then as negotiated (setRemote). */
  get rtcpMux(): boolean {
    return this.#rtcpMux;
  }

  /**
   * Rules 1 and 5: the far end from SDP; RTCP to rtcpPort, else port+1, or port itself with
   * rtcp-mux (`rtcpMux` as negotiated; default: as constructed).
   */
  setRemote(address: string, port: number, rtcpPort?: number, rtcpMux = this.#rtcpMux): void {
    this.#rtcpMux = rtcpMux;
    this.#signalledRtp = { address, port };
    this.#signalledRtcp = { address, port: rtcpPort ?? (this.#rtcpMux ? port : port + 1) };
    this.#rtpSource = undefined;
    this.#rtcpSource = undefined;
    this.#candidate = undefined;
  }

  get rtpDestination(): Endpoint | undefined {
    return this.#rtpSource ?? this.#signalledRtp;
  }

  get rtcpDestination(): Endpoint | undefined {
    return (this.#rtcpMux ? this.#rtpSource : this.#rtcpSource) ?? this.#signalledRtcp;
  }

  /** Rules 2 and 3: whether a valid RTP packet from `rinfo` is (or now becomes) from the latched source. */
  acceptRtp(rinfo: RemoteInfo, ssrc: number, sequenceNumber: number, now: number): boolean {
    if (!sameEndpoint(this.#rtpSource, rinfo)) {
      if (this.#rtpSource) {
        if (now - this.#rtpSourceSeenMs < this.#relatchAfterMs) return false;
        if (!this.#candidateStreams(rinfo, ssrc, sequenceNumber)) return false;
      }
      this.#rtpSource = { address: rinfo.address, port: rinfo.port };
      this.#rtcpSource = undefined; // rule 4: RTCP follows the media source
    }
    this.#candidate = undefined;
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

  /** Counts the candidate's packets in a row; a packet of any other stream starts a new candidate. */
  #candidateStreams(rinfo: RemoteInfo, ssrc: number, sequenceNumber: number): boolean {
    const previous = this.#candidate;
    const continues =
      previous !== undefined &&
      sameEndpoint(previous, rinfo) &&
      previous.ssrc === ssrc &&
      previous.nextSequence === sequenceNumber;
    const packets = continues ? previous.packets + 1 : 1;
    this.#candidate = {
      address: rinfo.address,
      port: rinfo.port,
      ssrc,
      nextSequence: (sequenceNumber + 1) & 0xffff,
      packets,
    };
    return packets >= RELATCH_PACKETS;
  }
}
