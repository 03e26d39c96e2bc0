/**
 * SIP transports and bare TLS sockets on loopback for the TLS transport tests: a listening
 * SipTransport with a test-PKI certificate, a client-only one with a verification policy, raw
 * TLS clients, and a way to wait for the next message a transport delivers. Everything opened
 * here is closed by `closeAll()`.
 */
import { connect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { SipMessage } from '../../../src/sip/message.js';
import { parseMessage } from '../../../src/sip/parser.js';
import {
  SipTransport,
  type SipTransportOptions,
  type TcpLimits,
  type TlsClientPolicy,
} from '../../../src/sip/transport/index.js';
import type { TransportAddress } from '../../../src/sip/types.js';
import { type Clock, FakeClock, silentLogger } from '../../../src/util/index.js';
import type { PemPair } from '../../helpers/test-pki.js';

const open: Array<{ close(): unknown }> = [];

export async function closeAll(): Promise<void> {
  for (const item of open.splice(0).reverse()) await item.close();
}

export function options(branch: string, via = 'SIP/2.0/TLS 127.0.0.2:5999'): SipMessage {
  return parseMessage(
    Buffer.from(
      [
        'OPTIONS sip:sink@127.0.0.1 SIP/2.0',
        `Via: ${via};branch=z9hG4bK-${branch}`,
        'Max-Forwards: 70',
        'From: <sip:a@127.0.0.2>;tag=1',
        'To: <sip:sink@127.0.0.1>',
        `Call-ID: ${branch}@tls-test`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    ),
  );
}

export interface Delivered {
  message: SipMessage;
  source: TransportAddress;
}

/** Resolves with the next message `transport` delivers. */
export function nextMessage(transport: SipTransport): Promise<Delivered> {
  return new Promise((resolve) => transport.onMessage((message, source) => resolve({ message, source })));
}

export interface ServerOptions {
  clock?: FakeClock;
  limits?: Partial<TcpLimits>;
  requireClientCert?: boolean;
  /** CAs client certificates must chain to. */
  ca?: string;
  handshakeTimeoutMs?: number;
  /** Also listen on TCP (to share the connection budget). */
  withTcp?: boolean;
  allowConnection?: SipTransportOptions['allowConnection'];
  clientPolicy?: (destination: TransportAddress) => TlsClientPolicy;
}

/** A SipTransport with a TLS listener on 127.0.0.1 presenting `leaf`. */
export async function tlsServer(leaf: PemPair, serverOptions: ServerOptions = {}) {
  const clock = serverOptions.clock ?? new FakeClock();
  const transport = new SipTransport({
    listen: [
      {
        transport: 'tls',
        address: '127.0.0.1',
        port: 0,
        tls: {
          cert: leaf.cert,
          key: leaf.key,
          ...(serverOptions.ca ? { ca: serverOptions.ca } : {}),
          requireClientCert: serverOptions.requireClientCert ?? false,
        },
      },
      ...(serverOptions.withTcp ? [{ transport: 'tcp' as const, address: '127.0.0.1', port: 0 }] : []),
    ],
    logger: silentLogger,
    clock,
    tcp: serverOptions.limits ?? {},
    tls: {
      handshakeTimeoutMs: serverOptions.handshakeTimeoutMs ?? 5_000,
      ...(serverOptions.clientPolicy ? { clientPolicy: serverOptions.clientPolicy } : {}),
    },
    ...(serverOptions.allowConnection ? { allowConnection: serverOptions.allowConnection } : {}),
  });
  await transport.start();
  open.push(transport);
  const port = transport.local('tls')?.port ?? 0;
  return { transport, clock, port };
}

/** A SipTransport that only connects out over TLS, checking servers with `policy`. */
export async function tlsClient(
  policy: TlsClientPolicy,
  clock: Clock = new FakeClock(),
  limits: Partial<TcpLimits> = {},
  handshakeTimeoutMs = 5_000,
) {
  const transport = new SipTransport({
    listen: [],
    logger: silentLogger,
    clock,
    tcp: limits,
    tls: { handshakeTimeoutMs, clientPolicy: () => policy },
  });
  await transport.start();
  open.push(transport);
  return { transport, clock };
}

/** A bare TLS client to `port`; resolves once the handshake is done. */
export function rawTlsClient(
  port: number,
  tlsOptions: { ca?: string; cert?: string; key?: string; servername?: string } = {},
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ...tlsOptions });
    open.push({ close: () => socket.destroy() });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A bare TCP connection (no handshake) to `port`. */
export function rawTcp(port: number, localAddress = '127.0.0.2'): Socket {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  open.push({ close: () => socket.destroy() });
  return socket;
}

export function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) resolve();
    else socket.once('close', () => resolve());
  });
}

/** Resolves with the next `bytes` bytes read from `socket`. */
export function read(socket: Socket, bytes: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      if (text.length >= bytes) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
  });
}
