/**
 * A call's bot stream as the main thread holds it when a media worker runs the bot socket:
 * `ready` settles on the worker's word, the bot's hang-up, transfer and loss come back as
 * messages to the call's hooks, and `stats` is what the worker last sent of them (RemoteMediaLeg).
 */
import type { BotHooks, BotStream, BotStreamStats } from '../ports.js';
import type { FromWorker, ToWorker } from './protocol.js';

type BotMessage = Exclude<Extract<FromWorker, { callId: string }>, { kind: 'dtmf' }>;

export class RemoteBotStream implements BotStream {
  readonly ready: Promise<void>;
  readonly #callId: string;
  readonly #link: { send(message: ToWorker): void };
  readonly #hooks: BotHooks;
  readonly #reported: () => BotStreamStats;
  #settle: { resolve(): void; reject(error: Error): void } | undefined;
  #closed = false;

  constructor(
    callId: string,
    link: { send(message: ToWorker): void },
    hooks: BotHooks,
    reported: () => BotStreamStats,
  ) {
    this.#callId = callId;
    this.#link = link;
    this.#hooks = hooks;
    this.#reported = reported;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
  }

  callerDtmf(digit: string, durationMs?: number): void {
    if (!this.#closed) this.#link.send({ kind: 'callerDtmf', callId: this.#callId, digit, durationMs });
  }

  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#link.send({ kind: 'closeBot', callId: this.#callId, reason });
    // The worker's answer to a connect under way is no longer routed here: settle now, as a
    // stream on this thread does.
    this.fail('bot stream closed while connecting');
  }

  stats(): BotStreamStats {
    return this.#reported();
  }

  receive(message: BotMessage): void {
    switch (message.kind) {
      case 'botReady':
        this.#settle?.resolve();
        this.#settle = undefined;
        return;
      case 'botFailed':
        this.fail(message.error);
        return;
      case 'botHangup':
        this.#hooks.hangup(message.reason);
        return;
      case 'botTransfer':
        this.#hooks.transfer(message.target);
        return;
      case 'botGone':
        this.#hooks.gone(message.reason);
    }
  }

  /** The socket will never open (refused, or its worker died). */
  fail(detail: string): void {
    this.#settle?.reject(new Error(detail));
    this.#settle = undefined;
  }
}
