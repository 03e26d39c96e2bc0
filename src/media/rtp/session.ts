import { randomBytes, randomInt } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isRtcp, isRtp, RtpPacket } from 'rtp.js/packets';
import type { Clock, TimerHandle } from '../../util/index.js';
import type { PortAllocator } from './port-allocator.js';
import { ReceiveStats } from './receive-stats.js';
import {
  buildCompoundRtcp,
  ntpMiddle32,
  type OutgoingReportBlock,
  parseCompoundRtcp,
  wallMsToNtp,
} from './rtcp.js';
import type { ReceivedRtp, RemoteReceptionReport, RtpStreamStats } from './types.js';

/** RFC 3550 §6.2: 5 s is the recommended minimum report interval. */
const DEFAULT_RTCP_INTERVAL_MS = 5000;
/** A latched source silent this long may be replaced by a new one (NAT rebinding). */
const DEFAULT_RELATCH_AFTER_MS = 1000;
/** Bound on bind retries when ports of the range are taken by other processes. */
const MAX_BIND_ATTEMPTS = 16;
const MAX_LISTENERS = 16;

export interface RtpSessionOptions {
  portRange: PortAllocator;
  bindAddress: string;
  clock: Clock;
  /** RFC 5761: RTP and RTCP share the RTP port; RTCP told apart by packet type 200-223 (PT 64-95). */
  rtcpMux?: boolean;
  /** Clock rate of the received payload, for jitter (8000 for G.711, 48000 for Opus). */
  clockRate?: number;
  cname?: string;
  ssrc?: number;
  rtcpIntervalMs?: number;
  relatchAfterMs?: number;
}

interface Endpoint {
  address: string;
  port: number;
}

interface Latch {
  endpoint: Endpoint | undefined;
  lastSeenMs: number;
}

function sameEndpoint(a: Endpoint | undefined, rinfo: RemoteInfo): boolean {
  return a !== undefined && a.address === rinfo.address && a.port === rinfo.port;
}

function bindSocket(socket: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

/**
 * One RTP stream pair over UDP, with RTCP. Symmetric RTP (RFC 4961, and the NAT practice
 * of SBCs), latching rules:
 *  1. Until media arrives, we send to the address the SDP gave (setRemote).
 *  2. The first valid RTP packet latches the RTP destination to its source address/port;
 *     RTCP latches separately on the first valid RTCP packet.
 *  3. Packets from other sources are dropped (counted as foreignPackets), unless the latched
 *     source has been silent for relatchAfterMs: then the new source is latched.
 *  4. setRemote() (a re-INVITE) clears the latch and starts again at rule 1.
 */
export class RtpSession {
  readonly localPort: number;
  readonly ssrc: number;
  private readonly rtpSocket: Socket;
  private readonly rtcpSocket: Socket | undefined;
  private readonly options: Required<Omit<RtpSessionOptions, 'portRange' | 'bindAddress' | 'clock' | 'ssrc'>>;
  private readonly clock: Clock;
  private readonly portRange: PortAllocator;
  private readonly listeners = new Set<(packet: ReceivedRtp) => void>();
  private signalledRtp: Endpoint | undefined;
  private signalledRtcp: Endpoint | undefined;
  private rtpLatch: Latch = { endpoint: undefined, lastSeenMs: 0 };
  private rtcpLatch: Latch = { endpoint: undefined, lastSeenMs: 0 };
  private source: ReceiveStats | undefined;
  private sequenceNumber = randomInt(0x10000);
  private lastSent: { timestamp: number; atMs: number } | undefined;
  private packetsSent = 0;
  private bytesSent = 0;
  private sentSinceReport = false;
  private lastSr: { middle32: number; atMs: number } | undefined;
  private rttMs: number | undefined;
  private remoteReport: RemoteReceptionReport | undefined;
  private counters = {
    packetsReceived: 0,
    bytesReceived: 0,
    ssrcChanges: 0,
    malformed: 0,
    foreign: 0,
    listenerErrors: 0,
    socketErrors: 0,
  };
  private rtcpSent = 0;
  private rtcpReceived = 0;
  private remoteBye = false;
  private rtcpTimer: TimerHandle | undefined;
  private isClosed = false;

  private constructor(
    options: RtpSessionOptions,
    localPort: number,
    rtpSocket: Socket,
    rtcpSocket: Socket | undefined,
  ) {
    this.clock = options.clock;
    this.portRange = options.portRange;
    this.localPort = localPort;
    this.rtpSocket = rtpSocket;
    this.rtcpSocket = rtcpSocket;
    this.ssrc = (options.ssrc ?? randomBytes(4).readUInt32BE(0)) >>> 0;
    this.options = {
      rtcpMux: options.rtcpMux ?? false,
      clockRate: options.clockRate ?? 8000,
      cname: options.cname ?? `patchbay-${randomBytes(6).toString('hex')}`,
      rtcpIntervalMs: options.rtcpIntervalMs ?? DEFAULT_RTCP_INTERVAL_MS,
      relatchAfterMs: options.relatchAfterMs ?? DEFAULT_RELATCH_AFTER_MS,
    };
    // Bad input never throws past the socket handler.
    rtpSocket.on('message', (msg, rinfo) => this.guard(() => this.onRtpPortMessage(msg, rinfo)));
    rtcpSocket?.on('message', (msg, rinfo) => this.guard(() => this.onRtcp(msg, rinfo)));
    const onSocketError = () => {
      this.counters.socketErrors++;
    };
    rtpSocket.on('error', onSocketError);
    rtcpSocket?.on('error', onSocketError);
    this.scheduleReport();
  }

  /** Binds an even port from the range (and the odd one above unless rtcp-mux). */
  static async open(options: RtpSessionOptions): Promise<RtpSession> {
    for (let attempt = 0; attempt < MAX_BIND_ATTEMPTS; attempt++) {
      const port = options.portRange.reserve();
      if (port === undefined) throw new RangeError('RTP port range exhausted');
      const rtpSocket = createSocket({ type: options.bindAddress.includes(':') ? 'udp6' : 'udp4' });
      const rtcpSocket = options.rtcpMux
        ? undefined
        : createSocket({ type: options.bindAddress.includes(':') ? 'udp6' : 'udp4' });
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

  get closed(): boolean {
    return this.isClosed;
  }

  get localRtcpPort(): number {
    return this.options.rtcpMux ? this.localPort : this.localPort + 1;
  }

  /** The far end from SDP: RTCP goes to rtcpPort, else port+1, or port itself with rtcp-mux. */
  setRemote(address: string, port: number, rtcpPort?: number): void {
    this.assertOpen();
    this.signalledRtp = { address, port };
    this.signalledRtcp = { address, port: rtcpPort ?? (this.options.rtcpMux ? port : port + 1) };
    this.rtpLatch = { endpoint: undefined, lastSeenMs: 0 };
    this.rtcpLatch = { endpoint: undefined, lastSeenMs: 0 };
  }

  /** Adds a listener for received RTP; returns its removal function. */
  onPacket(fn: (packet: ReceivedRtp) => void): () => void {
    this.assertOpen();
    if (this.listeners.size >= MAX_LISTENERS) throw new RangeError('too many RTP listeners');
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }

  /** Sends one RTP packet; dropped (not counted) while no remote is known yet. */
  send(payload: Uint8Array, opts: { payloadType: number; timestamp: number; marker?: boolean }): void {
    this.assertOpen();
    const destination = this.rtpLatch.endpoint ?? this.signalledRtp;
    if (!destination) return;
    const packet = new RtpPacket();
    packet.setPayloadType(opts.payloadType);
    packet.setSequenceNumber(this.sequenceNumber);
    packet.setTimestamp(opts.timestamp >>> 0);
    packet.setSsrc(this.ssrc);
    packet.setMarker(opts.marker ?? false);
    packet.setPayload(new DataView(payload.buffer, payload.byteOffset, payload.byteLength));
    const view = packet.getView();
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    this.lastSent = { timestamp: opts.timestamp >>> 0, atMs: this.clock.now() };
    this.packetsSent++;
    this.bytesSent += payload.byteLength;
    this.sentSinceReport = true;
    this.rtpSocket.send(
      new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
      destination.port,
      destination.address,
    );
  }

  stats(): RtpStreamStats {
    const source = this.source;
    return {
      ssrc: this.ssrc,
      remoteSsrc: source?.ssrc,
      packetsSent: this.packetsSent,
      bytesSent: this.bytesSent,
      packetsReceived: this.counters.packetsReceived,
      bytesReceived: this.counters.bytesReceived,
      packetsLost: source?.cumulativeLost ?? 0,
      fractionLost: source?.fractionLost ?? 0,
      jitterMs: source?.jitterMs ?? 0,
      roundTripTimeMs: this.rttMs,
      duplicates: source?.duplicates ?? 0,
      outOfOrder: source?.outOfOrder ?? 0,
      ssrcChanges: this.counters.ssrcChanges,
      malformed: this.counters.malformed,
      foreignPackets: this.counters.foreign,
      listenerErrors: this.counters.listenerErrors,
      socketErrors: this.counters.socketErrors,
      rtcpSent: this.rtcpSent,
      rtcpReceived: this.rtcpReceived,
      remoteBye: this.remoteBye,
      remoteReport: this.remoteReport,
    };
  }

  /** Sends RTCP BYE (RFC 3550 §6.6), closes the sockets and returns the port. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.rtcpTimer?.cancel();
    this.listeners.clear();
    const closeSockets = () => {
      this.rtpSocket.close();
      this.rtcpSocket?.close();
      this.portRange.release(this.localPort);
    };
    // Closing a socket cancels its pending sends: close once the BYE has left.
    let byeQueued = false;
    try {
      byeQueued = this.sendRtcp(true, closeSockets);
    } catch {
      this.counters.socketErrors++;
    }
    if (!byeQueued) closeSockets();
  }

  private assertOpen(): void {
    if (this.isClosed) throw new Error('RtpSession is closed');
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch {
      this.counters.malformed++;
    }
  }

  private onRtpPortMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.isClosed) return;
    const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    if (this.options.rtcpMux && msg.byteLength >= 4 && isRtcp(view)) this.onRtcp(msg, rinfo);
    else this.onRtp(view, rinfo);
  }

  /** Decides whether a valid packet's source is (or now becomes) the latched one. */
  private acceptSource(latch: Latch, rinfo: RemoteInfo, now: number): boolean {
    if (!sameEndpoint(latch.endpoint, rinfo)) {
      if (latch.endpoint && now - latch.lastSeenMs < this.options.relatchAfterMs) return false;
      latch.endpoint = { address: rinfo.address, port: rinfo.port };
    }
    latch.lastSeenMs = now;
    return true;
  }

  private onRtp(view: DataView, rinfo: RemoteInfo): void {
    if (view.byteLength < 12 || !isRtp(view)) {
      this.counters.malformed++;
      return;
    }
    const packet = new RtpPacket(view);
    const now = this.clock.now();
    if (!this.acceptSource(this.rtpLatch, rinfo, now)) {
      this.counters.foreign++;
      return;
    }
    const payloadView = packet.getPayload();
    const received: ReceivedRtp = {
      payloadType: packet.getPayloadType(),
      sequenceNumber: packet.getSequenceNumber(),
      timestamp: packet.getTimestamp(),
      ssrc: packet.getSsrc(),
      marker: packet.getMarker(),
      payload: new Uint8Array(payloadView.buffer, payloadView.byteOffset, payloadView.byteLength),
      arrivalMs: now,
    };
    if (!this.source || this.source.ssrc !== received.ssrc) {
      // A new SSRC is a new source (RFC 3550 §8.2): its sequence and jitter state start over.
      if (this.source) this.counters.ssrcChanges++;
      this.source = new ReceiveStats(received.ssrc, this.options.clockRate);
      this.lastSr = undefined;
      this.remoteBye = false;
    }
    const fresh = this.source.update(
      received.sequenceNumber,
      received.timestamp,
      now,
      received.payload.length,
    );
    this.counters.packetsReceived++;
    this.counters.bytesReceived += received.payload.length;
    if (!fresh) return; // duplicates, and a restart jump until confirmed, are not delivered
    for (const listener of this.listeners) {
      try {
        listener(received);
      } catch {
        this.counters.listenerErrors++;
      }
    }
  }

  private onRtcp(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.isClosed) return;
    const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    if (msg.byteLength < 8 || !isRtcp(view)) {
      this.counters.malformed++;
      return;
    }
    const parsed = parseCompoundRtcp(view, this.ssrc);
    const now = this.clock.now();
    if (!this.acceptSource(this.rtcpLatch, rinfo, now)) {
      this.counters.foreign++;
      return;
    }
    this.rtcpReceived++;
    if (this.source && parsed.byeSsrcs.includes(this.source.ssrc)) this.remoteBye = true;
    if (parsed.senderReport && parsed.senderReport.ssrc === this.source?.ssrc)
      this.lastSr = { middle32: ntpMiddle32(parsed.senderReport.ntp), atMs: now };
    const aboutUs = parsed.aboutUs;
    if (aboutUs) {
      this.remoteReport = {
        fractionLost: aboutUs.getFractionLost() / 256,
        packetsLost: aboutUs.getTotalLost(),
        jitterMs: (aboutUs.getJitter() * 1000) / this.options.clockRate,
        receivedAtMs: now,
      };
      const lsr = aboutUs.getLastSRTimestamp();
      if (lsr !== 0) {
        // RFC 3550 §6.4.1: RTT = A - LSR - DLSR, in 1/65536 s, modulo 2^32.
        const arrival = ntpMiddle32(wallMsToNtp(this.clock.wallNow()));
        const rtt = (arrival - lsr - aboutUs.getDelaySinceLastSR()) >>> 0;
        if (rtt < 0x80000000) this.rttMs = (rtt * 1000) / 65536;
      }
    }
  }

  /** RFC 3550 §6.3.5: randomize each interval over [0.5, 1.5] x the nominal one. */
  private scheduleReport(): void {
    const delay = this.options.rtcpIntervalMs * (0.5 + Math.random());
    this.rtcpTimer = this.clock.setTimer(delay, () => {
      if (this.isClosed) return;
      try {
        this.sendRtcp(false);
      } catch {
        this.counters.socketErrors++;
      }
      this.scheduleReport();
    });
  }

  /** Sends an RTCP report now (besides the periodic ones), e.g. after a re-INVITE. */
  sendReport(): void {
    this.assertOpen();
    this.sendRtcp(false);
  }

  /** Returns whether a packet was queued (then `sent` runs once it has left). */
  private sendRtcp(bye: boolean, sent?: () => void): boolean {
    const destination = this.rtcpLatch.endpoint ?? this.signalledRtcp;
    if (!destination) return false;
    const now = this.clock.now();
    let reportBlock: OutgoingReportBlock | undefined;
    if (this.source) {
      reportBlock = {
        ssrc: this.source.ssrc,
        ...this.source.makeReportBlock(),
        lastSr: this.lastSr?.middle32 ?? 0,
        delaySinceLastSr: this.lastSr ? Math.floor(((now - this.lastSr.atMs) * 65536) / 1000) : 0,
      };
    }
    const bytes = buildCompoundRtcp({
      ssrc: this.ssrc,
      cname: this.options.cname,
      sender:
        this.sentSinceReport && this.lastSent
          ? {
              ntp: wallMsToNtp(this.clock.wallNow()),
              // §6.4.1: the RTP time matching the NTP time, extrapolated from the last packet.
              rtpTimestamp:
                this.lastSent.timestamp +
                Math.round(((now - this.lastSent.atMs) * this.options.clockRate) / 1000),
              packetCount: this.packetsSent,
              octetCount: this.bytesSent,
            }
          : undefined,
      reportBlock,
      bye,
    });
    this.sentSinceReport = false;
    this.rtcpSent++;
    (this.rtcpSocket ?? this.rtpSocket).send(bytes, destination.port, destination.address, () => sent?.());
    return true;
  }
}
