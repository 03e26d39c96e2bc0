import type { Clock, TimerHandle } from '../util/index.js';

/** Ticks missed by more than this many frames are dropped, not replayed (a stalled loop must not burst). */
const MAX_CATCH_UP_TICKS = 5;

/** Never notified: waiting on it is a precise sleep (see MediaClock.waitUntil). */
const SLEEP_CELL = new Int32Array(new SharedArrayBuffer(4));
/** The tail of the wait done by polling the clock, where a timed futex wait is too coarse. */
const SPIN_MS = 0.2;

export type TickListener = (tickMs: number) => void;

/**
 * The one media clock shared by all calls: one timer for the whole
 * process, not one per call. Live, each tick is scheduled from an absolute deadline
 * (start + n * frameMs) so timer lateness never accumulates into drift.
 */
export class MediaClock {
  readonly frameMs: number;
  private readonly listeners = new Set<TickListener>();
  private timer: TimerHandle | undefined;
  private startMs = 0;
  private tickIndex = 0;
  private skippedTicks = 0;
  private listenerErrors = 0;

  constructor(
    private readonly clock: Clock,
    frameMs = 20,
    private readonly onListenerError: (error: unknown) => void = () => {},
    /**
     * Live only: wake this many ms before each deadline and wait out the rest precisely (see
     * waitUntil), so ticks do not inherit the timer's jitter. The thread is blocked, not busy.
     */
    private readonly leadMs = 0,
  ) {
    if (!(frameMs > 0)) throw new RangeError(`frameMs must be > 0, got ${frameMs}`);
    this.frameMs = frameMs;
  }

  /** Adds a listener; returns its unsubscribe function. */
  subscribe(fn: TickListener): () => void {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Ticks dropped because the loop fell more than MAX_CATCH_UP_TICKS behind. */
  get droppedTicks(): number {
    return this.skippedTicks;
  }

  /** Listener exceptions caught (each also passed to onListenerError). */
  get errors(): number {
    return this.listenerErrors;
  }

  start(): void {
    if (this.timer) return;
    this.startMs = this.clock.now();
    this.tickIndex = 1;
    this.schedule();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Delivers one tick to every listener; a listener that throws does not stop the others. */
  tick(nowMs: number): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(nowMs);
      } catch (error) {
        this.listenerErrors++;
        this.onListenerError(error);
      }
    }
  }

  private schedule(): void {
    const deadline = this.startMs + this.tickIndex * this.frameMs;
    // Round up: libuv timers have whole-millisecond resolution and truncate, which would fire
    // up to 1 ms early and tick before the deadline, adding that much jitter to every packet.
    this.timer = this.clock.setTimer(Math.ceil(deadline - this.leadMs - this.clock.now()), () => {
      this.waitUntil(deadline);
      this.onTimer();
    });
  }

  /**
   * Sleeps the thread until the deadline, for at most leadMs + 1 (so a frozen test clock cannot
   * hang it). Atomics.wait is a futex wait with a fractional-millisecond timeout; only its last
   * SPIN_MS are polled. A pure busy loop cost ~10% of a core, and polling performance.now()
   * allocates in Node 20: ~10 MB/s of garbage whose scavenges landed on ticks.
   */
  private waitUntil(deadline: number): void {
    if (this.leadMs <= 0 || this.listeners.size === 0) return;
    const start = performance.now();
    const end = start + Math.min(this.leadMs + 1, deadline - this.clock.now());
    if (end - start > SPIN_MS) Atomics.wait(SLEEP_CELL, 0, 0, end - start - SPIN_MS);
    while (performance.now() < end) {
      // the last SPIN_MS: a futex wake-up can be that late
    }
  }

  private onTimer(): void {
    if (!this.timer) return;
    const now = this.clock.now();
    const dueTicks = Math.floor((now - this.startMs) / this.frameMs) - this.tickIndex + 1;
    if (dueTicks > MAX_CATCH_UP_TICKS) {
      this.skippedTicks += dueTicks - MAX_CATCH_UP_TICKS;
      this.tickIndex += dueTicks - MAX_CATCH_UP_TICKS;
    }
    const ticks = Math.min(Math.max(dueTicks, 1), MAX_CATCH_UP_TICKS);
    for (let i = 0; i < ticks && this.timer; i++) {
      this.tick(this.startMs + this.tickIndex * this.frameMs);
      this.tickIndex++;
    }
    if (this.timer) this.schedule();
  }
}
