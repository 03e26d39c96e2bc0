import type { Clock, TimerHandle } from './clock.js';
import { Fifo } from './fifo.js';

/**
 * A Clock whose timers of equal delay share one timer of the underlying clock. Timers set with
 * the same delay expire in the order they were set (time only moves forward), so each delay's
 * timers form a FIFO queue and only its head needs a real timer. Thousands of SIP transactions
 * waiting out Timer J (all 64*T1) then cost one small entry each instead of one clock timer
 * and its closures each. Timers of different delays due at the same instant fire queue by
 * queue, not in the order they were set.
 */
export class TimerQueues implements Clock {
  readonly #clock: Clock;
  readonly #queues = new Map<number, DelayQueue>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  now(): number {
    return this.#clock.now();
  }

  wallNow(): number {
    return this.#clock.wallNow();
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const delay = Math.max(0, delayMs);
    let queue = this.#queues.get(delay);
    if (!queue) {
      queue = new DelayQueue(this.#clock, delay, () => this.#queues.delete(delay));
      this.#queues.set(delay, queue);
    }
    return queue.add(fn);
  }
}

/** One timer in a queue; cancelling drops its callback at once, the entry leaves when due. */
class QueuedTimer implements TimerHandle {
  constructor(
    readonly at: number,
    public fn: (() => void) | undefined,
    readonly queue: DelayQueue,
  ) {}

  cancel(): void {
    if (this.fn === undefined) return;
    this.fn = undefined;
    this.queue.cancelled();
  }
}

class DelayQueue {
  readonly #entries = new Fifo<QueuedTimer>();
  /** Entries not yet fired or cancelled. */
  #live = 0;
  #armed: TimerHandle | undefined;
  #expiring = false;

  constructor(
    readonly clock: Clock,
    readonly delay: number,
    readonly onEmpty: () => void,
  ) {}

  add(fn: () => void): QueuedTimer {
    const timer = new QueuedTimer(this.clock.now() + this.delay, fn, this);
    this.#entries.push(timer);
    this.#live++;
    if (!this.#armed && !this.#expiring) this.#arm();
    return timer;
  }

  cancelled(): void {
    if (--this.#live > 0 || this.#expiring) return;
    // Nothing left to fire: release the clock timer and the entries now, not when they fall due.
    this.#armed?.cancel();
    this.#armed = undefined;
    this.#release();
  }

  #release(): void {
    this.#entries.clear();
    this.onEmpty();
  }

  #arm(): void {
    const head = this.#entries.peek();
    if (!head) return;
    this.#armed = this.clock.setTimer(head.at - this.clock.now(), () => this.#expire());
  }

  #expire(): void {
    this.#armed = undefined;
    this.#expiring = true;
    const now = this.clock.now();
    try {
      for (let head = this.#entries.peek(); head && head.at <= now; head = this.#entries.peek()) {
        this.#entries.shift();
        const fn = head.fn;
        if (fn === undefined) continue;
        head.fn = undefined;
        this.#live--;
        fn();
      }
    } finally {
      // Also after a callback threw: the entries still due fire on the next turn.
      this.#expiring = false;
      this.#settle();
    }
  }

  #settle(): void {
    if (this.#live === 0) {
      this.#release();
      return;
    }
    this.#arm();
  }
}
