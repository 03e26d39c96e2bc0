/**
 * TCP connections for SIP (RFC 3261 §18.1.1, §18.2.2): one listener, a pool of connections
 * keyed by remote address so requests and responses reuse them, CRLF keep-alive pongs
 * (RFC 5626 §3.5.1). A connection costs a file descriptor, so the pool bounds them: unwanted
 * sources are closed at accept, connections per source and in total are capped, a connection
 * with no complete message for `idleTimeoutMs` is closed (§18: servers may close idle
 * connections), and so is one whose message headers do not complete within
 * `headerTimeoutMs` (a slow client trickling bytes).
 */
import { createServer, type Server, Socket } from 'node:net';
import type { Clock, Logger, TimerHandle } from '../../util/index.js';
import { SipStreamParser, type StreamEvent } from '../stream-parser.js';
import type { TransportAddress } from '../types.js';

export interface TcpLimits {
  /** A connection with no complete message (or keep-alive) for this long is closed. */
  idleTimeoutMs: number;
  /** A message whose header section is not complete this long after its first byte closes the connection. */
  headerTimeoutMs: number;
  /** Connections from one address; more are closed at accept. */
  maxConnectionsPerSource: number;
  /** Connections in all; more are closed at accept. */
  maxConnections: number;
}

export const DEFAULT_TCP_LIMITS: Readonly<TcpLimits> = {
  idleTimeoutMs: 300_000,
  headerTimeoutMs: 10_000,
  maxConnectionsPerSource: 64,
  maxConnections: 1024,
};

/** Why the pool closed a connection (a bounded set: a metric label). */
export const TCP_CLOSE_REASONS = [
  'idle',
  'header_timeout',
  'per_source_limit',
  'total_limit',
  'rejected_source',
  'framing_error',
] as const;
export type TcpCloseReason = (typeof TCP_CLOSE_REASONS)[number];

export interface TcpPoolOptions {
  clock: Clock;
  logger: Logger;
  maxMessageBytes: number;
  limits: TcpLimits;
  onEvent(event: StreamEvent, remote: TransportAddress, local: TransportAddress): void;
  /** The pool closed a connection on its own. */
  onClosed(reason: TcpCloseReason): void;
  /** Accept-time admission: false closes the connection before anything is read. */
  allowConnection?(source: TransportAddress): boolean;
}

const CRLF = Buffer.from('\r\n');

function keyOf(address: string, port: number): string {
  return `${address}|${port}`;
}

/** One connection's timers: an idle check re-armed lazily, a header deadline while one is pending. */
class Deadlines {
  lastActivityMs: number;
  readonly #clock: Clock;
  readonly #limits: TcpLimits;
  readonly #expire: (reason: TcpCloseReason) => void;
  #idle: TimerHandle | undefined;
  #header: TimerHandle | undefined;

  constructor(clock: Clock, limits: TcpLimits, expire: (reason: TcpCloseReason) => void) {
    this.#clock = clock;
    this.#limits = limits;
    this.#expire = expire;
    this.lastActivityMs = clock.now();
    this.#armIdle(limits.idleTimeoutMs);
  }

  /** Called after each chunk: arm the header deadline when a message's headers are pending. */
  track(headersPending: boolean): void {
    if (!headersPending) {
      this.#header?.cancel();
      this.#header = undefined;
    } else if (!this.#header) {
      this.#header = this.#clock.setTimer(this.#limits.headerTimeoutMs, () => this.#expire('header_timeout'));
    }
  }

  cancel(): void {
    this.#idle?.cancel();
    this.#header?.cancel();
  }

  /** Activity only moves a timestamp; the timer re-arms for the rest when it fires. */
  #armIdle(delayMs: number): void {
    this.#idle = this.#clock.setTimer(delayMs, () => {
      const quietMs = this.#clock.now() - this.lastActivityMs;
      if (quietMs >= this.#limits.idleTimeoutMs) this.#expire('idle');
      else this.#armIdle(this.#limits.idleTimeoutMs - quietMs);
    });
  }
}

export class TcpPool {
  readonly #connections = new Map<string, Socket>();
  readonly #perSource = new Map<string, number>();
  readonly #options: TcpPoolOptions;
  #server: Server | undefined;
  #local: TransportAddress | undefined;

  constructor(options: TcpPoolOptions) {
    this.#options = options;
  }

  get local(): TransportAddress | undefined {
    return this.#local;
  }

  get size(): number {
    return this.#connections.size;
  }

  listen(address: string, port: number): Promise<TransportAddress> {
    const server = createServer((socket) => this.#accept(socket));
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        server.on('error', (error) => this.#options.logger.error({ err: error }, 'sip tcp listener error'));
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
      socket.connect(destination.port, destination.address, () => {
        socket.off('error', fail);
        this.#adopt(socket);
        resolve(socket);
      });
    });
  }

  #accept(socket: Socket): void {
    const refusal = this.#refusal(socket);
    if (refusal) this.#close(socket, refusal);
    else this.#adopt(socket);
  }

  /** Accept-time admission: nothing is read from a refused connection. */
  #refusal(socket: Socket): TcpCloseReason | undefined {
    const address = socket.remoteAddress;
    const port = socket.remotePort;
    if (address === undefined || port === undefined) return undefined; // already gone; #adopt drops it
    if (this.#options.allowConnection?.({ transport: 'tcp', address, port }) === false)
      return 'rejected_source';
    const { maxConnectionsPerSource, maxConnections } = this.#options.limits;
    if ((this.#perSource.get(address) ?? 0) >= maxConnectionsPerSource) return 'per_source_limit';
    if (this.#connections.size >= maxConnections) return 'total_limit';
    return undefined;
  }

  #close(socket: Socket, reason: TcpCloseReason): void {
    socket.destroy();
    this.#options.onClosed(reason);
  }

  #adopt(socket: Socket): void {
    const remoteAddress = socket.remoteAddress;
    const remotePort = socket.remotePort;
    if (remoteAddress === undefined || remotePort === undefined) {
      socket.destroy();
      return;
    }
    const { clock, limits, logger, maxMessageBytes } = this.#options;
    const key = keyOf(remoteAddress, remotePort);
    const remote: TransportAddress = { transport: 'tcp', address: remoteAddress, port: remotePort };
    const local: TransportAddress = {
      transport: 'tcp',
      address: socket.localAddress ?? '',
      port: socket.localPort ?? 0,
    };
    const parser = new SipStreamParser(maxMessageBytes);
    const deadlines = new Deadlines(clock, limits, (reason) => {
      logger.debug({ remote: key, reason }, 'sip tcp connection closed');
      this.#close(socket, reason);
    });
    this.#connections.set(key, socket);
    this.#perSource.set(remoteAddress, (this.#perSource.get(remoteAddress) ?? 0) + 1);
    socket.setNoDelay(true);
    socket.on('error', (error) => logger.debug({ err: error, remote: key }, 'sip tcp connection error'));
    socket.on('close', () => {
      deadlines.cancel();
      if (this.#connections.get(key) === socket) this.#connections.delete(key);
      const count = (this.#perSource.get(remoteAddress) ?? 1) - 1;
      if (count > 0) this.#perSource.set(remoteAddress, count);
      else this.#perSource.delete(remoteAddress);
    });
    socket.on('data', (chunk: Buffer) => {
      for (const event of parser.push(chunk)) {
        if (event.kind === 'ping') socket.write(CRLF);
        if (event.kind === 'fatal') {
          logger.warn({ remote: key, reason: event.error.message }, 'sip tcp framing lost, closing');
          this.#close(socket, 'framing_error');
        } else if (event.kind !== 'invalid') {
          deadlines.lastActivityMs = clock.now();
        }
        this.#options.onEvent(event, remote, local);
      }
      if (!socket.destroyed) deadlines.track(parser.headersPending);
    });
  }
}
