/**
 * The SIP transport layer (RFC 3261 §18): UDP, TCP and TLS (§26.2) listeners behind one
 * send/receive interface for the endpoint; TCP and TLS share one connection layer
 * (stream-pool.ts) and one connection budget. Received requests get Via `received`/`rport` (§18.2.1,
 * RFC 3581 §4). Responses always go back to the request's source address and port, as if
 * rport had been asked for: carriers behind NAT need it and nothing else is reachable.
 *
 * Admission runs cheapest first, so hostile traffic costs as little as possible: a datagram
 * over the size bound or not starting like SIP is dropped unparsed; a request (other than an
 * ACK or a retransmission of a live server transaction, which the transaction layer absorbs)
 * must pass the per-source `allowSource` hook before a datagram is parsed (on TCP, once the
 * stream is framed); a parsed request must pass `allowRequest`. Requests that parse but are malformed are answered 400/416/505 here. Every
 * refusal is counted by reason (`shed` event); nothing thrown by parsing escapes the socket
 * handler.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { type Clock, type Logger, SystemClock, TypedEmitter } from '../../util/index.js';
import type { EndpointTransport, RetransmissionProbe } from '../endpoint.js';
import { SipParseError } from '../grammar.js';
import type { SipMessage, SipRequest } from '../message.js';
import { createResponse } from '../message-ops.js';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  parseMessage,
  SipRequestError,
  serializeMessage,
  sniffStartLine,
  sniffTopVia,
} from '../parser.js';
import type { StreamEvent } from '../stream-parser.js';
import {
  type SendOptions,
  SHED_REASONS,
  type ShedReason,
  type TransportAddress,
  type Via,
} from '../types.js';
import { DatagramQueue, type DatagramQueueLimits, DEFAULT_DATAGRAM_QUEUE_LIMITS } from './datagram-queue.js';
import {
  ConnectionBudget,
  DEFAULT_TCP_LIMITS,
  TCP_CLOSE_REASONS,
  type TcpCloseReason,
  type TcpLimits,
} from './stream-limits.js';
import { type StreamConnector, StreamPool, type StreamTransport, tcpConnector } from './stream-pool.js';
import {
  DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
  TLS_HANDSHAKE_FAILURES,
  type TlsClientPolicy,
  TlsConnector,
  type TlsCredentials,
  type TlsDirection,
  type TlsHandshakeFailure,
  type TlsListenerOptions,
} from './tls.js';
import { readUdpDrops } from './udp-drops.js';

export type { TcpCloseReason, TcpLimits } from './stream-limits.js';
export type { TlsClientPolicy, TlsDirection, TlsHandshakeFailure, TlsListenerOptions } from './tls.js';

export type ListenSpec =
  | {
      transport: 'udp' | 'tcp';
      address: string;
      /** 0 picks a free port; see `local()` for the bound one. */
      port: number;
    }
  | { transport: 'tls'; address: string; port: number; tls: TlsListenerOptions };

/** SO_RCVBUF asked for on SIP UDP sockets: room for a burst at a few thousand datagrams/s. */
const DEFAULT_UDP_RECEIVE_BUFFER_BYTES = 4 << 20;

export interface SipTransportOptions {
  listen: ListenSpec[];
  logger: Logger;
  /** Drives the TCP connect, idle and header deadlines and the datagram queue's turns; default the system clock. */
  clock?: Clock;
  maxMessageBytes?: number;
  /** SO_RCVBUF for UDP sockets; the kernel caps it at net.core.rmem_max. */
  udpReceiveBufferBytes?: number;
  /** Bounds of the per-source queues between the UDP socket and the parser (DatagramQueue). */
  datagramQueue?: Partial<DatagramQueueLimits>;
  /** Limits of TCP and TLS connections (one budget for both). */
  tcp?: Partial<TcpLimits>;
  /**
   * TLS handshakes and how to check the servers we connect to (default: the system CAs and the
   * destination's host). With it, TLS can be sent without a TLS listener.
   */
  tls?: { handshakeTimeoutMs?: number; clientPolicy?(destination: TransportAddress): TlsClientPolicy };
  /** Accept-time admission of a TCP or TLS connection: false closes it before anything is read. */
  allowConnection?(source: TransportAddress): boolean;
  /**
   * Per-source admission before parsing (flood protection): false drops the request unread.
   * Not asked for ACKs or retransmissions of live server transactions. Must not throw.
   */
  allowSource?(source: TransportAddress): boolean;
  /**
   * Admission after parsing (silent drop of sources no trunk knows): false drops a request
   * before it reaches a transaction. It must not throw; it runs for every request.
   */
  allowRequest?(source: TransportAddress, request: SipRequest): boolean;
}

export interface TransportStats {
  received: number;
  sent: number;
  sendErrors: number;
  /** Requests refused unserved, by reason. */
  shed: Record<ShedReason, number>;
  /** TCP and TLS connections the pools closed on their own, by reason. */
  tcpClosed: Record<TcpCloseReason, number>;
  tlsHandshakeFailures: Record<TlsHandshakeFailure, number>;
}

export interface SipTransportEvents {
  /** A message was refused unserved (one event each; a bounded reason for a metric label). */
  shed: [reason: ShedReason];
  /** A TCP or TLS pool closed a connection on its own. */
  tcpClosed: [reason: TcpCloseReason, transport: StreamTransport];
  /** A TLS handshake failed (the connection is gone); `detail` is free text for logs only. */
  tlsHandshakeFailed: [reason: TlsHandshakeFailure, direction: TlsDirection, detail: string];
  /**
   * A TCP or TLS connection we opened is gone (RFC 5626 §4.4.1's flow failure): a peer that
   * sends us requests on it, a registrar behind which our Contact is not reachable
   * otherwise, can no longer.
   */
  flowClosed: [remote: TransportAddress];
}

type MessageHandler = (message: SipMessage, source: TransportAddress, local: TransportAddress) => void;

export class SipTransport extends TypedEmitter<SipTransportEvents> implements EndpointTransport<SipMessage> {
  readonly stats: TransportStats = {
    received: 0,
    sent: 0,
    sendErrors: 0,
    shed: zeroCounts(SHED_REASONS),
    tcpClosed: zeroCounts(TCP_CLOSE_REASONS),
    tlsHandshakeFailures: zeroCounts(TLS_HANDSHAKE_FAILURES),
  };
  readonly #options: SipTransportOptions;
  readonly #maxBytes: number;
  readonly #streamLimits: TcpLimits;
  readonly #budget: ConnectionBudget;
  readonly #clock: Clock;
  #udp: UdpSocket | undefined;
  readonly #datagrams: DatagramQueue;
  #udpLocal: TransportAddress | undefined;
  readonly #streams = new Map<StreamTransport, StreamPool>();
  #tls: TlsConnector | undefined;
  #handler: MessageHandler | undefined;
  #isRetransmission: RetransmissionProbe | undefined;

  constructor(options: SipTransportOptions) {
    super();
    this.#options = options;
    this.#maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#streamLimits = { ...DEFAULT_TCP_LIMITS, ...options.tcp };
    this.#budget = new ConnectionBudget(this.#streamLimits);
    const clock = options.clock ?? new SystemClock();
    this.#clock = clock;
    this.#datagrams = new DatagramQueue({
      limits: { ...DEFAULT_DATAGRAM_QUEUE_LIMITS, ...options.datagramQueue },
      now: () => clock.now(),
      defer: (fn) => setImmediate(fn),
      handle: (data, source) => this.#handleDatagram(data, source),
      onError: (error, source) =>
        this.#options.logger.warn({ err: error, source }, 'sip datagram handler failed'),
    });
  }

  async start(): Promise<void> {
    for (const spec of this.#options.listen) {
      if (spec.transport === 'udp') await this.#listenUdp(spec);
      else
        await this.#streamPool(spec.transport, spec.transport === 'tls' ? spec.tls : undefined).listen(
          spec.address,
          spec.port,
        );
    }
    if (this.#options.tls && !this.#streams.has('tls')) this.#streamPool('tls', undefined);
  }

  /** The bound address of a transport, for Via sent-by and Contact. */
  local(transport: TransportAddress['transport']): TransportAddress | undefined {
    if (transport === 'udp') return this.#udpLocal;
    return transport === 'ws' ? undefined : this.#streams.get(transport)?.local;
  }

  /** New TLS connections present these (a reload); connections already up keep theirs. */
  setTlsCredentials(credentials: TlsCredentials): void {
    this.#tls?.setCredentials(credentials);
  }

  onMessage(handler: MessageHandler, isRetransmission?: RetransmissionProbe): void {
    this.#handler = handler;
    this.#isRetransmission = isRetransmission;
  }

  isReliable(transport: TransportAddress['transport']): boolean {
    return transport !== 'udp';
  }

  /** Whether requests can go out over `transport`: a socket, or a listener for the Via's sent-by. */
  supports(transport: TransportAddress['transport']): boolean {
    return this.local(transport) !== undefined;
  }

  /**
   * Datagrams the kernel dropped on the SIP UDP socket because its receive buffer was full,
   * read from /proc on demand (a scrape); undefined without a UDP socket or off Linux.
   */
  async udpSocketDrops(): Promise<number | undefined> {
    const local = this.#udpLocal;
    return local ? readUdpDrops(local.address, local.port) : undefined;
  }

  /** Sends `message`; with `options.connectWithinMs`, see StreamPool.send. */
  async send(
    message: SipMessage | Buffer,
    destination: TransportAddress,
    options?: SendOptions,
  ): Promise<void> {
    const data = Buffer.isBuffer(message) ? message : serializeMessage(message);
    try {
      const pool = destination.transport === 'udp' ? undefined : this.#streamPoolFor(destination.transport);
      if (destination.transport === 'udp') await this.#sendUdp(data, destination);
      else if (pool) await pool.send(data, destination, options?.connectWithinMs);
      else throw new Error(`no ${destination.transport} transport`);
      this.stats.sent++;
    } catch (error) {
      this.stats.sendErrors++;
      throw error;
    }
  }

  async close(): Promise<void> {
    for (const pool of this.#streams.values()) await pool.close();
    this.#datagrams.close();
    const udp = this.#udp;
    this.#udp = undefined;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
  }

  #listenUdp(spec: ListenSpec): Promise<void> {
    const requested = this.#options.udpReceiveBufferBytes ?? DEFAULT_UDP_RECEIVE_BUFFER_BYTES;
    const socket = createSocket({
      type: spec.address.includes(':') ? 'udp6' : 'udp4',
      recvBufferSize: requested,
    });
    this.#udp = socket;
    socket.on('message', (data, info) => {
      const source: TransportAddress = { transport: 'udp', address: info.address, port: info.port };
      if (this.#udpLocal) this.#receiveDatagram(data, source);
    });
    socket.on('error', (error) => this.#options.logger.error({ err: error }, 'sip udp socket error'));
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(spec.port, spec.address, () => {
        socket.off('error', reject);
        this.#udpLocal = { transport: 'udp', address: spec.address, port: socket.address().port };
        this.#logReceiveBuffer(socket, requested);
        resolve();
      });
    });
  }

  /** Linux reports twice what it granted (bookkeeping overhead), capped at net.core.rmem_max. */
  #logReceiveBuffer(socket: UdpSocket, requested: number): void {
    const achieved = socket.getRecvBufferSize();
    const log = { requested, achieved, local: this.#udpLocal };
    if (achieved < requested)
      this.#options.logger.warn(log, 'sip udp receive buffer smaller than asked; raise net.core.rmem_max');
    else this.#options.logger.info(log, 'sip udp receive buffer');
  }

  #streamPoolFor(transport: 'tcp' | 'tls' | 'ws'): StreamPool | undefined {
    return transport === 'ws' ? undefined : this.#streams.get(transport);
  }

  /** The pool of a stream transport; TLS needs listener credentials to accept connections. */
  #streamPool(transport: StreamTransport, listener: TlsListenerOptions | undefined): StreamPool {
    const clock = this.#clock;
    const pool = new StreamPool({
      connector: transport === 'tls' ? this.#tlsConnector(clock, listener) : tcpConnector,
      budget: this.#budget,
      clock,
      logger: this.#options.logger,
      maxMessageBytes: this.#maxBytes,
      limits: this.#streamLimits,
      onEvent: (event, remote, local) => this.#receiveStreamEvent(event, remote, local),
      onClosed: (reason) => {
        this.stats.tcpClosed[reason]++;
        this.safeEmit('tcpClosed', reason, transport);
      },
      onFlowClosed: (remote) => this.safeEmit('flowClosed', remote),
      ...(this.#options.allowConnection ? { allowConnection: this.#options.allowConnection } : {}),
    });
    this.#streams.set(transport, pool);
    return pool;
  }

  #tlsConnector(clock: Clock, listener: TlsListenerOptions | undefined): StreamConnector {
    const options = this.#options.tls;
    this.#tls = new TlsConnector({
      clock,
      handshakeTimeoutMs: options?.handshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
      ...(listener ? { listener } : {}),
      clientPolicy:
        options?.clientPolicy ??
        ((destination) => ({ serverName: destination.serverName ?? destination.address, verify: true })),
    });
    this.#tls.on('handshakeFailed', (reason, direction, detail) => {
      this.stats.tlsHandshakeFailures[reason]++;
      this.safeEmit('tlsHandshakeFailed', reason, direction, detail);
    });
    return this.#tls;
  }

  #sendUdp(data: Buffer, destination: TransportAddress): Promise<void> {
    const socket = this.#udp;
    if (!socket) return Promise.reject(new Error('udp transport closed'));
    return new Promise((resolve, reject) => {
      socket.send(data, destination.port, destination.address, (error) =>
        error ? reject(error) : resolve(),
      );
    });
  }

  #receiveDatagram(data: Buffer, source: TransportAddress): void {
    // RFC 5626 §4.4.1: a CRLF keep-alive datagram carries no message.
    if (data.length <= 4 && data.toString('latin1').trim() === '') return;
    const refusal = this.#screenDatagram(data, source);
    if (refusal) {
      this.#shed(refusal);
      return;
    }
    if (!this.#datagrams.push(data, source)) this.#shed('queue_full');
  }

  /** A datagram's turn in the fair queue: parsed and handed on. */
  #handleDatagram(data: Buffer, source: TransportAddress): void {
    const local = this.#udpLocal;
    if (!local) return;
    try {
      this.#deliver(parseMessage(data, { datagram: true, maxMessageBytes: this.#maxBytes }), source, local);
    } catch (error) {
      this.#rejectMalformed(error, source);
    }
  }

  /** The checks that cost less than a parse: size, a SIP start line, the per-source limit. */
  #screenDatagram(data: Buffer, source: TransportAddress): ShedReason | undefined {
    if (data.length > this.#maxBytes) return 'oversize';
    const start = sniffStartLine(data);
    if (!start) return 'malformed';
    if (start.kind === 'request' && !this.#admit(source, start.method, () => sniffTopVia(data)))
      return 'rate_limited';
    return undefined;
  }

  #receiveStreamEvent(event: StreamEvent, source: TransportAddress, local: TransportAddress): void {
    if (event.kind === 'message') {
      const message = event.message;
      if (!message.isRequest || this.#admit(source, message.method, () => message.topVia()))
        this.#deliver(message, source, local);
      else this.#shed('rate_limited');
    } else if (event.kind === 'fatal') this.#shed('oversize');
    else if (event.kind === 'invalid') this.#rejectMalformed(event.error, source);
  }

  /**
   * The per-source limit, before parsing. ACKs and retransmissions of a live server
   * transaction pass: the transaction layer absorbs them at no new cost (§17.2.1: an ACK
   * stops Timer G; a retransmitted request re-sends the stored response), and dropping them
   * would only make us retransmit more.
   */
  #admit(source: TransportAddress, method: string, topVia: () => Via | undefined): boolean {
    const allowSource = this.#options.allowSource;
    if (!allowSource || method === 'ACK') return true;
    const via = this.#isRetransmission ? topVia() : undefined;
    if (via && this.#isRetransmission?.(method, via)) return true;
    return allowSource(source);
  }

  #shed(reason: ShedReason): void {
    this.stats.shed[reason]++;
    this.safeEmit('shed', reason);
  }

  #deliver(message: SipMessage, source: TransportAddress, local: TransportAddress): void {
    this.stats.received++;
    try {
      if (message.isRequest) {
        if (this.#options.allowRequest && !this.#options.allowRequest(source, message)) {
          this.#shed('unknown_source');
          return;
        }
        this.#reuseConnection(message, source);
        stampReceived(message, source);
      }
      this.#handler?.(message, source, local);
    } catch (error) {
      this.#options.logger.warn({ err: error, source }, 'sip message handler failed');
    }
  }

  /**
   * A TLS peer that connected from another port than the one it listens on (its Via sent-by)
   * gets requests for that port over this connection while it is open (RFC 5923 §5): TLS
   * phones and NATed peers often cannot take a connection in. Only the peer's own address,
   * and never over plain TCP: without TLS nothing authenticates the claim (RFC 5923 §11), and
   * anyone on a carrier's address could take the requests meant for its listening port.
   * Responses still go back over the connection their request came on (RFC 3261 §18.2.2).
   */
  #reuseConnection(request: SipRequest, source: TransportAddress): void {
    const pool = source.transport === 'tls' ? this.#streamPoolFor(source.transport) : undefined;
    const via = pool ? request.topVia() : undefined;
    if (!pool || via?.port === undefined || via.port === source.port) return;
    const host = via.host.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0 && host === source.address) pool.alias(source, via.port);
  }

  /** Answers what can be answered (§8.2: 400, 416, 505), drops everything else. */
  #rejectMalformed(error: unknown, source: TransportAddress): void {
    this.#shed(error instanceof SipParseError && error.status === 513 ? 'oversize' : 'malformed');
    const reason = error instanceof Error ? error.message : String(error);
    this.#options.logger.debug({ source, reason }, 'malformed sip message');
    if (!(error instanceof SipRequestError) || error.request.method === 'ACK') return;
    const request = error.request;
    if (!request.has('via')) return;
    try {
      const response = createResponse(request, error.status);
      response.append('Warning', `399 patchbay "${error.summary}"`);
      this.send(response, source).catch(() => undefined);
    } catch {
      // Headers too broken to build a response from: dropping is all that is left.
    }
  }
}

function zeroCounts<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
}

/** §18.2.1 and RFC 3581 §4: record where the request really came from in its top Via. */
function stampReceived(request: SipRequest, source: TransportAddress): void {
  const top = request.topVia();
  if (!top) return;
  if (top.host !== source.address) top.params.set('received', source.address);
  if (top.params.has('rport')) top.params.set('rport', String(source.port));
  else if (top.host === source.address) return;
  request.writeBackTopVia();
}
