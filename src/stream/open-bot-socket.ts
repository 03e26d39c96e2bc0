import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import type { Clock } from '../util/index.js';
import { signRequest } from './auth.js';

export type StreamAuth =
  | { kind: 'bearer'; token: string }
  | { kind: 'hmac'; secret: string; header?: string };

/** What opening a bot's socket needs from the call's stream options. */
export interface BotSocketTarget {
  url: string;
  clock: Clock;
  connectTimeoutMs?: number;
  auth?: StreamAuth;
  /** PEM CA bundle for wss:// backends with a private CA. */
  ca?: string | Buffer;
}

/** The largest bot message ws accepts; past it ws closes with 1009 (RFC 6455 §7.4.1). */
export const MAX_INBOUND_BYTES = 1 << 20;

/** The handshake header that proves the call is ours, when the route asks for one. */
function authHeaders(auth: StreamAuth | undefined, url: string): Record<string, string> {
  if (auth?.kind === 'bearer') return { Authorization: `Bearer ${auth.token}` };
  if (auth?.kind === 'hmac')
    return { [auth.header ?? 'X-Patchbay-Signature']: signRequest(auth.secret, url) };
  return {};
}

/** A bot socket whose handshake is done, and the TCP or TLS connection under it. */
export interface OpenedBotSocket {
  socket: WebSocket;
  connection: Duplex;
}

/**
 * Starts a bot socket's handshake: `socket` is there at once (to be cut while connecting),
 * `opened` settles on the handshake, rejecting on refusal, error or our own timeout on the
 * injected clock (not ws's timer).
 */
export function openBotSocket(target: BotSocketTarget): {
  socket: WebSocket;
  opened: Promise<OpenedBotSocket>;
} {
  const socket = new WebSocket(target.url, {
    headers: authHeaders(target.auth, target.url),
    maxPayload: MAX_INBOUND_BYTES,
    perMessageDeflate: false,
    // One message per loop turn: a read of 64 KiB of tiny messages is not parsed in one go.
    allowSynchronousEvents: false,
    ...(target.ca ? { ca: target.ca } : {}),
  });
  const timeoutMs = target.connectTimeoutMs ?? 3000;
  const opened = new Promise<OpenedBotSocket>((resolve, reject) => {
    const timer = target.clock.setTimer(timeoutMs, () => {
      socket.terminate();
      reject(new Error(`bot did not answer within ${timeoutMs} ms`));
    });
    // The 101 response comes on the connection ws then carries the socket on.
    let connection: Duplex | undefined;
    socket.once('upgrade', (response) => {
      connection = response.socket;
    });
    socket.once('open', () => {
      timer.cancel();
      if (connection) resolve({ socket, connection });
      else {
        socket.terminate();
        reject(new Error('bot socket opened without its connection'));
      }
    });
    socket.once('error', (error) => {
      timer.cancel();
      reject(error);
    });
    socket.once('unexpected-response', (_request, response) => {
      timer.cancel();
      socket.terminate();
      reject(new Error(`bot refused the upgrade with HTTP ${response.statusCode}`));
    });
  });
  return { socket, opened };
}
