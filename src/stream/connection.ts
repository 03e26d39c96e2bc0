/**
 * One call's WebSocket to its bot: connect with a timeout before the call is
 * answered, authenticate by bearer token or HMAC signature, send through the call's dialect,
 * and never let a slow or vanished backend stall the media clock: caller audio waits in a
 * small bounded queue whose oldest frames are dropped (and counted) while the socket's own
 * buffer is over its bound; control messages (marks, DTMF, stop) are never dropped while the
 * socket is open. Bot messages that fail the dialect's parse are counted, logged at most every
 * 5 s and not passed on; a message over 1 MiB makes ws close with 1009 (RFC 6455 §7.4.1), and
 * the call then follows its reconnect policy like any other lost backend.
 */
import WebSocket from 'ws';
import type { Clock, Logger, TimerHandle } from '../util/index.js';
import { signRequest } from './auth.js';
import type { BotInput, StreamCallInfo, StreamDialect, WireMessage } from './dialect.js';

export type StreamAuth =
  | { kind: 'bearer'; token: string }
  | { kind: 'hmac'; secret: string; header?: string };

export interface StreamConnectionOptions {
  url: string;
  dialect: StreamDialect;
  call: StreamCallInfo;
  clock: Clock;
  logger: Logger;
  connectTimeoutMs?: number;
  auth?: StreamAuth;
  /** PEM CA bundle for wss:// backends with a private CA. */
  ca?: string | Buffer;
  /** Socket buffer above which caller audio is queued (and then dropped); default 256 KiB. */
  maxBufferedBytes?: number;
  onBotInput(input: BotInput): void;
  /**
   * The backend is gone for good: `backend-gone (<close code>[, why])` under the hangup policy,
   * `backend-gone (<n> reconnects failed)` after the last retry. Not called for close().
   */
  onClosed(reason: string): void;
  reconnect?: { policy: 'hangup' | 'reconnect'; maxRetries?: number; backoffMs?: number };
}

export interface StreamConnectionStats {
  framesSent: number;
  droppedFrames: number;
  bytesSent: number;
  messagesReceived: number;
  invalidMessages: number;
  reconnects: number;
  queueDepth: number;
}

const MAX_QUEUED_FRAMES = 25;
const MAX_INBOUND_BYTES = 1 << 20;
const INVALID_LOG_INTERVAL_MS = 5000;

export class StreamConnection {
  readonly stats: StreamConnectionStats = {
    framesSent: 0,
    droppedFrames: 0,
    bytesSent: 0,
    messagesReceived: 0,
    invalidMessages: 0,
    reconnects: 0,
    queueDepth: 0,
  };
  readonly #options: StreamConnectionOptions;
  readonly #queue: WireMessage[] = [];
  #socket: WebSocket | undefined;
  #closed = false;
  #lastInvalidLog = -Infinity;
  #retryTimer: TimerHandle | undefined;
  /** Why ws is closing the current socket, when it told us before 'close' (an oversized message). */
  #failure: string | undefined;

  constructor(options: StreamConnectionOptions) {
    this.#options = options;
  }

  get sampleRate(): number {
    return this.#options.dialect.sampleRate;
  }

  /** Opens the socket and sends the dialect's opening messages; rejects on timeout or refusal. */
  async connect(): Promise<void> {
    const socket = await this.#open();
    if (this.#closed) {
      socket.terminate();
      throw new Error('stream closed while connecting');
    }
    this.#attach(socket);
    for (const message of this.#options.dialect.open(this.#options.call)) this.#sendNow(message);
  }

  sendCallerFrame(caller: Int16Array, bot: Int16Array): void {
    const message = this.#options.dialect.callerAudio(caller, bot);
    if (message === undefined) return;
    const socket = this.#socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      this.stats.droppedFrames++;
      return;
    }
    this.#queue.push(message);
    while (this.#queue.length > MAX_QUEUED_FRAMES) {
      this.#queue.shift();
      this.stats.droppedFrames++;
    }
    this.#flush();
  }

  sendDtmf(digit: string): void {
    this.#control(this.#options.dialect.dtmf(digit));
  }

  sendMarkPlayed(name: string): void {
    this.#control(this.#options.dialect.markPlayed(name));
  }

  sendExtension(name: string): void {
    this.#control(this.#options.dialect.extensionEvent(name));
  }

  /** Sends `stop` and closes with 1000; no onClosed callback for a close we asked for. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#retryTimer?.cancel();
    const socket = this.#socket;
    if (!socket) return;
    if (socket.readyState === WebSocket.OPEN) {
      this.#flush();
      const stop = this.#options.dialect.stop();
      if (stop !== undefined) socket.send(stop);
      // A close reason is at most 123 bytes (RFC 6455 §5.5); ws throws past that, so keep it ASCII.
      socket.close(1000, reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 120));
    } else {
      socket.terminate();
    }
  }

  #open(): Promise<WebSocket> {
    const options = this.#options;
    const headers: Record<string, string> = {};
    if (options.auth?.kind === 'bearer') headers.Authorization = `Bearer ${options.auth.token}`;
    if (options.auth?.kind === 'hmac') {
      headers[options.auth.header ?? 'X-Patchbay-Signature'] = signRequest(options.auth.secret, options.url);
    }
    const socket = new WebSocket(options.url, {
      headers,
      maxPayload: MAX_INBOUND_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: options.connectTimeoutMs ?? 3000,
      ...(options.ca ? { ca: options.ca } : {}),
    });
    return new Promise((resolve, reject) => {
      const timer = options.clock.setTimer(options.connectTimeoutMs ?? 3000, () => {
        socket.terminate();
        reject(new Error(`bot did not answer within ${options.connectTimeoutMs ?? 3000} ms`));
      });
      socket.once('open', () => {
        timer.cancel();
        resolve(socket);
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
  }

  #attach(socket: WebSocket): void {
    this.#socket = socket;
    this.#failure = undefined;
    socket.on('message', (data, isBinary) => this.#receive(data as Buffer, isBinary));
    // Late errors are followed by 'close', which applies the reconnect policy.
    socket.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        // ws has already answered 1009 (RFC 6455 §7.4.1) and is closing: the bot broke the limit.
        this.stats.invalidMessages++;
        this.#failure = `1009, message over ${MAX_INBOUND_BYTES} bytes`;
      }
      this.#options.logger.warn({ err: error.message }, 'bot socket error');
    });
    socket.on('close', (code) => this.#lost(socket, code));
  }

  #receive(data: Buffer, isBinary: boolean): void {
    this.stats.messagesReceived++;
    let input: BotInput;
    try {
      input = this.#options.dialect.parse(isBinary ? new Uint8Array(data) : data.toString('utf8'), isBinary);
    } catch (error) {
      input = { kind: 'invalid', reason: (error as Error).message };
    }
    if (input.kind === 'invalid') {
      this.stats.invalidMessages++;
      const now = this.#options.clock.now();
      if (now - this.#lastInvalidLog >= INVALID_LOG_INTERVAL_MS) {
        this.#lastInvalidLog = now;
        this.#options.logger.warn(
          { reason: input.reason, invalid: this.stats.invalidMessages },
          'bot message ignored',
        );
      }
      return;
    }
    try {
      this.#options.onBotInput(input);
    } catch (error) {
      // A throw here would escape the ws receiver and take the process down.
      this.#options.logger.error(
        { err: (error as Error).message, kind: input.kind },
        'bot input handler failed',
      );
    }
  }

  /** The backend went away: hang up, or reconnect with a fresh `start` (bounded retries). */
  #lost(socket: WebSocket, code: number): void {
    if (this.#socket !== socket || this.#closed) return;
    this.#socket = undefined;
    this.stats.droppedFrames += this.#queue.length;
    this.#queue.length = 0;
    this.stats.queueDepth = 0;
    // Our own close code when we know why; the peer's (or 1006) otherwise.
    const why = this.#failure ?? String(code);
    const reconnect = this.#options.reconnect;
    this.#options.logger.warn({ code, why, policy: reconnect?.policy ?? 'hangup' }, 'bot socket lost');
    if (reconnect?.policy !== 'reconnect') {
      this.#finish(`backend-gone (${why})`);
      return;
    }
    const retries = reconnect.maxRetries ?? 3;
    this.#retry(retries, retries, reconnect.backoffMs ?? 250);
  }

  /** Exponential backoff from `backoffMs`; each success starts a fresh budget at the next loss. */
  #retry(retries: number, attemptsLeft: number, backoffMs: number): void {
    if (this.#closed) return;
    if (attemptsLeft <= 0) {
      this.#finish(`backend-gone (${retries} reconnects failed)`);
      return;
    }
    this.#retryTimer = this.#options.clock.setTimer(backoffMs, () => {
      this.connect().then(
        () => {
          this.stats.reconnects++;
        },
        (error: Error) => {
          this.#options.logger.warn(
            { err: error.message, attemptsLeft: attemptsLeft - 1 },
            'bot reconnect failed',
          );
          this.#retry(retries, attemptsLeft - 1, backoffMs * 2);
        },
      );
    });
  }

  #finish(reason: string): void {
    this.#closed = true;
    this.#options.onClosed(reason);
  }

  #control(message: WireMessage | undefined): void {
    if (message === undefined) return;
    this.#flush();
    this.#sendNow(message);
  }

  #flush(): void {
    const socket = this.#socket;
    const limit = this.#options.maxBufferedBytes ?? 256 * 1024;
    while (socket && this.#queue.length > 0 && socket.bufferedAmount <= limit) {
      const message = this.#queue.shift() as WireMessage;
      this.#sendNow(message);
      this.stats.framesSent++;
    }
    this.stats.queueDepth = this.#queue.length;
  }

  #sendNow(message: WireMessage): void {
    const socket = this.#socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(message);
    this.stats.bytesSent += typeof message === 'string' ? Buffer.byteLength(message) : message.byteLength;
  }
}
