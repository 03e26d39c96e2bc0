/**
 * The embedded demo bot (`builtin:echo`): started when the configuration first sends calls
 * to it, at start or at a reload, and kept until the gateway stops (calls a reload moved
 * elsewhere may still be talking to it).
 */
import { BUILTIN_TARGET_PREFIX, type PatchbayConfig } from '../config/index.js';
import { EchoBot } from '../demo/index.js';
import type { Logger } from '../util/index.js';
import { configuredBotUrls } from './bot-connector.js';

/** Whether a route's target or a reroute at a CPS limit sends calls to the built-in bot. */
export function namesBuiltinBot(config: PatchbayConfig): boolean {
  return configuredBotUrls(config).some((url) => url.startsWith(BUILTIN_TARGET_PREFIX));
}

export class BuiltinBot {
  readonly #logger: Logger;
  #bot: EchoBot | undefined;
  #starting: Promise<void> | undefined;
  #closed = false;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Its ws:// URL once it listens. */
  get url(): string | undefined {
    return this.#bot?.url;
  }

  /** Starts the bot if `config` names it and it is not running; rejects when it cannot listen. */
  ensure(config: PatchbayConfig): Promise<void> {
    if (this.#starting) return this.#starting;
    if (this.#closed || !namesBuiltinBot(config)) return Promise.resolve();
    this.#starting = EchoBot.start({ logger: this.#logger }).then(
      async (bot) => {
        if (this.#closed) await bot.close();
        else this.#bot = bot;
      },
      (error: unknown) => {
        this.#starting = undefined; // the next reload naming it tries again
        throw error;
      },
    );
    return this.#starting;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#starting?.catch(() => undefined);
    const bot = this.#bot;
    this.#bot = undefined;
    await bot?.close();
  }
}
