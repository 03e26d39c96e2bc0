/**
 * The SIP transport layer (RFC 3261 §18): UDP and TCP listeners behind one send/receive
 * interface for the endpoint. Received requests get Via `received`/`rport` (§18.2.1,
 * RFC 3581 §4). Responses always go back to the request's source address and port, as if
 * rport had been asked for: carriers behind NAT need it and nothing else is reachable. Requests that parse but are malformed are answered 400/416/505 here, other
 * garbage is dropped and counted; nothing thrown by parsing escapes the socket handler.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { Logger } from '../../util/index.js';
import type { EndpointTransport } from '../endpoint.js';
import { SipParseError } from '../grammar.js';
import type { SipMessage, SipRequest } from '../message.js';
import { createResponse } from '../message-ops.js';
import { DEFAULT_MAX_MESSAGE_BYTES, parseMessage, SipRequestError, serializeMessage } from '../parser.js';
import type { StreamEvent } from '../stream-parser.js';
import type { TransportAddress } from '../types.js';
import { serializeVia } from '../uri.js';
import { TcpPool } from './tcp.js';

export interface ListenSpec {
  transport: 'udp' | 'tcp';
  address: string;
  /** 0 picks a free port; see `local()` for the bound one. */
  port: number;
}

export interface SipTransportOptions {
  listen: ListenSpec[];
  logger: Logger;
  maxMessageBytes?: number;
  /**
   * Admission hook (flood protection, silent drop of unknown sources): false drops a request
   * before it reaches a transaction. It must not throw; it runs for every request.
   */
  allowRequest?(source: TransportAddress, request: SipRequest): boolean;
}

export interface TransportStats {
  received: number;
  sent: number;
  malformed: number;
  rateLimited: number;
  sendErrors: number;
}

type MessageHandler = (message: SipMessage, source: TransportAddress, local: TransportAddress) => void;

export class SipTransport implements EndpointTransport<SipMessage> {
  readonly stats: TransportStats = { received: 0, sent: 0, malformed: 0, rateLimited: 0, sendErrors: 0 };
  readonly #options: SipTransportOptions;
  readonly #maxBytes: number;
  #udp: UdpSocket | undefined;
  #udpLocal: TransportAddress | undefined;
  #tcp: TcpPool | undefined;
  #handler: MessageHandler | undefined;

  constructor(options: SipTransportOptions) {
    this.#options = options;
    this.#maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  async start(): Promise<void> {
    for (const spec of this.#options.listen) {
      if (spec.transport === 'udp') await this.#listenUdp(spec);
      else await this.#listenTcp(spec);
    }
  }

  /** The bound address of a transport, for Via sent-by and Contact. */
  local(transport: TransportAddress['transport']): TransportAddress | undefined {
    return transport === 'udp' ? this.#udpLocal : transport === 'tcp' ? this.#tcp?.local : undefined;
  }

  onMessage(handler: MessageHandler): void {
    this.#handler = handler;
  }

  isReliable(transport: TransportAddress['transport']): boolean {
    return transport !== 'udp';
  }

  async send(message: SipMessage, destination: TransportAddress): Promise<void> {
    const data = serializeMessage(message);
    try {
      if (destination.transport === 'udp') await this.#sendUdp(data, destination);
      else if (destination.transport === 'tcp' && this.#tcp) await this.#tcp.send(data, destination);
      else throw new Error(`no ${destination.transport} transport`);
      this.stats.sent++;
    } catch (error) {
      this.stats.sendErrors++;
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.#tcp?.close();
    const udp = this.#udp;
    this.#udp = undefined;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
  }

  #listenUdp(spec: ListenSpec): Promise<void> {
    const socket = createSocket({
      type: spec.address.includes(':') ? 'udp6' : 'udp4',
      recvBufferSize: 4 << 20,
    });
    this.#udp = socket;
    socket.on('message', (data, info) => {
      const source: TransportAddress = { transport: 'udp', address: info.address, port: info.port };
      if (this.#udpLocal) this.#receiveDatagram(data, source, this.#udpLocal);
    });
    socket.on('error', (error) => this.#options.logger.error({ err: error }, 'sip udp socket error'));
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(spec.port, spec.address, () => {
        socket.off('error', reject);
        this.#udpLocal = { transport: 'udp', address: spec.address, port: socket.address().port };
        resolve();
      });
    });
  }

  async #listenTcp(spec: ListenSpec): Promise<void> {
    this.#tcp = new TcpPool(
      { onEvent: (event, remote, local) => this.#receiveStreamEvent(event, remote, local) },
      this.#options.logger,
      this.#maxBytes,
    );
    await this.#tcp.listen(spec.address, spec.port);
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

  #receiveDatagram(data: Buffer, source: TransportAddress, local: TransportAddress): void {
    // RFC 5626 §4.4.1: a CRLF keep-alive datagram carries no message.
    if (data.length <= 4 && data.toString('latin1').trim() === '') return;
    try {
      this.#deliver(parseMessage(data, { datagram: true, maxMessageBytes: this.#maxBytes }), source, local);
    } catch (error) {
      this.#rejectMalformed(error, source);
    }
  }

  #receiveStreamEvent(event: StreamEvent, source: TransportAddress, local: TransportAddress): void {
    if (event.kind === 'message') this.#deliver(event.message, source, local);
    else if (event.kind === 'invalid' || event.kind === 'fatal') this.#rejectMalformed(event.error, source);
  }

  #deliver(message: SipMessage, source: TransportAddress, local: TransportAddress): void {
    this.stats.received++;
    try {
      if (message.isRequest) {
        if (this.#options.allowRequest && !this.#options.allowRequest(source, message)) {
          this.stats.rateLimited++;
          return;
        }
        stampReceived(message, source);
      }
      this.#handler?.(message, source, local);
    } catch (error) {
      this.stats.malformed++;
      this.#options.logger.warn({ err: error, source }, 'sip message handler failed');
    }
  }

  /** Answers what can be answered (§8.2: 400, 416, 505), drops everything else. */
  #rejectMalformed(error: unknown, source: TransportAddress): void {
    this.stats.malformed++;
    const reason = error instanceof Error ? error.message : String(error);
    this.#options.logger.debug({ source, reason }, 'malformed sip message');
    if (!(error instanceof SipRequestError) || error.request.method === 'ACK') return;
    const request = error.request;
    if (!(error instanceof SipParseError) || request.getAll('via').length === 0) return;
    try {
      const response = createResponse(request, error.status);
      response.append('Warning', `399 patchbay "${error.summary}"`);
      this.send(response, source).catch(() => undefined);
    } catch {
      // Headers too broken to build a response from: dropping is all that is left.
    }
  }
}

/** §18.2.1 and RFC 3581 §4: record where the request really came from in its top Via. */
function stampReceived(request: SipRequest, source: TransportAddress): void {
  const top = request.topVia();
  if (!top) return;
  if (top.host !== source.address) top.params.set('received', source.address);
  if (top.params.has('rport')) top.params.set('rport', String(source.port));
  else if (top.host === source.address) return;
  request.setList('via', [serializeVia(top), ...request.listValues('via').slice(1)]);
}
