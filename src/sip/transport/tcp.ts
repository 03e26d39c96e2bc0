/**
 * TCP connections for SIP (RFC 3261 §18.1.1, §18.2.2): one listener, a pool of connections
 * keyed by remote address so requests and responses reuse them, CRLF keep-alive pongs
 * (RFC 5626 §3.5.1) and an idle timeout. TLS and WebSocket transports can reuse the pool by
 * handing it other sockets.
 */
import { createServer, type Server, Socket } from 'node:net';
import type { Logger } from '../../util/index.js';
import { SipStreamParser, type StreamEvent } from '../stream-parser.js';
import type { TransportAddress } from '../types.js';

export interface StreamHandlers {
  onEvent(event: StreamEvent, remote: TransportAddress, local: TransportAddress): void;
}

const CRLF = Buffer.from('\r\n');
const DEFAULT_IDLE_MS = 5 * 60_000;
const MAX_CONNECTIONS = 10_000;

function keyOf(address: string, port: number): string {
  return `${address}|${port}`;
}

export class TcpPool {
  readonly #connections = new Map<string, Socket>();
  #server: Server | undefined;
  #local: TransportAddress | undefined;

  constructor(
    private readonly handlers: StreamHandlers,
    private readonly logger: Logger,
    private readonly maxMessageBytes: number,
    private readonly idleMs = DEFAULT_IDLE_MS,
  ) {}

  get local(): TransportAddress | undefined {
    return this.#local;
  }

  get size(): number {
    return this.#connections.size;
  }

  listen(address: string, port: number): Promise<TransportAddress> {
    const server = createServer((socket) => this.#adopt(socket));
    server.maxConnections = MAX_CONNECTIONS;
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        server.on('error', (error) => this.logger.error({ err: error }, 'sip tcp listener error'));
        const bound = server.address();
        const boundPort = typeof bound === 'object' && bound ? bound.port : port;
        this.#local = { transport: 'tcp', address, port: boundPort };
        resolve(this.#local);
      });
    });
  }

  /** Writes on the connection to `destination`, opening one if none exists (§18.1.1). */
  async send(data: Buffer, destination: TransportAddress): Promise<void> {
    const socket =
      this.#connections.get(keyOf(destination.address, destination.port)) ??
      (await this.#connect(destination));
    socket.write(data);
  }

  close(): Promise<void> {
    for (const socket of this.#connections.values()) socket.destroy();
    this.#connections.clear();
    const server = this.#server;
    this.#server = undefined;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  #connect(destination: TransportAddress): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = new Socket();
      const fail = (error: Error): void => {
        socket.destroy();
        reject(error);
      };
      socket.once('error', fail);
      socket.setTimeout(this.idleMs);
      socket.connect(destination.port, destination.address, () => {
        socket.off('error', fail);
        this.#adopt(socket);
        resolve(socket);
      });
    });
  }

  #adopt(socket: Socket): void {
    const remoteAddress = socket.remoteAddress;
    const remotePort = socket.remotePort;
    if (remoteAddress === undefined || remotePort === undefined) {
      socket.destroy();
      return;
    }
    const key = keyOf(remoteAddress, remotePort);
    const remote: TransportAddress = { transport: 'tcp', address: remoteAddress, port: remotePort };
    const local: TransportAddress = {
      transport: 'tcp',
      address: socket.localAddress ?? '',
      port: socket.localPort ?? 0,
    };
    const parser = new SipStreamParser(this.maxMessageBytes);
    this.#connections.set(key, socket);
    socket.setNoDelay(true);
    socket.setTimeout(this.idleMs);
    socket.on('timeout', () => socket.destroy());
    socket.on('error', (error) => this.logger.debug({ err: error, remote: key }, 'sip tcp connection error'));
    socket.on('close', () => {
      if (this.#connections.get(key) === socket) this.#connections.delete(key);
    });
    socket.on('data', (chunk: Buffer) => {
      for (const event of parser.push(chunk)) {
        if (event.kind === 'ping') socket.write(CRLF);
        else if (event.kind === 'fatal') {
          this.logger.warn({ remote: key, reason: event.error.message }, 'sip tcp framing lost, closing');
          socket.destroy();
        }
        this.handlers.onEvent(event, remote, local);
      }
    });
  }
}
