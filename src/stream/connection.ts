/**
 * One call's WebSocket to its bot: connect with a timeout before the call is answered,
 * authenticate by bearer token or HMAC signature, send through the call's dialect, and never
 * let one bot cost another call a frame.
 *
 * Outbound: caller audio waits in a small bounded queue whose oldest frames are dropped (and
 * counted) while the socket's own buffer is over its bound; control messages (marks, DTMF,
 * stop) are never dropped for audio, and go after the frames queued before them.
 *
 * Inbound: ws hands over one bot message per event-loop turn (`allowSynchronousEvents: false`:
 * each further message of a read waits for the next turn), rationed per 20 ms window by
 * InboundBudget, which pauses the socket and queues or drops (counted) what is past the
 * budget. Messages that fail the dialect's parse are counted and logged at most every 5 s; a
 * message over 1 MiB makes ws close with 1009 (RFC 6455 §7.4.1), and the call then follows its
 * reconnect policy.
 *
 * After `stop` (close()), nothing the bot sends is parsed: it is counted and dropped at the
 * socket, and a bot that does not answer our close frame within CLOSE_TIMEOUT_MS is cut off,
 * which releases whatever is still buffered for it.
 */
import WebSocket from 'ws';
import type { Clock, Logger, TimerHandle } from '../util/index.js';
import { BINARY_OPCODE, ClientFrameWriter, TEXT_OPCODE } from './client-frames.js';
import type { BotInput, StreamCallInfo, StreamDialect, WireMessage } from './dialect.js';
import { buildControl, type ControlMessage, HeldControls } from './held-controls.js';
import { InboundBudget } from './inbound-budget.js';
import {
  type BotSocketTarget,
  MAX_INBOUND_BYTES,
  type OpenedBotSocket,
  openBotSocket,
} from './open-bot-socket.js';
import { RateLimitedWarning } from './rate-limited-warning.js';

export type { StreamAuth } from './open-bot-socket.js';

export interface StreamConnectionOptions extends BotSocketTarget {
  dialect: StreamDialect;
  call: StreamCallInfo;
  logger: Logger;
  /** Socket buffer above which caller audio is queued (and then dropped); default 256 KiB. */
  maxBufferedBytes?: number;
  onBotInput(input: BotInput): void;
  /**
   * The backend is gone for good: `backend-gone (<close code>[, why])` under the hangup policy,
   * `backend-gone (<n> reconnects failed)` when the last retry could not connect,
   * `backend-gone (<close code>, <n> reconnects used)` when the socket of the last one is lost.
   * Not called for close().
   */
  onClosed(reason: string): void;
  /**
   * `maxRetries` (default 3) bounds the reconnects over the whole call, successful or not, so a
   * bot that accepts and then drops each socket cannot keep a call reconnecting. The wait
   * before each attempt starts at `backoffMs` (default 250) and doubles, up to MAX_BACKOFF_MS.
   */
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
  /** Times the bot's socket was paused for using its budget of messages per 20 ms window. */
  paused: number;
  /** Bot messages dropped unparsed because the inbound queue was full. */
  messagesDropped: number;
  /** Bot messages that arrived, or were still waiting, after `stop`: dropped unparsed. */
  messagesAfterStop: number;
  /**
   * DTMF, mark echoes and events not sent: the bot had left CONTROL_BUFFER_FACTOR times the
   * audio limit unread, or they were held for a reconnect that never came (or past
   * MAX_HELD_CONTROLS).
   */
  controlDropped: number;
}

const MAX_QUEUED_FRAMES = 25;
/**
 * Control messages do not wait for the socket's buffer to drain below its bound as caller
 * frames do (a digit or a mark echo is never dropped for audio), but not without bound: past
 * this many times `maxBufferedBytes` unread, the bot is not reading at all, and a carrier
 * sending digits for hours would otherwise grow its buffer.
 */
const CONTROL_BUFFER_FACTOR = 4;
/** How long a bot has to answer our close frame (RFC 6455 §5.5.1) before the socket is cut. */
const CLOSE_TIMEOUT_MS = 1000;
const MAX_BACKOFF_MS = 10_000;

export class StreamConnection {
  readonly stats: StreamConnectionStats = {
    framesSent: 0,
    droppedFrames: 0,
    bytesSent: 0,
    messagesReceived: 0,
    invalidMessages: 0,
    reconnects: 0,
    queueDepth: 0,
    paused: 0,
    messagesDropped: 0,
    messagesAfterStop: 0,
    controlDropped: 0,
  };
  readonly #options: StreamConnectionOptions;
  /**
   * What every frame and bot message reads, kept on the connection itself: the options object
   * comes as a spread copy whose shape varies, and V8 read its fields through the megamorphic
   * stub cache (1-2 % of a media worker at 200 calls, perf).
   */
  readonly #dialect: StreamDialect;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #onBotInput: (input: BotInput) => void;
  readonly #queue: WireMessage[] = [];
  readonly #inbound: InboundBudget;
  readonly #invalidWarning: RateLimitedWarning<{ reason: string; invalid: number }>;
  readonly #droppedWarning: RateLimitedWarning<{ dropped: number; queued: number }>;
  readonly #maxBufferedBytes: number;
  #socket: WebSocket | undefined;
  /** Frames caller audio onto #socket's connection itself (see ClientFrameWriter). */
  #frames: ClientFrameWriter | undefined;
  /** The socket whose handshake is under way, for close() to cut. */
  #connecting: WebSocket | undefined;
  #closed = false;
  /** The close code of a socket lost while its messages still wait in the inbound queue. */
  #lostCode: number | undefined;
  #reconnectsLeft: number;
  #backoffMs: number;
  #retryTimer: TimerHandle | undefined;
  #closeTimer: TimerHandle | undefined;
  /** Why ws is closing the current socket, when it told us before 'close' (an oversized message). */
  #failure: string | undefined;
  /** Controls that came since the socket was lost, while a reconnect may still come. */
  #held: HeldControls | undefined;

  constructor(options: StreamConnectionOptions) {
    this.#options = options;
    this.#dialect = options.dialect;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#onBotInput = options.onBotInput;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 256 * 1024;
    this.#reconnectsLeft = options.reconnect?.maxRetries ?? 3;
    this.#backoffMs = options.reconnect?.backoffMs ?? 250;
    this.#invalidWarning = new RateLimitedWarning(options.logger, options.clock, 'bot message ignored');
    this.#droppedWarning = new RateLimitedWarning(options.logger, options.clock, 'bot message burst dropped');
    this.#inbound = new InboundBudget(options.clock, {
      receive: (data, isBinary) => this.#receive(data, isBinary),
      pause: () => this.#pause(),
      drained: () => this.#drained(),
      dropped: (queued) => {
        this.stats.messagesDropped++;
        this.#droppedWarning.warn({ dropped: this.stats.messagesDropped, queued });
      },
    });
  }

  get sampleRate(): number {
    return this.#dialect.sampleRate;
  }

  /** Opens the socket and sends the dialect's opening messages; rejects on timeout or refusal. */
  async connect(): Promise<void> {
    let opened: OpenedBotSocket;
    try {
      opened = await this.#open();
    } finally {
      this.#connecting = undefined;
    }
    if (this.#closed) {
      opened.socket.terminate();
      throw new Error('stream closed while connecting');
    }
    this.#attach(opened);
    for (const message of this.#dialect.open(this.#options.call)) this.#sendNow(message);
    const held = this.#held?.take() ?? [];
    this.#held = undefined;
    for (const control of held) this.#control(buildControl(this.#dialect, control));
  }

  sendCallerFrame(caller: Int16Array, bot: Int16Array): void {
    // Written even when it cannot be sent: a dropped frame still counts in the stream's
    // chunk, sequence and timestamp counters, as it would have on the wire.
    this.#sendFrame(this.#dialect.callerAudioFrame(caller, bot));
  }

  /** Whether sendCallerFrame() sends its `bot` frame too (the stereo dialect's second channel). */
  get carriesBotFrame(): boolean {
    return this.#dialect.carriesBotFrame;
  }

  /** Whether sendCallerMulaw() may be used: the dialect's wire audio is 8 kHz µ-law. */
  get takesCallerMulaw(): boolean {
    return this.#dialect.callerMulawFrame !== undefined;
  }

  /**
   * Asks for the bot's audio as the µ-law bytes it sent (`mulaw` inputs) where the dialect's
   * wire audio is 8 kHz µ-law; false, and audio stays PCM, for any other dialect.
   */
  keepBotMulaw(): boolean {
    if (!this.#dialect.keepBotMulaw) return false;
    this.#dialect.keepBotMulaw();
    return true;
  }

  /** sendCallerFrame for a frame already µ-law (see takesCallerMulaw). */
  sendCallerMulaw(mulaw: Uint8Array): void {
    const write = this.#dialect.callerMulawFrame;
    if (!write) throw new Error(`the ${this.#dialect.name} dialect does not carry µ-law`);
    this.#sendFrame(write.call(this.#dialect, mulaw));
  }

  #sendFrame(frame: Buffer): void {
    const dialect = this.#dialect;
    const socket = this.#socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      this.stats.droppedFrames++;
      return;
    }
    const frames = this.#frames;
    if (frames && this.#queue.length === 0 && socket.bufferedAmount <= this.#maxBufferedBytes) {
      // Masked into the writer's own buffer (RFC 6455 §5.3), so the dialect may overwrite its
      // buffer with the next frame; written at the end of the run.
      frames.send(frame, dialect.binaryFrames ? BINARY_OPCODE : TEXT_OPCODE);
      this.stats.bytesSent += frame.length;
      this.stats.framesSent++;
      return;
    }
    // A frame that has to wait is queued as its own copy.
    this.#queue.push(dialect.binaryFrames ? Buffer.from(frame) : frame.toString('utf8'));
    while (this.#queue.length > MAX_QUEUED_FRAMES) {
      this.#queue.shift();
      this.stats.droppedFrames++;
    }
    this.#flush();
  }

  sendDtmf(digit: string, durationMs?: number): void {
    this.#sendControl({ kind: 'dtmf', digit, durationMs });
  }

  sendMarkPlayed(name: string): void {
    this.#sendControl({ kind: 'mark', name });
  }

  sendExtension(name: string): void {
    this.#sendControl({ kind: 'event', name });
  }

  /**
   * Sends `stop` and closes with 1000; no onClosed callback for a close we asked for. From here
   * on bot messages are dropped unparsed, and a bot that does not complete the close handshake
   * within CLOSE_TIMEOUT_MS is cut off.
   */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dropHeld();
    this.#retryTimer?.cancel();
    this.stats.messagesAfterStop += this.#inbound.stop();
    this.#lostCode = undefined;
    // A handshake under way is cut at once: connect() rejects, and the bot sees no call.
    this.#connecting?.terminate();
    const socket = this.#socket;
    if (!socket) return;
    if (socket.readyState !== WebSocket.OPEN) {
      socket.terminate();
      return;
    }
    this.#frames?.writePending();
    this.#flush();
    this.stats.droppedFrames += this.#queue.length;
    this.#queue.length = 0;
    this.stats.queueDepth = 0;
    const stop = this.#dialect.stop();
    if (stop !== undefined) socket.send(stop);
    // A close reason is at most 123 bytes (RFC 6455 §5.5); ws throws past that, so keep it ASCII.
    socket.close(1000, reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 120));
    this.#closeTimer = this.#clock.setTimer(CLOSE_TIMEOUT_MS, () => {
      this.#logger.warn(
        { timeoutMs: CLOSE_TIMEOUT_MS, buffered: socket.bufferedAmount },
        'bot did not complete the close handshake; socket cut',
      );
      socket.terminate();
    });
  }

  #open(): Promise<OpenedBotSocket> {
    const { socket, opened } = openBotSocket(this.#options);
    this.#connecting = socket;
    return opened;
  }

  #attach({ socket, connection }: OpenedBotSocket): void {
    this.#socket = socket;
    this.#frames = new ClientFrameWriter(connection);
    this.#failure = undefined;
    socket.on('message', (data, isBinary) => this.#arrived(data as Buffer, isBinary));
    // Late errors are followed by 'close', which applies the reconnect policy.
    socket.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        // ws has already answered 1009 (RFC 6455 §7.4.1) and is closing: the bot broke the limit.
        this.stats.invalidMessages++;
        this.#failure = `1009, message over ${MAX_INBOUND_BYTES} bytes`;
      }
      this.#logger.warn({ err: error.message }, 'bot socket error');
    });
    socket.on('close', (code) => this.#socketClosed(socket, code));
  }

  /**
   * Every bot message, straight from ws, to the budget; none is parsed after `stop`. Those are
   * counted, not logged: a real-time bot's frames in flight as `stop` went are no fault, and a
   * bot that goes on sending is cut off by the close timeout, which is logged.
   */
  #arrived(data: Buffer, isBinary: boolean): void {
    this.stats.messagesReceived++;
    if (this.#closed) {
      this.stats.messagesAfterStop++;
      return;
    }
    this.#inbound.arrived(data, isBinary);
  }

  /** The window's budget is used: ws stops reading until the queue has been handed on. */
  #pause(): void {
    const socket = this.#socket;
    if (socket && !socket.isPaused && socket.readyState === WebSocket.OPEN) {
      socket.pause();
      this.stats.paused++;
    }
  }

  /** The queue is handed on: read again, or apply a close that came while messages waited. */
  #drained(): void {
    if (this.#lostCode !== undefined) {
      const code = this.#lostCode;
      this.#lostCode = undefined;
      this.#lost(code);
      return;
    }
    if (this.#socket?.isPaused) this.#socket.resume();
  }

  #receive(data: Buffer, isBinary: boolean): void {
    let input: BotInput;
    try {
      input = this.#dialect.parse(data, isBinary);
    } catch (error) {
      input = { kind: 'invalid', reason: (error as Error).message };
    }
    if (input.kind === 'invalid') {
      this.stats.invalidMessages++;
      this.#invalidWarning.warn({ reason: input.reason, invalid: this.stats.invalidMessages });
      return;
    }
    try {
      this.#onBotInput(input);
    } catch (error) {
      // A throw here would escape the ws receiver and take the process down.
      this.#logger.error({ err: (error as Error).message, kind: input.kind }, 'bot input handler failed');
    }
  }

  #socketClosed(socket: WebSocket, code: number): void {
    if (this.#socket !== socket) return;
    if (this.#closed) {
      this.#closeTimer?.cancel();
      this.#socket = undefined;
      return;
    }
    // Until the policy has run its course, what the call tells the bot waits for its next socket.
    if (this.#options.reconnect?.policy === 'reconnect') this.#held ??= new HeldControls();
    // What the bot sent before it went away is still the call's: hand it on first.
    if (this.#inbound.queued > 0) {
      this.#lostCode = code;
      return;
    }
    this.#lost(code);
  }

  /** The backend went away: hang up, or reconnect with a fresh `start` (bounded per call). */
  #lost(code: number): void {
    this.#socket = undefined;
    this.stats.droppedFrames += this.#queue.length;
    this.#queue.length = 0;
    this.stats.queueDepth = 0;
    // Our own close code when we know why; the peer's (or 1006) otherwise.
    const why = this.#failure ?? String(code);
    const reconnect = this.#options.reconnect;
    this.#logger.warn(
      { code, why, policy: reconnect?.policy ?? 'hangup', reconnectsLeft: this.#reconnectsLeft },
      'bot socket lost',
    );
    if (reconnect?.policy !== 'reconnect') {
      this.#finish(`backend-gone (${why})`);
      return;
    }
    if (this.#reconnectsLeft <= 0) {
      this.#finish(`backend-gone (${why}, ${reconnect.maxRetries ?? 3} reconnects used)`);
      return;
    }
    this.#retry();
  }

  /** One reconnect attempt after the backoff; a failed one retries while the call has any left. */
  #retry(): void {
    if (this.#closed) return;
    if (this.#reconnectsLeft <= 0) {
      this.#finish(`backend-gone (${this.#options.reconnect?.maxRetries ?? 3} reconnects failed)`);
      return;
    }
    this.#reconnectsLeft--;
    const backoffMs = this.#backoffMs;
    this.#backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
    this.#retryTimer = this.#clock.setTimer(backoffMs, () => {
      this.connect().then(
        () => {
          this.stats.reconnects++;
        },
        (error: Error) => {
          this.#logger.warn(
            { err: error.message, reconnectsLeft: this.#reconnectsLeft },
            'bot reconnect failed',
          );
          this.#retry();
        },
      );
    });
  }

  #finish(reason: string): void {
    this.#closed = true;
    this.#dropHeld();
    this.#options.onClosed(reason);
  }

  #dropHeld(): void {
    this.stats.controlDropped += this.#held?.length ?? 0;
    this.#held = undefined;
  }

  /** Sent now, or held while a reconnect is under way (see HeldControls). */
  #sendControl(control: ControlMessage): void {
    if (this.#closed) return;
    if (this.#held) {
      if (!this.#held.hold(control)) this.stats.controlDropped++;
      return;
    }
    this.#control(buildControl(this.#dialect, control));
  }

  #control(message: WireMessage | undefined): void {
    if (message === undefined) return;
    const unread = this.#socket?.bufferedAmount ?? 0;
    if (unread > CONTROL_BUFFER_FACTOR * this.#maxBufferedBytes) {
      if (this.stats.controlDropped++ === 0)
        this.#logger.warn({ unreadBytes: unread }, 'bot is not reading its socket: control messages dropped');
      return;
    }
    // The caller frames still queued were numbered before this message (Twilio's and Exotel's
    // sequence numbers are the order of sending): they go first. It waits behind the socket's
    // buffer either way, and the queue holds a few of them at most.
    this.#flush(true);
    this.#sendNow(message);
  }

  /** Hands queued caller frames to the socket while its buffer is within bound, or all of them. */
  #flush(all = false): void {
    const socket = this.#socket;
    while (socket && this.#queue.length > 0 && (all || socket.bufferedAmount <= this.#maxBufferedBytes)) {
      const message = this.#queue.shift() as WireMessage;
      this.#sendNow(message);
      this.stats.framesSent++;
    }
    this.stats.queueDepth = this.#queue.length;
  }

  #sendNow(message: WireMessage): void {
    const socket = this.#socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    // A caller frame framed before this message goes before it (see ClientFrameWriter).
    this.#frames?.writePending();
    socket.send(message);
    this.stats.bytesSent += typeof message === 'string' ? Buffer.byteLength(message) : message.byteLength;
  }
}
