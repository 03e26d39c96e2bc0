/**
 * Connections for SIP over TCP and TLS (RFC 3261 §18.1.1, §18.2.2, §26.2): one listener, a pool
 * of connections keyed by remote address so requests and responses reuse them, CRLF keep-alive
 * (RFC 5626 §3.5.1: pings on connections the peer opened are answered with a pong; connections
 * we opened are pinged, §4.4.1). What makes a socket ready for SIP — nothing for TCP, the
 * handshake for TLS — is a `StreamConnector`'s business (tcp below, tls.ts).
 *
 * A connection costs a file descriptor (and for TLS a handshake), so the pool bounds them:
 * unwanted sources are closed at accept, before any handshake; connections per source and in
 * total are capped (one `ConnectionBudget` shared by TCP and TLS); a connection with no complete
 * message for `idleTimeoutMs` is closed (§18: servers may close idle connections), and so is one
 * whose message headers do not complete within `headerTimeoutMs` (a slow client trickling
 * bytes); one we open that is not up, TLS handshake included, within CONNECT_TIMEOUT_MS is
 * abandoned. The limits and timers live in stream-limits.ts.
 */
import { createServer, type Server, Socket } from 'node:net';
import type { Clock, Logger } from '../../util/index.js';
import { SipStreamParser, type StreamEvent } from '../stream-parser.js';
import type { TransportAddress } from '../types.js';
import {
  CONNECT_TIMEOUT_MS,
  type ConnectionBudget,
  Deadlines,
  Keepalive,
  MAX_SEND_BACKLOG_BYTES,
  type TcpCloseReason,
  type TcpLimits,
} from './stream-limits.js';

export type StreamTransport = 'tcp' | 'tls';

/** How a socket becomes ready for SIP. Both promises reject when it cannot (the pool drops it). */
export interface StreamConnector {
  readonly transport: StreamTransport;
  /** An accepted socket, admitted by the pool: the socket to read SIP from. */
  accept(socket: Socket): Promise<Socket>;
  /**
   * A new connection to `destination`. The pool aborts `signal` only while the attempt is
   * pending (its deadline, or the pool closing): the socket is destroyed and the promise rejects.
   */
  connect(destination: TransportAddress, signal: AbortSignal): Promise<Socket>;
  /** What a ready socket's peer proved it is (TLS: its verified certificate's names), for `peerNames`. */
  peerNames?(socket: Socket): readonly string[] | undefined;
}

/** Plain TCP: an accepted socket is ready as it is. */
export const tcpConnector: StreamConnector = {
  transport: 'tcp',
  accept: (socket) => Promise.resolve(socket),
  connect: connectTcp,
};

/**
 * A TCP connection to `destination` (a host name is resolved by the OS). Aborting `signal`
 * before it is up destroys the socket; once up, the signal no longer concerns it.
 */
export function connectTcp(destination: TransportAddress, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const socket = new Socket();
    const fail = (error: unknown): void => {
      signal.removeEventListener('abort', abort);
      socket.destroy();
      reject(error);
    };
    const abort = (): void => fail(signal.reason);
    socket.once('error', fail);
    signal.addEventListener('abort', abort, { once: true });
    socket.connect(destination.port, destination.address, () => {
      socket.off('error', fail);
      signal.removeEventListener('abort', abort);
      resolve(socket);
    });
  });
}

export interface StreamPoolOptions {
  connector: StreamConnector;
  budget: ConnectionBudget;
  clock: Clock;
  logger: Logger;
  maxMessageBytes: number;
  limits: TcpLimits;
  onEvent(event: StreamEvent, remote: TransportAddress, local: TransportAddress): void;
  /** The pool closed a connection on its own. */
  onClosed(reason: TcpCloseReason): void;
  /** A connection we opened is gone, however it ended (the peer, a keep-alive, the pool). */
  onFlowClosed?(remote: TransportAddress): void;
  /** Accept-time admission: false closes the connection before anything is read. */
  allowConnection?(source: TransportAddress): boolean;
}

const CRLF = Buffer.from('\r\n');
const PING = Buffer.from('\r\n\r\n');

/** A connect that took too long: the error a send rejects with (`code` as the OS would name it). */
function timedOutError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ETIMEDOUT' });
}

function keyOf(address: string, port: number): string {
  return `${address}|${port}`;
}

interface Connection {
  socket: Socket;
  /** Destroys the socket and counts why (the pool closing a connection on its own). */
  close(reason: TcpCloseReason): void;
  /** Its key in the pool and every alias that leads to it. */
  keys: Set<string>;
  /** The listening port its peer claimed (RFC 5923); one at a time, so claims cannot pile up. */
  peerAlias?: string;
  /** The server name it was opened to (TLS verified its certificate for it), lower-cased. */
  serverName?: string;
}

/**
 * Whether `connection` may carry what goes to `destination`. One that names a server (a TLS
 * gateway, RFC 5922) takes only a connection we opened to that name: a peer's own connection,
 * its RFC 5923 alias, or one verified for another name never proved to be that server.
 */
function serves(connection: Connection, destination: TransportAddress): boolean {
  return (
    destination.serverName === undefined || connection.serverName === destination.serverName.toLowerCase()
  );
}

export class StreamPool {
  /** By remote address and port, as the socket sees it. */
  readonly #connections = new Map<string, Connection>();
  /** Other names of a connection: the host name it was dialled by, a peer's own listening port. */
  readonly #aliases = new Map<string, Connection>();
  /** Connections being opened, so concurrent sends to one destination share one. */
  readonly #opening = new Map<string, { connection: Promise<Connection>; abort: AbortController }>();
  /** Accepted sockets not ready yet (a TLS handshake in progress). */
  readonly #accepting = new Set<Socket>();
  readonly #options: StreamPoolOptions;
  #server: Server | undefined;
  #local: TransportAddress | undefined;
  #closed = false;

  constructor(options: StreamPoolOptions) {
    this.#options = options;
  }

  get local(): TransportAddress | undefined {
    return this.#local;
  }

  listen(address: string, port: number): Promise<TransportAddress> {
    const server = createServer((socket) => this.#accept(socket));
    this.#server = server;
    const transport = this.#options.connector.transport;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        server.on('error', (error) =>
          this.#options.logger.error({ err: error }, `sip ${transport} listener error`),
        );
        const bound = server.address();
        const boundPort = typeof bound === 'object' && bound ? bound.port : port;
        this.#local = { transport, address, port: boundPort };
        resolve(this.#local);
      });
    });
  }

  /**
   * Writes on the connection to `destination` (by its address, or a name it is known by),
   * opening one if none is open (§18.1.1); rejects when the write fails, so the transaction
   * sees a transport error (§17.1.4) instead of waiting for a timeout. A peer that has left
   * more than MAX_SEND_BACKLOG_BYTES unread is cut off rather than buffered for without end.
   * With `connectWithinMs`, a connection still opening after that long fails this send, and
   * this send only (the attempt goes on for others until CONNECT_TIMEOUT_MS): nothing of it
   * is written should the connection come up later.
   */
  async send(data: Buffer, destination: TransportAddress, connectWithinMs?: number): Promise<void> {
    const key = keyOf(destination.address, destination.port);
    const known = this.#connections.get(key) ?? this.#aliases.get(key);
    const connection =
      known?.socket.writable && serves(known, destination)
        ? known
        : await this.#waitFor(this.#open(key, destination), key, connectWithinMs);
    const written = new Promise<void>((resolve, reject) =>
      connection.socket.write(data, (error) => (error ? reject(error) : resolve())),
    );
    if (connection.socket.writableLength > MAX_SEND_BACKLOG_BYTES) connection.close('send_backlog');
    await written;
  }

  /**
   * RFC 5923 §5 connection reuse: requests to `port` on the address `remote` connected from go
   * over that connection while it is open. Only the peer's own address can be claimed, so a
   * client cannot draw away requests meant for anyone else; the transport asks it for TLS
   * connections only (§11).
   */
  alias(remote: TransportAddress, port: number): void {
    const connection = this.#connections.get(keyOf(remote.address, remote.port));
    const key = keyOf(remote.address, port);
    if (!connection || connection.peerAlias === key || this.#connections.has(key)) return;
    if (connection.peerAlias !== undefined) this.#dropAlias(connection.peerAlias, connection);
    connection.peerAlias = key;
    this.#setAlias(key, connection);
  }

  close(): Promise<void> {
    this.#closed = true;
    const closed = this.#closedError();
    for (const { abort } of this.#opening.values()) abort.abort(closed);
    for (const socket of this.#accepting) socket.destroy();
    for (const connection of this.#connections.values()) connection.socket.destroy();
    this.#connections.clear();
    this.#aliases.clear();
    const server = this.#server;
    this.#server = undefined;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  /** `opening`, or a rejection (ETIMEDOUT) once `withinMs` has passed without it. */
  #waitFor(opening: Promise<Connection>, key: string, withinMs: number | undefined): Promise<Connection> {
    if (withinMs === undefined) return opening;
    return new Promise((resolve, reject) => {
      const transport = this.#options.connector.transport;
      const deadline = this.#options.clock.setTimer(withinMs, () =>
        reject(timedOutError(`${transport} connect to ${key} not up within ${withinMs} ms`)),
      );
      opening.then(
        (connection) => {
          deadline.cancel();
          resolve(connection);
        },
        (error: unknown) => {
          deadline.cancel();
          reject(error);
        },
      );
    });
  }

  #open(key: string, destination: TransportAddress): Promise<Connection> {
    const serverName = destination.serverName?.toLowerCase();
    const openingKey = serverName === undefined ? key : `${key}|${serverName}`;
    const pending = this.#opening.get(openingKey);
    if (pending) return pending.connection;
    if (this.#closed) return Promise.reject(this.#closedError());
    const transport = this.#options.connector.transport;
    const abort = new AbortController();
    const connection = this.#connect(key, destination, abort)
      .then((socket) => {
        const connection = this.#adopt(socket, true);
        if (!connection) throw new Error(`${transport} connection to ${key} closed`);
        if (serverName !== undefined) connection.serverName = serverName;
        if (!connection.keys.has(key)) this.#setAlias(key, connection);
        return connection;
      })
      .finally(() => this.#opening.delete(openingKey));
    this.#opening.set(openingKey, { connection, abort });
    return connection;
  }

  /**
   * The connector's attempt, aborted after CONNECT_TIMEOUT_MS or when the pool closes: its
   * socket is destroyed and the sends waiting on it fail as they do on a refused connection,
   * so their transactions see a transport error (RFC 3261 §17.1.4). The first outcome wins.
   */
  #connect(key: string, destination: TransportAddress, abort: AbortController): Promise<Socket> {
    const { clock, connector } = this.#options;
    const signal = abort.signal;
    return new Promise((resolve, reject) => {
      const timedOut = (): void =>
        abort.abort(timedOutError(`${connector.transport} connect to ${key} timed out`));
      const deadline = clock.setTimer(CONNECT_TIMEOUT_MS, timedOut);
      const fail = (error: unknown): void => {
        deadline.cancel();
        reject(error);
      };
      signal.addEventListener('abort', () => fail(signal.reason), { once: true });
      connector.connect(destination, signal).then((socket) => {
        deadline.cancel();
        if (signal.aborted) socket.destroy();
        else resolve(socket);
      }, fail);
    });
  }

  #closedError(): Error {
    return new Error(`sip ${this.#options.connector.transport} transport closed`);
  }

  #setAlias(key: string, connection: Connection): void {
    connection.keys.add(key);
    this.#aliases.set(key, connection);
  }

  #dropAlias(key: string, connection: Connection): void {
    connection.keys.delete(key);
    if (this.#aliases.get(key) === connection) this.#aliases.delete(key);
  }

  #accept(socket: Socket): void {
    const address = socket.remoteAddress;
    const refusal = address === undefined ? undefined : this.#refusal(address, socket.remotePort ?? 0);
    if (refusal) {
      socket.destroy();
      this.#options.onClosed(refusal);
      return;
    }
    if (address !== undefined) this.#options.budget.hold(address, socket);
    this.#accepting.add(socket);
    this.#options.connector
      .accept(socket)
      .then(
        (ready) => this.#adopt(ready, false),
        () => socket.destroy(),
      )
      .finally(() => this.#accepting.delete(socket));
  }

  /** Accept-time admission: nothing is read from (or handshaken with) a refused connection. */
  #refusal(address: string, port: number): TcpCloseReason | undefined {
    const transport = this.#options.connector.transport;
    if (this.#options.allowConnection?.({ transport, address, port }) === false) return 'rejected_source';
    return this.#options.budget.refusal(address);
  }

  #adopt(socket: Socket, opened: boolean): Connection | undefined {
    const remoteAddress = socket.remoteAddress;
    const remotePort = socket.remotePort;
    if (remoteAddress === undefined || remotePort === undefined || this.#closed || socket.destroyed) {
      socket.destroy();
      return undefined;
    }
    const { clock, connector, limits, logger, maxMessageBytes } = this.#options;
    const transport = connector.transport;
    const key = keyOf(remoteAddress, remotePort);
    const peerNames = connector.peerNames?.(socket);
    const remote: TransportAddress = {
      transport,
      address: remoteAddress,
      port: remotePort,
      ...(peerNames ? { peerNames } : {}),
    };
    const local: TransportAddress = {
      transport,
      address: socket.localAddress ?? '',
      port: socket.localPort ?? 0,
    };
    const close = (reason: TcpCloseReason): void => {
      logger.debug({ remote: key, reason }, `sip ${transport} connection closed`);
      socket.destroy();
      this.#options.onClosed(reason);
    };
    const connection: Connection = { socket, keys: new Set([key]), close };
    const parser = new SipStreamParser(maxMessageBytes, opened);
    const deadlines = new Deadlines(clock, limits, close);
    const keepalive =
      opened && limits.keepaliveIntervalMs > 0
        ? new Keepalive(
            clock,
            limits.keepaliveIntervalMs,
            () => socket.write(PING),
            () => close('keepalive_timeout'),
          )
        : undefined;
    if (opened) this.#options.budget.hold(remoteAddress, socket);
    this.#connections.set(key, connection);
    socket.setNoDelay(true);
    socket.on('error', (error) =>
      logger.debug({ err: error, remote: key }, `sip ${transport} connection error`),
    );
    socket.on('close', () => {
      deadlines.cancel();
      keepalive?.cancel();
      for (const name of connection.keys) {
        if (this.#connections.get(name) === connection) this.#connections.delete(name);
        this.#dropAlias(name, connection);
      }
      if (opened && !this.#closed) this.#options.onFlowClosed?.(remote);
    });
    socket.on('data', (chunk: Buffer) => {
      for (const event of parser.push(chunk)) {
        if (event.kind === 'ping') socket.write(CRLF);
        if (event.kind === 'pong') keepalive?.pong();
        if (event.kind === 'fatal') {
          logger.warn({ remote: key, reason: event.error.message }, `sip ${transport} framing lost, closing`);
          close('framing_error');
        } else if (event.kind !== 'invalid') {
          deadlines.lastActivityMs = clock.now();
        }
        this.#options.onEvent(event, remote, local);
      }
      if (!socket.destroyed) deadlines.track(parser.headersPending);
    });
    return connection;
  }
}
