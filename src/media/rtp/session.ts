import { randomBytes, randomInt } from 'node:crypto';
import type { RemoteInfo, Socket } from 'node:dgram';
import { type Clock, type TimerHandle, TypedEmitter } from '../../util/index.js';
import { SrtpFilter, type SrtpKeying, type SrtpPosition } from '../srtp/index.js';
import { type Endpoint, RtpLatch } from './latch.js';
import { isRtcpPacketType, parseRtp } from './parse.js';
import type { PortAllocator } from './port-allocator.js';
import { ReceiveSources } from './receive-sources.js';
import { RoundTripTime } from './round-trip.js';
import { buildCompoundRtcp, ntpMiddle32, parseCompoundRtcp, type ReportBlock, wallMsToNtp } from './rtcp.js';
import type { DatagramSent, SendBatch } from './send-batch.js';
import { SentStream } from './sent-stream.js';
import { readUdpDrops, type UdpDropTable } from './socket-drops.js';
import type { ReceivedRtp, RemoteReceptionReport, RtpStreamStats } from './types.js';
import { bindSocket, RTCP_RECEIVE_BUFFER_BYTES, RTP_RECEIVE_BUFFER_BYTES, udpSocket } from './udp-socket.js';
import { RtpPacketWriter } from './writer.js';

/** RFC 3550 §6.2: 5 s is the recommended minimum report interval. */
const DEFAULT_RTCP_INTERVAL_MS = 5000;
/** A latched source silent this long may be replaced by a new one (NAT rebinding). */
const DEFAULT_RELATCH_AFTER_MS = 1000;
/**
 * Bound on bind retries when ports of the range are taken by other processes. Those come in
 * blocks (a draining instance on the same range, another service's range overlapping ours), so
 * each retry jumps twice as far on as the last: 16 reach past a block of any size in the range.
 */
const MAX_BIND_ATTEMPTS = 16;
/** RTCP's fixed header plus the sender SSRC (RFC 3550 §6.4.1), the shortest datagram we parse. */
const MIN_DATAGRAM_BYTES = 8;
/**
 * Larger datagrams are dropped unparsed: audio RTP fits an Ethernet frame (G.711 20 ms is
 * 172 bytes, an Opus frame at most 1275 bytes, RFC 6716 §3.2.1), and a flood of large junk
 * must cost a length check, not a parse.
 */
const MAX_DATAGRAM_BYTES = 1500;
interface RtpSessionOptions {
  portRange: PortAllocator;
  bindAddress: string;
  clock: Clock;
  /** RFC 5761: RTP and RTCP share the RTP port; RTCP told apart by packet type 200-223 (PT 64-95). */
  rtcpMux?: boolean;
  /** Clock rate of the payload, for jitter (8000 for G.711, 48000 for Opus); see setAudioFormat. */
  clockRate?: number;
  cname?: string;
  ssrc?: number;
  /** The first sequence number sent (a stream continued from another node); default random. */
  sequenceNumber?: number;
  rtcpIntervalMs?: number;
  relatchAfterMs?: number;
  /** Only SRTP: until `setSrtp` gives keys, every packet is dropped (see SrtpFilter). */
  srtpRequired?: boolean;
  /** The SRTP state of a stream pair continued from another node, for the first keys set. */
  srtp?: SrtpPosition;
  /** The thread's batch of sends, flushed once per loop turn; without it each packet goes at once. */
  sendBatch?: SendBatch;
}

/** The options the session keeps, defaults filled in. */
type SessionSetting = 'rtcpMux' | 'clockRate' | 'cname' | 'rtcpIntervalMs' | 'relatchAfterMs';

export interface RtpSessionEvents {
  /** A fresh RTP packet from the latched source (duplicates are not delivered). */
  packet: [packet: ReceivedRtp];
}

/**
 * One RTP stream pair over UDP, with RTCP, its destinations and accepted sources following the
 * symmetric latching rules of RtpLatch (latch.ts).
 */
export class RtpSession extends TypedEmitter<RtpSessionEvents> {
  readonly localPort: number;
  readonly ssrc: number;
  readonly #rtpSocket: Socket;
  readonly #rtcpSocket: Socket | undefined;
  readonly #options: Required<Pick<RtpSessionOptions, SessionSetting>>;
  readonly #clock: Clock;
  readonly #portRange: PortAllocator;
  readonly #latch: RtpLatch;
  readonly #sources: ReceiveSources;
  #sequenceNumber = randomInt(0x10000);
  readonly #writer = new RtpPacketWriter();
  readonly #sent = new SentStream();
  readonly #rtt = new RoundTripTime();
  #remoteReport: RemoteReceptionReport | undefined;
  #counters = {
    packetsReceived: 0,
    bytesReceived: 0,
    malformed: 0,
    foreign: 0,
    listenerErrors: 0,
    socketErrors: 0,
  };
  #rtcpSent = 0;
  #rtcpReceived = 0;
  #remoteBye = false;
  #rtcpTimer: TimerHandle | undefined;
  readonly #srtp: SrtpFilter;
  readonly #sendBatch: SendBatch | undefined;
  #isClosed = false;
  #socketDrops = 0;

  private constructor(
    options: RtpSessionOptions,
    localPort: number,
    rtpSocket: Socket,
    rtcpSocket: Socket | undefined,
  ) {
    // A listener that throws is counted; the packet still reaches the others.
    super(() => {
      this.#counters.listenerErrors++;
    });
    this.#clock = options.clock;
    this.#srtp = new SrtpFilter({
      keysRequired: options.srtpRequired ?? false,
      ...(options.srtp ? { continueFrom: options.srtp } : {}),
    });
    this.#portRange = options.portRange;
    this.#sendBatch = options.sendBatch;
    this.localPort = localPort;
    this.#rtpSocket = rtpSocket;
    this.#rtcpSocket = rtcpSocket;
    this.ssrc = (options.ssrc ?? randomBytes(4).readUInt32BE(0)) >>> 0;
    if (options.sequenceNumber !== undefined) this.#sequenceNumber = options.sequenceNumber & 0xffff;
    this.#options = {
      rtcpMux: options.rtcpMux ?? false,
      clockRate: options.clockRate ?? 8000,
      cname: options.cname ?? `patchbay-${randomBytes(6).toString('hex')}`,
      rtcpIntervalMs: options.rtcpIntervalMs ?? DEFAULT_RTCP_INTERVAL_MS,
      relatchAfterMs: options.relatchAfterMs ?? DEFAULT_RELATCH_AFTER_MS,
    };
    this.#sources = new ReceiveSources(this.#options.clockRate);
    this.#latch = new RtpLatch(this.#options.rtcpMux, this.#options.relatchAfterMs);
    rtpSocket.on('message', (msg, rinfo) => this.#onRtpPortMessage(msg, rinfo));
    rtcpSocket?.on('message', (msg, rinfo) => this.#onRtcpPortMessage(msg, rinfo));
    const onSocketError = () => {
      this.#counters.socketErrors++;
    };
    rtpSocket.on('error', onSocketError);
    rtcpSocket?.on('error', onSocketError);
    this.#scheduleReport(true);
  }

  /** Binds an even port from the range (and the odd one above unless rtcp-mux). */
  static async open(options: RtpSessionOptions): Promise<RtpSession> {
    for (let attempt = 0; attempt < MAX_BIND_ATTEMPTS; attempt++) {
      const port = options.portRange.reserve(attempt === 0 ? 0 : 2 ** (attempt - 1));
      if (port === undefined) throw new RangeError('RTP port range exhausted');
      const rtpSocket = udpSocket(options.bindAddress, RTP_RECEIVE_BUFFER_BYTES);
      const rtcpSocket = options.rtcpMux
        ? undefined
        : udpSocket(options.bindAddress, RTCP_RECEIVE_BUFFER_BYTES);
      try {
        await bindSocket(rtpSocket, port, options.bindAddress);
        if (rtcpSocket) await bindSocket(rtcpSocket, port + 1, options.bindAddress);
        return new RtpSession(options, port, rtpSocket, rtcpSocket);
      } catch (error) {
        rtpSocket.close();
        rtcpSocket?.close();
        options.portRange.release(port);
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      }
    }
    throw new RangeError(`no free RTP port pair after ${MAX_BIND_ATTEMPTS} attempts`);
  }

  /** The sequence number the next packet sent carries. */
  get nextSequenceNumber(): number {
    return this.#sequenceNumber;
  }

  /** Where the SRTP stream pair stands at the next packet we send; undefined for plain RTP. */
  get srtpPosition(): SrtpPosition | undefined {
    return this.#srtp.position(this.#sequenceNumber, this.#sources.audio?.stats.ssrc);
  }

  get closed(): boolean {
    return this.#isClosed;
  }

  get localRtcpPort(): number {
    return this.#latch.rtcpMux ? this.localPort : this.localPort + 1;
  }

  /**
   * The far end from SDP: RTCP goes to rtcpPort, else port+1, or port itself with `rtcpMux` as
   * negotiated (default: as opened), which also reads RTCP on the RTP port (RFC 5761 §5.1.3).
   */
  setRemote(address: string, port: number, rtcpPort?: number, rtcpMux?: boolean): void {
    this.#assertOpen();
    this.#latch.setRemote(address, port, rtcpPort, rtcpMux);
  }

  /**
   * SRTP keys from SDES (a re-INVITE re-keys in place), or undefined for plain RTP: from now on
   * RTP and RTCP are protected before they are sent and checked before they are parsed.
   */
  setSrtp(keying: SrtpKeying | undefined): void {
    this.#assertOpen();
    this.#srtp.setKeys(keying);
  }

  /**
   * The negotiated audio codec. Its clock rate (48000 for Opus, RFC 7587 §4.1) is the unit of
   * jitter both ways and of the SR's RTP time (RFC 3550 §6.4.1, A.8): a change starts the receive
   * statistics over. Statistics and report blocks are about the source sending its payload type,
   * not telephone events on another SSRC (RFC 3550 §6.4, §8.2).
   */
  setAudioFormat(format: { payloadType: number; clockRate: number }): void {
    this.#assertOpen();
    if (!(format.clockRate > 0)) throw new RangeError('clockRate must be > 0');
    this.#options.clockRate = format.clockRate;
    this.#sources.setFormat(format.payloadType, format.clockRate);
  }

  /** Sends one RTP packet; dropped (not counted) while no remote is known yet. */
  send(payload: Uint8Array, opts: { payloadType: number; timestamp: number; marker?: boolean }): void {
    this.#assertOpen();
    const destination = this.#latch.rtpDestination;
    if (!destination) return;
    const timestamp = opts.timestamp >>> 0;
    const packet = this.#writer.write(
      payload,
      opts.payloadType,
      opts.marker ?? false,
      this.#sequenceNumber,
      timestamp,
      this.ssrc,
    );
    this.#sequenceNumber = (this.#sequenceNumber + 1) & 0xffff;
    this.#sent.sent(timestamp, payload.byteLength, this.#clock.now());
    this.#writer.hold();
    try {
      this.#transmit(this.#rtpSocket, this.#srtp.protectRtp(packet), destination, this.#rtpSent);
    } catch (error) {
      this.#writer.release();
      throw error;
    }
  }

  /**
   * Bound once, the send callback of every RTP packet: the writer's buffer is free again. With
   * a callback the socket reports a failed send here instead of as an 'error' event; a packet
   * still batched when close() closed the socket is not one.
   */
  readonly #rtpSent = (error: Error | null): void => {
    this.#writer.release();
    if (error && !this.#isClosed) this.#counters.socketErrors++;
  };

  /** Every packet of the session, RTP and RTCP, leaves through the batch when there is one: in order. */
  #transmit(socket: Socket, packet: Uint8Array, to: Endpoint, sent: DatagramSent): void {
    if (this.#sendBatch) this.#sendBatch.send(socket, packet, to.port, to.address, sent);
    else socket.send(packet, to.port, to.address, sent);
  }

  /** The far end's latest RTCP reception report about our stream, without building stats(). */
  get remoteReport(): RemoteReceptionReport | undefined {
    return this.#remoteReport;
  }

  stats(): RtpStreamStats {
    const source = this.#sources.audio?.stats;
    return {
      ssrc: this.ssrc,
      remoteSsrc: source?.ssrc,
      packetsSent: this.#sent.packets,
      bytesSent: this.#sent.octets,
      packetsReceived: this.#counters.packetsReceived,
      bytesReceived: this.#counters.bytesReceived,
      packetsLost: source?.cumulativeLost ?? 0,
      fractionLost: source?.fractionLost ?? 0,
      jitterMs: source?.jitterMs ?? 0,
      roundTripTimeMs: this.#rtt.ms,
      duplicates: source?.duplicates ?? 0,
      outOfOrder: source?.outOfOrder ?? 0,
      ssrcChanges: this.#sources.ssrcChanges,
      malformed: this.#counters.malformed,
      foreignPackets: this.#counters.foreign,
      socketDrops: this.#socketDrops,
      listenerErrors: this.#counters.listenerErrors,
      socketErrors: this.#counters.socketErrors,
      rtcpSent: this.#rtcpSent,
      rtcpReceived: this.#rtcpReceived,
      remoteBye: this.#remoteBye,
      remoteReport: this.#remoteReport,
      srtp: this.#srtp.stats(),
    };
  }

  /**
   * Reads the kernel's drop count of this session's sockets from `table` (read it once per
   * metrics scrape with readUdpDrops and pass it to every session) and returns the drops since
   * the previous sample, to add to a counter; the running total is stats().socketDrops. Drops
   * after the last sample before close() are not seen: the count dies with the socket.
   */
  sampleSocketDrops(table: UdpDropTable = readUdpDrops()): number {
    if (this.#isClosed) return 0;
    const rtcpDrops = this.#rtcpSocket ? (table.get(this.localPort + 1) ?? 0) : 0;
    const total = (table.get(this.localPort) ?? 0) + rtcpDrops;
    const added = Math.max(0, total - this.#socketDrops);
    this.#socketDrops += added;
    return added;
  }

  /** Sends RTCP BYE (RFC 3550 §6.6), closes the sockets and returns the port. Idempotent. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#rtcpTimer?.cancel();
    this.removeAllListeners();
    const closeSockets = () => {
      this.#rtpSocket.close();
      this.#rtcpSocket?.close();
      this.#portRange.release(this.localPort);
    };
    // Closing a socket cancels its pending sends: close once the BYE has left.
    let byeQueued = false;
    try {
      byeQueued = this.#sendRtcp(true, closeSockets);
    } catch {
      this.#counters.socketErrors++;
    }
    if (!byeQueued) closeSockets();
  }

  #assertOpen(): void {
    if (this.#isClosed) throw new Error('RtpSession is closed');
  }

  /** The cheapest test first, so a flood of junk or oversize datagrams costs no parsing. */
  #plausible(msg: Buffer): boolean {
    if (msg.length >= MIN_DATAGRAM_BYTES && msg.length <= MAX_DATAGRAM_BYTES && (msg[0] as number) >> 6 === 2)
      return true;
    this.#counters.malformed++;
    return false;
  }

  // Both handlers catch everything: bad input never throws past the socket handler.
  #onRtpPortMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.#isClosed || !this.#plausible(msg)) return;
    try {
      if (this.#latch.rtcpMux && isRtcpPacketType(msg[1] as number)) this.#onRtcp(msg, rinfo);
      else this.#onRtp(msg, rinfo);
    } catch {
      this.#counters.malformed++;
    }
  }

  #onRtcpPortMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.#isClosed || !this.#plausible(msg)) return;
    try {
      this.#onRtcp(msg, rinfo);
    } catch {
      this.#counters.malformed++;
    }
  }

  /** RFC 3711 §3.3, §3.4: under SRTP nothing unauthenticated is parsed, latched or counted as media. */
  #unprotect(msg: Buffer, kind: 'rtp' | 'rtcp'): Buffer | undefined {
    const clear = kind === 'rtp' ? this.#srtp.unprotectRtp(msg) : this.#srtp.unprotectRtcp(msg);
    if (clear === 'malformed') this.#counters.malformed++;
    return typeof clear === 'string' ? undefined : clear;
  }

  #onRtp(msg: Buffer, rinfo: RemoteInfo): void {
    const clear = this.#unprotect(msg, 'rtp');
    if (!clear) return;
    const now = this.#clock.now();
    const received = parseRtp(clear, now);
    if (!received) {
      this.#counters.malformed++;
      return;
    }
    if (!this.#latch.acceptRtp(rinfo, received.ssrc, received.sequenceNumber, now)) {
      this.#counters.foreign++;
      return;
    }
    // Each SSRC is its own source (RFC 3550 §8.2), with its own sequence, loss and jitter state.
    const audioBefore = this.#sources.audio;
    const source = this.#sources.receive(received.ssrc, received.payloadType);
    if (this.#sources.audio !== audioBefore) this.#remoteBye = false;
    const fresh = source.stats.update(
      received.sequenceNumber,
      received.timestamp,
      now,
      received.payload.length,
    );
    this.#counters.packetsReceived++;
    this.#counters.bytesReceived += received.payload.length;
    if (!fresh) return; // duplicates, and a restart jump until confirmed, are not delivered
    this.safeEmit('packet', received);
  }

  #onRtcp(msg: Buffer, rinfo: RemoteInfo): void {
    if (!isRtcpPacketType(msg[1] as number)) {
      this.#counters.malformed++;
      return;
    }
    if (!this.#latch.acceptsRtcpFrom(rinfo)) {
      this.#counters.foreign++;
      return;
    }
    const clear = this.#unprotect(msg, 'rtcp');
    if (!clear) return;
    const parsed = parseCompoundRtcp(
      new DataView(clear.buffer, clear.byteOffset, clear.byteLength),
      this.ssrc,
    );
    this.#latch.latchRtcp(rinfo);
    const now = this.#clock.now();
    this.#rtcpReceived++;
    const audio = this.#sources.audio;
    if (audio && parsed.byeSsrcs.includes(audio.stats.ssrc)) this.#remoteBye = true;
    if (parsed.senderReport)
      this.#sources.noteSenderReport(parsed.senderReport.ssrc, ntpMiddle32(parsed.senderReport.ntp), now);
    const aboutUs = parsed.aboutUs;
    if (aboutUs) {
      this.#remoteReport = {
        fractionLost: aboutUs.fractionLost / 256,
        packetsLost: aboutUs.cumulativeLost,
        jitterMs: (aboutUs.jitter * 1000) / this.#options.clockRate,
        receivedAtMs: now,
      };
      const arrival = wallMsToNtp(this.#clock.wallNow());
      this.#rtt.reportReceived(aboutUs.lastSr, aboutUs.delaySinceLastSr, arrival);
    }
  }

  /**
   * RFC 3550 §6.3.5: each interval randomized over [0.5, 1.5] x the nominal one; the first is
   * half the nominal (§6.2: the initial report goes after half the 5 s minimum).
   */
  #scheduleReport(initial = false): void {
    const nominalMs = initial ? this.#options.rtcpIntervalMs / 2 : this.#options.rtcpIntervalMs;
    const delay = nominalMs * (0.5 + Math.random());
    this.#rtcpTimer = this.#clock.setTimer(delay, () => {
      if (this.#isClosed) return;
      try {
        this.#sendRtcp(false);
      } catch {
        this.#counters.socketErrors++;
      }
      this.#scheduleReport();
    });
  }

  /** Sends an RTCP report now (besides the periodic ones), e.g. after a re-INVITE. */
  sendReport(): void {
    this.#assertOpen();
    this.#sendRtcp(false);
  }

  /** Returns whether a packet was queued (then `sent` runs once it has left). */
  #sendRtcp(bye: boolean, sent?: () => void): boolean {
    const destination = this.#latch.rtcpDestination;
    if (!destination) return false;
    const now = this.#clock.now();
    // RFC 3550 §6.4: one report block, about the source we listen to, the audio.
    const audio = this.#sources.audio;
    let reportBlock: ReportBlock | undefined;
    if (audio) {
      const lastSr = audio.lastSr;
      reportBlock = {
        ssrc: audio.stats.ssrc,
        ...audio.stats.makeReportBlock(),
        lastSr: lastSr?.middle32 ?? 0,
        delaySinceLastSr: lastSr ? Math.floor(((now - lastSr.atMs) * 65536) / 1000) : 0,
      };
    }
    const ntp = wallMsToNtp(this.#clock.wallNow());
    const stream = this.#sent;
    if (stream.senderReportDue) this.#rtt.senderReportSent(ntp);
    const bytes = buildCompoundRtcp({
      ssrc: this.ssrc,
      cname: this.#options.cname,
      sender: stream.senderReportDue
        ? {
            ntp,
            rtpTimestamp: stream.rtpTimeAt(now, this.#options.clockRate),
            packetCount: stream.packets,
            octetCount: stream.octets,
          }
        : undefined,
      reportBlock,
      bye,
    });
    stream.reportSent();
    this.#rtcpSent++;
    const wire = this.#srtp.protectRtcp(bytes);
    const socket = this.#latch.rtcpMux ? this.#rtpSocket : (this.#rtcpSocket ?? this.#rtpSocket);
    this.#transmit(socket, wire, destination, () => sent?.());
    return true;
  }
}
