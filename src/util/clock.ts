import { performance } from 'node:perf_hooks';

/**
 * Injected time. Everything with timers (transactions, jitter buffer, health windows,
 * CPS buckets) takes a Clock so tests and pcap replay run on virtual time and never sleep.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds (fractional allowed). Only differences are meaningful. */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for records and SIP Date headers. */
  wallNow(): number;
  setTimer(delayMs: number, fn: () => void): TimerHandle;
}

/**
 * The real clock: performance.now() for intervals, Date.now() for wall time. `performance` is
 * perf_hooks' own: in Node 20 the global one is a replaceable accessor that runs a getter and a
 * receiver check on every read, and media threads read the clock several times a frame.
 */
export class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }
  wallNow(): number {
    return Date.now();
  }
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer = setTimeout(fn, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(timer) };
  }
}

interface PendingTimer {
  at: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A virtual clock for tests and offline replay. Timers fire, in due order, only
 * when advance() or advanceTo() moves time past them.
 */
export class FakeClock implements Clock {
  #current: number;
  readonly #wallOffset: number;
  #timers: PendingTimer[] = [];
  #nextOrder = 0;

  constructor(startMs = 0, wallStartMs = Date.UTC(2026, 0, 1)) {
    this.#current = startMs;
    this.#wallOffset = wallStartMs - startMs;
  }

  now(): number {
    return this.#current;
  }

  wallNow(): number {
    return this.#current + this.#wallOffset;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer: PendingTimer = {
      at: this.#current + Math.max(0, delayMs),
      order: this.#nextOrder++,
      fn,
      cancelled: false,
    };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Number of timers still pending (not fired, not cancelled). */
  pendingTimers(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  advance(ms: number): void {
    if (ms < 0) throw new RangeError('FakeClock cannot go backwards');
    this.advanceTo(this.#current + ms);
  }

  /** Moves time to `target`, firing each due timer at its own due time. */
  advanceTo(target: number): void {
    if (target < this.#current) throw new RangeError('FakeClock cannot go backwards');
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      let next: PendingTimer | undefined;
      for (const t of this.#timers) {
        if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.order < next.order)))
          next = t;
      }
      if (!next) break;
      this.#current = Math.max(this.#current, next.at);
      next.cancelled = true;
      next.fn();
    }
    this.#current = target;
  }
}
