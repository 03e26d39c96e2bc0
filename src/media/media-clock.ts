import { performance } from 'node:perf_hooks';
import type { Clock, Logger, TimerHandle } from '../util/index.js';
import { TypedEmitter } from '../util/index.js';

/**
 * How far behind the clock still catches up: the ticks missed while the event loop was busy
 * (a burst from one peer stalls it 300-600 ms) run with their own tick times, so
 * every call's frames come late but none is lost. Further behind, the oldest ticks are skipped
 * (and counted): a loop that stalled for seconds must not replay them all at once.
 *
 * The catch-up waits one loop turn: a timer that fires late runs before the I/O poll, so the
 * RTP that arrived during the stall still waits in the sockets; ticks run then would conceal
 * frames that are only unread (and the jitter buffer would later cut the delay that added).
 * It then runs in slices of at most a frame of work, each a loop turn after the last, so SIP
 * and RTP are read between them.
 */
const MAX_CATCH_UP_MS = 1000;

/** The frame every media clock ticks, and so every call's packet time. */
export const MEDIA_FRAME_MS = 20;

/** The most ticks of MEDIA_FRAME_MS a media clock runs back to back to catch up. */
export const MAX_CATCH_UP_TICKS = MAX_CATCH_UP_MS / MEDIA_FRAME_MS;

/** Never notified: waiting on it is a precise sleep (see MediaClock.waitUntil). */
const SLEEP_CELL = new Int32Array(new SharedArrayBuffer(4));
/**
 * The tail of the wait done by polling the clock, where a timed futex wait is too coarse. Every
 * poll is CPU at every tick: 0.05 ms keeps ticks within ~0.25 ms of their slot (p99), far inside
 * any carrier's jitter buffer, where 0.2 ms cost 1 % of the worker's time at 200 calls.
 */
const SPIN_MS = 0.05;

interface MediaClockEvents {
  /** One frame is due; tickMs is its deadline on the injected clock (start + n * frameMs). */
  tick: [tickMs: number];
}

export interface MediaClockStats {
  /** Ticks delivered. */
  ticks: number;
  /** Ticks delivered a whole frame or more after their deadline (caught up after a stall). */
  lateTicks: number;
  /** Ticks never delivered: the loop fell more than MAX_CATCH_UP_MS behind. */
  ticksSkipped: number;
  /** Timer firings whose ticks took longer than a frame to run (the listeners overran). */
  overruns: number;
  /** Tick listeners that threw (each also passed to onListenerError). */
  listenerErrors: number;
}

/** A media clock's counts before its first tick. */
export const NO_TICKS: Readonly<MediaClockStats> = {
  ticks: 0,
  lateTicks: 0,
  ticksSkipped: 0,
  overruns: 0,
  listenerErrors: 0,
};

/**
 * The one media clock shared by all calls: one timer for the whole process, not one per call,
 * emitting `tick` per frame. Live, each tick is scheduled from an absolute deadline
 * (start + n * frameMs) so timer lateness never accumulates into drift. One emit per frame
 * for the whole process: TypedEmitter's emit allocates nothing, and the timer callback is
 * bound once.
 */
export class MediaClock extends TypedEmitter<MediaClockEvents> {
  readonly frameMs: number;
  readonly #clock: Clock;
  readonly #leadMs: number;
  readonly #maxCatchUpTicks: number;
  readonly #stats: MediaClockStats;
  #timer: TimerHandle | undefined;
  #startMs = 0;
  #tickIndex = 0;
  #deadline = 0;
  /** True while a late firing, or the next slice of a catch-up, waits for the I/O poll. */
  #catchUpPending = false;

  constructor(
    clock: Clock,
    frameMs = MEDIA_FRAME_MS,
    onListenerError: (error: unknown) => void = () => {},
    /**
     * Live only: wake this many ms before each deadline and wait out the rest precisely (see
     * waitUntil), so ticks do not inherit the timer's jitter. The thread is blocked, not busy.
     */
    leadMs = 0,
  ) {
    if (!(frameMs > 0)) throw new RangeError(`frameMs must be > 0, got ${frameMs}`);
    const stats: MediaClockStats = { ...NO_TICKS };
    super((_event, error) => {
      stats.listenerErrors++;
      onListenerError(error);
    });
    this.#stats = stats;
    this.#clock = clock;
    this.frameMs = frameMs;
    this.#leadMs = leadMs;
    this.#maxCatchUpTicks = Math.max(1, Math.round(MAX_CATCH_UP_MS / frameMs));
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  stats(): MediaClockStats {
    return { ...this.#stats };
  }

  start(): void {
    if (this.#timer) return;
    this.#startMs = this.#clock.now();
    this.#tickIndex = 1;
    this.#schedule();
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#catchUpPending = false;
  }

  /** Delivers one tick to every listener (replay and tests drive it by hand). */
  tick(tickMs: number): void {
    this.#stats.ticks++;
    this.safeEmit('tick', tickMs);
  }

  #schedule(): void {
    this.#deadline = this.#startMs + this.#tickIndex * this.frameMs;
    // Round up: libuv timers have whole-millisecond resolution and truncate, which would fire
    // up to 1 ms early and tick before the deadline, adding that much jitter to every packet.
    const delay = Math.ceil(this.#deadline - this.#leadMs - this.#clock.now());
    this.#timer = this.#clock.setTimer(delay, this.#onTimer);
  }

  /**
   * Sleeps the thread until the deadline, for at most leadMs + 1 (so a frozen test clock cannot
   * hang it). Atomics.wait is a futex wait with a fractional-millisecond timeout; only its last
   * SPIN_MS are polled. A pure busy loop cost ~10% of a core, and polling performance.now()
   * allocates in Node 20: ~10 MB/s of garbage whose scavenges landed on ticks.
   */
  #waitUntil(deadline: number): void {
    if (this.#leadMs <= 0 || this.listenerCount('tick') === 0) return;
    const start = performance.now();
    const end = start + Math.min(this.#leadMs + 1, deadline - this.#clock.now());
    if (end - start > SPIN_MS) Atomics.wait(SLEEP_CELL, 0, 0, end - start - SPIN_MS);
    while (performance.now() < end) {
      // the last SPIN_MS: a futex wake-up can be that late
    }
  }

  /**
   * Runs the ticks due by now, each with its own deadline, up to the catch-up bound, in slices
   * of at most a frame of work: after a stall, 50 ticks of every call's work back to back
   * would leave SIP and RTP unread for as long, so a slice that would run past a frame yields
   * the loop (a zero timer: the poll phase reads the sockets first) and the next slice goes on
   * from the next tick, with what fell due meanwhile.
   */
  readonly #onTimer = (): void => {
    this.#waitUntil(this.#deadline);
    if (!this.#timer) return;
    const now = this.#clock.now();
    const due = Math.floor((now - this.#startMs) / this.frameMs) - this.#tickIndex + 1;
    if (due > 1 && !this.#catchUpPending) {
      // A whole frame behind: let the poll phase of this turn read what arrived, then catch up.
      this.#yieldThenCatchUp();
      return;
    }
    this.#catchUpPending = false;
    if (due > this.#maxCatchUpTicks) {
      this.#stats.ticksSkipped += due - this.#maxCatchUpTicks;
      this.#tickIndex += due - this.#maxCatchUpTicks;
    }
    const ticks = Math.min(Math.max(due, 1), this.#maxCatchUpTicks);
    let ran = 0;
    let tickStart = now;
    while (ran < ticks && this.#timer) {
      const tickMs = this.#startMs + this.#tickIndex * this.frameMs;
      if (now - tickMs >= this.frameMs) this.#stats.lateTicks++;
      this.tick(tickMs);
      this.#tickIndex++;
      ran++;
      if (ran === ticks) break;
      // Another tick as long as the last one would take this slice past a frame: yield first.
      const tickEnd = this.#clock.now();
      if (tickEnd - now + (tickEnd - tickStart) > this.frameMs) break;
      tickStart = tickEnd;
    }
    if (this.#clock.now() - now > this.frameMs) this.#stats.overruns++;
    if (!this.#timer) return;
    if (ran < ticks) this.#yieldThenCatchUp();
    else this.#schedule();
  };

  /** The next firing runs in a later loop turn, after the poll phase, and catches up at once. */
  #yieldThenCatchUp(): void {
    this.#catchUpPending = true;
    this.#timer = this.#clock.setTimer(0, this.#onTimer);
  }
}

/**
 * The media clock a thread carrying calls runs (the main thread with `media.workers: 0`, or a
 * media worker): MEDIA_FRAME_MS ticks, a failing tick listener logged, `rtp.pacingLeadMs`.
 */
export function callMediaClock(clock: Clock, logger: Logger, pacingLeadMs: number): MediaClock {
  return new MediaClock(
    clock,
    MEDIA_FRAME_MS,
    (error) => logger.error({ err: error }, 'media tick failed'),
    pacingLeadMs,
  );
}
