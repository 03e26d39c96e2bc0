/**
 * A bot's messages, rationed so that no bot costs another call a frame. ws hands them over one
 * per event-loop turn (the connection asks for `allowSynchronousEvents: false`), so a burst
 * never holds the loop for more than one message. At most MESSAGES_PER_WINDOW are handled per
 * WINDOW_MS; once a window's budget is used the socket is paused (ws stops reading, so TCP flow
 * control pushes back on the bot) and read again in the next window. Messages ws had already
 * read wait in a queue of MAX_QUEUED_INBOUND, in order, handled one per turn in the next
 * windows; only a burst beyond that is dropped.
 */
import type { Clock, TimerHandle } from '../util/index.js';

/**
 * Bot messages handled per window of one media frame: a bot sends one 20 ms media message per
 * frame, or a whole utterance at 1,600 messages a second; a flood costs at most this much.
 */
const MESSAGES_PER_WINDOW = 32;
const WINDOW_MS = 20;
/**
 * Bot messages read past the budget that wait for later windows. Pausing stops the reads, so
 * only the rest of what ws has read (a 64 KiB TCP chunk, and its 16 KiB write buffer) lands
 * here: 2048 covers that much of the shortest valid bot messages (about 40 bytes), so only a
 * flood of smaller junk is dropped.
 */
const MAX_QUEUED_INBOUND = 2048;

interface InboundMessage {
  data: Buffer;
  isBinary: boolean;
}

export interface InboundBudgetHooks {
  /** Handles one message (the dialect's parse and on). */
  receive(data: Buffer, isBinary: boolean): void;
  /** The window's budget is used: stop reading until `drained`. */
  pause(): void;
  /** The queue is empty again: read on. */
  drained(): void;
  /** A message was dropped, the queue being full (`queued` messages wait). */
  dropped(queued: number): void;
}

export class InboundBudget {
  readonly #clock: Clock;
  readonly #hooks: InboundBudgetHooks;
  readonly #queue: InboundMessage[] = [];
  #budget = 0;
  #windowStartMs = -Infinity;
  /** Hands on the queue at the start of the next window, once the budget is used. */
  #nextWindowTimer: TimerHandle | undefined;
  #stopped = false;

  constructor(clock: Clock, hooks: InboundBudgetHooks) {
    this.#clock = clock;
    this.#hooks = hooks;
  }

  /** Messages waiting for a later window. */
  get queued(): number {
    return this.#queue.length;
  }

  /** One message from ws: handled now, queued for a later window, or dropped. */
  arrived(data: Buffer, isBinary: boolean): void {
    if (this.#stopped) return;
    this.#refill();
    if (this.#budget > 0 && this.#queue.length === 0) {
      this.#budget--;
      this.#hooks.receive(data, isBinary);
    } else if (this.#queue.length < MAX_QUEUED_INBOUND) {
      this.#queue.push({ data, isBinary });
    } else {
      this.#hooks.dropped(this.#queue.length);
    }
    if (this.#budget > 0) return;
    this.#hooks.pause();
    this.#awaitNextWindow();
  }

  /** Nothing more is handed on; returns how many queued messages that drops. */
  stop(): number {
    this.#stopped = true;
    this.#nextWindowTimer?.cancel();
    this.#nextWindowTimer = undefined;
    const dropped = this.#queue.length;
    this.#queue.length = 0;
    return dropped;
  }

  /** A fresh budget once the current window is over (windows start with the first message). */
  #refill(): void {
    const now = this.#clock.now();
    if (now - this.#windowStartMs < WINDOW_MS) return;
    this.#windowStartMs = now;
    this.#budget = MESSAGES_PER_WINDOW;
  }

  #awaitNextWindow(): void {
    if (this.#nextWindowTimer || this.#stopped) return;
    const waitMs = this.#windowStartMs + WINDOW_MS - this.#clock.now();
    this.#nextWindowTimer = this.#clock.setTimer(waitMs, () => {
      this.#nextWindowTimer = undefined;
      this.#refill();
      this.#drain();
    });
  }

  /** Hands on one queued message per loop turn while the window's budget lasts. */
  readonly #drain = (): void => {
    if (this.#stopped) return;
    const message = this.#queue.shift();
    if (!message) {
      this.#hooks.drained();
      return;
    }
    this.#budget--;
    this.#hooks.receive(message.data, message.isBinary);
    if (this.#budget > 0) setImmediate(this.#drain);
    else this.#awaitNextWindow();
  };
}
