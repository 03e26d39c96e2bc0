/**
 * One call's WebSocket to its bot (issue 4): connect with a timeout before the call is
 * answered, authenticate by bearer token or HMAC signature, send through the call's dialect,
 * and never let a slow or vanished backend stall the media clock: caller audio waits in a
 * small bounded queue whose oldest frames are dropped (and counted) while the socket's own
 * buffer is over its bound; control messages (marks, DTMF, stop) are never dropped.
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
  /** The stream is gone for good (backend closed and no reconnect left, or close() called). */
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
      socket.close(1000, reason.slice(0, 120));
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
    socket.on('message', (data, isBinary) => this.#receive(data as Buffer, isBinary));
    // Late errors are followed by 'close'; logging them is enough.
    socket.on('error', (error) => this.#options.logger.warn({ err: error.message }, 'bot socket error'));
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
    }
    this.#options.onBotInput(input);
  }

  /** The backend went away: hang up, or reconnect with a fresh `start` (bounded retries). */
  #lost(socket: WebSocket, code: number): void {
    if (this.#socket !== socket || this.#closed) return;
    this.#socket = undefined;
    this.#queue.length = 0;
    const reconnect = this.#options.reconnect;
    if (reconnect?.policy !== 'reconnect') {
      this.#closed = true;
      this.#options.onClosed(`backend closed (${code})`);
      return;
    }
    this.#retry(reconnect.maxRetries ?? 3, reconnect.backoffMs ?? 250);
  }

  #retry(attemptsLeft: number, backoffMs: number): void {
    if (attemptsLeft <= 0) {
      this.#closed = true;
      this.#options.onClosed('backend gone, reconnects exhausted');
      return;
    }
    this.#retryTimer = this.#options.clock.setTimer(backoffMs, () => {
      this.stats.reconnects++;
      this.connect().catch(() => this.#retry(attemptsLeft - 1, backoffMs * 2));
    });
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
    this.stats.bytesSent += typeof message === 'string' ? message.length : message.byteLength;
  }
}
