import type { Clock, Logger } from '../util/index.js';

/**
 * One warning that a misbehaving bot can trigger thousands of times a second: logged at most
 * once per interval, each line carrying how many were suppressed since the previous one.
 * `Fields` is the shape of what each warning logs beside that count.
 */
export class RateLimitedWarning<Fields extends object> {
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #message: string;
  readonly #intervalMs: number;
  #lastLoggedAt = -Infinity;
  #suppressed = 0;

  constructor(logger: Logger, clock: Clock, message: string, intervalMs = 5000) {
    this.#logger = logger;
    this.#clock = clock;
    this.#message = message;
    this.#intervalMs = intervalMs;
  }

  warn(fields: Fields): void {
    const now = this.#clock.now();
    if (now - this.#lastLoggedAt < this.#intervalMs) {
      this.#suppressed++;
      return;
    }
    this.#lastLoggedAt = now;
    this.#logger.warn({ ...fields, suppressed: this.#suppressed }, this.#message);
    this.#suppressed = 0;
  }
}
