/**
 * A BotConnector without sockets, for call-flow tests: each connect() returns a FakeBot whose
 * `ready` the test settles (or leaves pending), and every close goes into a shared journal so
 * tests can assert what was torn down in which order.
 */
import type { StreamTarget } from '../../../src/config/index.js';
import {
  type BotCallInfo,
  type BotConnector,
  type BotHooks,
  type BotStream,
  type BotStreamStats,
  type CallMediaLeg,
  NO_BOT_STREAM_STATS,
} from '../../../src/gateway/ports.js';

/** How a new bot's `ready` settles: at once, refused at once, or when the test says. */
export type BotBehaviour = 'open' | 'refuse' | 'pending';

export class FakeBot implements BotStream {
  readonly ready: Promise<void>;
  readonly closeReasons: string[] = [];
  /** What stats() reports beyond zeros, as the bot stream would have counted it. */
  readonly counted: Partial<BotStreamStats> = {};
  #resolve!: () => void;
  #reject!: (error: Error) => void;

  constructor(
    readonly call: BotCallInfo,
    readonly target: StreamTarget,
    readonly hooks: BotHooks,
    readonly journal: string[],
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** The socket opened. */
  open(): void {
    this.#resolve();
  }

  /** The connect timed out or was refused. */
  refuse(message: string): void {
    this.#reject(new Error(message));
  }

  /** Digits the caller sent by SIP INFO, with their Duration. */
  readonly infoDigits: Array<[digit: string, durationMs: number | undefined]> = [];

  callerDtmf(digit: string, durationMs?: number): void {
    this.infoDigits.push([digit, durationMs]);
  }

  close(reason: string): void {
    if (this.closeReasons.length === 0) this.journal.push('bot.close');
    this.closeReasons.push(reason);
  }

  get closed(): boolean {
    return this.closeReasons.length > 0;
  }

  stats(): BotStreamStats {
    return { ...NO_BOT_STREAM_STATS, ...this.counted };
  }
}

export class FakeBots implements BotConnector {
  readonly connected: FakeBot[] = [];
  behaviour: BotBehaviour = 'open';

  constructor(readonly journal: string[]) {}

  connect(call: BotCallInfo, target: StreamTarget, _leg: CallMediaLeg, hooks: BotHooks): BotStream {
    const bot = new FakeBot(call, target, hooks, this.journal);
    this.connected.push(bot);
    if (this.behaviour === 'open') bot.open();
    if (this.behaviour === 'refuse') bot.refuse('connection refused');
    return bot;
  }
}
