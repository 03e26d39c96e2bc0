/**
 * What a SIP stream connection (TCP or TLS) may cost and how long it may sit: the limits, the
 * reasons the pool closes one (a metric label), the connection budget TCP and TLS share, and
 * each connection's timers — idle and header deadlines, and CRLF keep-alive on connections
 * we opened (RFC 5626 §4.4.1).
 */
import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../../util/index.js';
import { DEFAULT_TIMER_PROFILE } from '../transaction/base.js';

export interface TcpLimits {
  /** A connection with no complete message (or keep-alive) for this long is closed. */
  idleTimeoutMs: number;
  /** A message whose header section is not complete this long after its first byte closes the connection. */
  headerTimeoutMs: number;
  /** Connections from one address; more are closed at accept. */
  maxConnectionsPerSource: number;
  /** Connections in all; more are closed at accept. */
  maxConnections: number;
  /** CRLF pings on connections we opened (RFC 5626 §4.4.1); 0 sends none. */
  keepaliveIntervalMs: number;
}

export const DEFAULT_TCP_LIMITS: Readonly<TcpLimits> = {
  idleTimeoutMs: 300_000,
  headerTimeoutMs: 10_000,
  maxConnectionsPerSource: 64,
  maxConnections: 1024,
  keepaliveIntervalMs: 100_000,
};

/**
 * How long opening a connection may take, a TLS handshake included: RFC 3261 Timer B/F (64*T1),
 * by when the transaction waiting on it has given up, where the OS would hold the socket for ~2
 * minutes. The transport is not given the transactions' timer profile, so it is the default T1's.
 */
export const CONNECT_TIMEOUT_MS = 64 * DEFAULT_TIMER_PROFILE.t1;

/** Bytes we may have written to a connection that its peer has not read; beyond, it is closed. */
export const MAX_SEND_BACKLOG_BYTES = 1 << 20;

/** RFC 5626 §4.4.1: a flow whose pong does not come back within 10 s has failed. */
const PONG_TIMEOUT_MS = 10_000;

/** Why the pool closed a connection (a bounded set: a metric label). */
export const TCP_CLOSE_REASONS = [
  'idle',
  'header_timeout',
  'per_source_limit',
  'total_limit',
  'rejected_source',
  'framing_error',
  'keepalive_timeout',
  'send_backlog',
] as const;
export type TcpCloseReason = (typeof TCP_CLOSE_REASONS)[number];

/** Connections per source address and in all, counted across the pools that share it. */
export class ConnectionBudget {
  readonly #perSource = new Map<string, number>();
  readonly #limits: Pick<TcpLimits, 'maxConnectionsPerSource' | 'maxConnections'>;
  #total = 0;

  constructor(limits: Pick<TcpLimits, 'maxConnectionsPerSource' | 'maxConnections'>) {
    this.#limits = limits;
  }

  get total(): number {
    return this.#total;
  }

  /** Why a new connection from `address` is one too many, if it is. */
  refusal(address: string): 'per_source_limit' | 'total_limit' | undefined {
    if ((this.#perSource.get(address) ?? 0) >= this.#limits.maxConnectionsPerSource)
      return 'per_source_limit';
    if (this.#total >= this.#limits.maxConnections) return 'total_limit';
    return undefined;
  }

  /** Counts `socket` against `address` until it closes. */
  hold(address: string, socket: Socket): void {
    this.#total++;
    this.#perSource.set(address, (this.#perSource.get(address) ?? 0) + 1);
    socket.once('close', () => {
      this.#total--;
      const count = (this.#perSource.get(address) ?? 1) - 1;
      if (count > 0) this.#perSource.set(address, count);
      else this.#perSource.delete(address);
    });
  }
}

/** One connection's timers: an idle check re-armed lazily, a header deadline while one is pending. */
export class Deadlines {
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

/**
 * RFC 5626 §4.4.1 on a connection we opened: a ping every interval. A peer that has answered
 * a pong on this connection must answer each later ping within 10 s, or the connection has
 * failed; one that never pongs (not every server does) is left to the idle timeout.
 */
export class Keepalive {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #ping: () => void;
  readonly #failed: () => void;
  #peerPongs = false;
  #next: TimerHandle | undefined;
  #pongDeadline: TimerHandle | undefined;

  constructor(clock: Clock, intervalMs: number, ping: () => void, failed: () => void) {
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#ping = ping;
    this.#failed = failed;
    this.#schedule();
  }

  pong(): void {
    this.#peerPongs = true;
    this.#pongDeadline?.cancel();
    this.#pongDeadline = undefined;
  }

  cancel(): void {
    this.#next?.cancel();
    this.#pongDeadline?.cancel();
  }

  #schedule(): void {
    this.#next = this.#clock.setTimer(this.#intervalMs, () => {
      this.#ping();
      if (this.#peerPongs) this.#pongDeadline ??= this.#clock.setTimer(PONG_TIMEOUT_MS, this.#failed);
      this.#schedule();
    });
  }
}
