/**
 * SIP over TLS (RFC 3261 §26.2.1, RFC 5630): the `StreamConnector` that secures the stream
 * pool's sockets, so TLS has TCP's framing, keep-alive, reuse and limits.
 *
 * Accepted sockets are handed to a `tls.Server` that never listens itself: the pool's own
 * listener accepts and admits first, so a refused source costs no handshake, and every
 * handshake in progress holds one of the pool's connection slots. New connections are verified
 * against the trusted CAs and the server's name the SIP way (RFC 5922, tls-identity.ts), unless
 * a policy turns verification off, and present the listener's certificate when there is one
 * (for peers that want mutual TLS, RFC 5922 §7.3). Every handshake has a deadline on the injected clock;
 * each failure is reported once, with a bounded reason, and the socket destroyed.
 */
import { isIP, type Socket } from 'node:net';
import { connect, createServer, type PeerCertificate, type Server, type TLSSocket } from 'node:tls';
import { type Clock, TypedEmitter } from '../../util/index.js';
import type { TransportAddress } from '../types.js';
import { connectTcp, type StreamConnector } from './stream-pool.js';
import { checkSipServerIdentity, peerIdentities } from './tls-identity.js';

/** PEM credentials of a TLS listener; re-read on reload. */
export interface TlsCredentials {
  cert: string;
  key: string;
  /** CAs client certificates must chain to; default the system CAs. */
  ca?: string;
}

export interface TlsListenerOptions extends TlsCredentials {
  /** Refuse clients without a certificate that chains to `ca` (mutual TLS). */
  requireClientCert: boolean;
}

/** How to check the server of a new connection. */
export interface TlsClientPolicy {
  /** The name its certificate must carry (RFC 5922 §7.3: the host of the URI we resolved). */
  serverName: string;
  /** CAs its certificate must chain to; default the system CAs. */
  ca?: string;
  /** false: no chain or name check (labs). */
  verify: boolean;
}

/** Why a handshake failed (a bounded set: a metric label). */
export const TLS_HANDSHAKE_FAILURES = [
  'timeout',
  'certificate',
  'name_mismatch',
  'protocol',
  'closed',
] as const;
export type TlsHandshakeFailure = (typeof TLS_HANDSHAKE_FAILURES)[number];
export type TlsDirection = 'inbound' | 'outbound';

export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface TlsConnectorOptions {
  clock: Clock;
  handshakeTimeoutMs: number;
  /** Needed to accept connections; a connector without it only connects. */
  listener?: TlsListenerOptions;
  clientPolicy(destination: TransportAddress): TlsClientPolicy;
}

export interface TlsConnectorEvents {
  handshakeFailed: [reason: TlsHandshakeFailure, direction: TlsDirection, detail: string];
}

/**
 * A handshake error's code to a bounded reason: errno codes (ECONNRESET) mean the peer went
 * away; Node's `ERR_SSL_*` codes are alerts and protocol errors, certificate ones among them;
 * the rest are OpenSSL's chain verification results (UNABLE_TO_VERIFY_LEAF_SIGNATURE...).
 */
export function handshakeFailureOf(error: unknown): TlsHandshakeFailure {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || /^E[A-Z]+$/.test(code)) return 'closed';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'name_mismatch';
  if (!code.startsWith('ERR_')) return 'certificate';
  return /CERT|_CA$|UNKNOWN_CA/.test(code) ? 'certificate' : 'protocol';
}

type Settle = { ok(socket: TLSSocket): void; fail(error: unknown): void };

export class TlsConnector extends TypedEmitter<TlsConnectorEvents> implements StreamConnector {
  readonly transport = 'tls';
  readonly #options: TlsConnectorOptions;
  readonly #server: Server | undefined;
  #credentials: TlsCredentials | undefined;
  /** Server handshakes in progress, by remote address and port. */
  readonly #accepting = new Map<string, Settle>();

  constructor(options: TlsConnectorOptions) {
    super();
    this.#options = options;
    const listener = options.listener;
    if (!listener) return;
    this.#credentials = listener;
    // handshakeTimeout 0: the deadline runs on the injected clock instead.
    this.#server = createServer({
      ...secureContextOptions(listener),
      requestCert: listener.requireClientCert,
      rejectUnauthorized: listener.requireClientCert,
      handshakeTimeout: 0,
    });
    this.#server.on('secureConnection', (socket) => this.#accepting.get(remoteKey(socket))?.ok(socket));
    this.#server.on('tlsClientError', (error, socket) => this.#accepting.get(remoteKey(socket))?.fail(error));
  }

  /** New connections present these; connections already up keep what they negotiated. */
  setCredentials(credentials: TlsCredentials): void {
    if (!this.#server) return;
    this.#credentials = credentials;
    this.#server.setSecureContext(secureContextOptions(credentials));
  }

  accept(raw: Socket): Promise<Socket> {
    const server = this.#server;
    if (!server) return Promise.reject(new Error('no TLS listener credentials'));
    const key = remoteKey(raw);
    return this.#handshake('inbound', raw, undefined, (settle) => {
      this.#accepting.set(key, settle);
      server.emit('connection', raw);
    }).finally(() => this.#accepting.delete(key));
  }

  async connect(destination: TransportAddress, signal: AbortSignal): Promise<Socket> {
    const raw = await connectTcp(destination, signal);
    const policy = this.#options.clientPolicy(destination);
    const ours = this.#credentials;
    return this.#handshake('outbound', raw, signal, (settle) => {
      const socket = connect({
        socket: raw,
        // RFC 6066 §3: SNI carries host names only.
        ...(isIP(policy.serverName) === 0 ? { servername: policy.serverName } : {}),
        ...(policy.ca !== undefined ? { ca: policy.ca } : {}),
        ...(ours ? { cert: ours.cert, key: ours.key } : {}),
        rejectUnauthorized: policy.verify,
        checkServerIdentity: (_host: string, cert: PeerCertificate) =>
          policy.verify ? checkSipServerIdentity(policy.serverName, cert) : undefined,
      });
      socket.once('secureConnect', () => settle.ok(socket));
      socket.once('error', (error) => settle.fail(error));
    });
  }

  /**
   * The names of the peer's certificate once it was verified against the trusted CAs: a client
   * of a listener that requires one (mutual TLS), or a server we checked. Without a verified
   * certificate, none.
   */
  peerNames(socket: Socket): readonly string[] | undefined {
    const tls = socket as TLSSocket;
    if (!tls.authorized) return undefined;
    const cert = tls.getPeerCertificate();
    return cert && Object.keys(cert).length > 0 ? peerIdentities(cert) : undefined;
  }

  /**
   * Runs one handshake against the clock; the first outcome wins and a failure is reported once.
   * An outbound one also ends when the pool aborts the connect (its deadline, or closing),
   * counted as a timeout.
   */
  #handshake(
    direction: TlsDirection,
    raw: Socket,
    signal: AbortSignal | undefined,
    start: (settle: Settle) => void,
  ): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (): boolean => {
        if (done) return false;
        done = true;
        timer.cancel();
        raw.off('close', onClose);
        signal?.removeEventListener('abort', onAbort);
        return true;
      };
      const fail = (reason: TlsHandshakeFailure, error: unknown): void => {
        if (!finish()) return;
        raw.destroy();
        const detail = error instanceof Error ? error.message : reason;
        this.safeEmit('handshakeFailed', reason, direction, detail);
        reject(error instanceof Error ? error : new Error(`TLS handshake failed: ${reason}`));
      };
      // A TLS error is emitted on the next tick after its socket closes: let it name the reason.
      const onClose = (): void =>
        void setImmediate(() => fail('closed', new Error('connection closed during the TLS handshake')));
      const timer = this.#options.clock.setTimer(this.#options.handshakeTimeoutMs, () =>
        fail('timeout', new Error('TLS handshake timed out')),
      );
      const onAbort = (): void => fail('timeout', signal?.reason);
      raw.once('close', onClose);
      signal?.addEventListener('abort', onAbort, { once: true });
      start({
        ok: (socket) => {
          if (finish()) resolve(socket);
          else socket.destroy();
        },
        fail: (error) => fail(handshakeFailureOf(error), error),
      });
    });
  }
}

function secureContextOptions(credentials: TlsCredentials): TlsCredentials {
  return {
    cert: credentials.cert,
    key: credentials.key,
    ...(credentials.ca !== undefined ? { ca: credentials.ca } : {}),
  };
}

function remoteKey(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}
