/**
 * An answered call's limits, checked once a second: its maximum duration
 * (`limits.maxCallDurationSec`) and how long its carrier may send no RTP
 * (`limits.rtpInactivityTimeoutSec`).
 *
 * Every call on a clock is checked by one sweep a second, not a timer of its own: with a timer
 * each, N calls woke the main thread N times a second (their timers fall due at different
 * instants), which is work that grows with the calls the media workers carry.
 */
import type { Clock, TimerHandle } from '../util/index.js';
import type { CallEndCause } from './call-end.js';

const SUPERVISION_INTERVAL_MS = 1000;

export interface SupervisedCall {
  clock: Clock;
  maxDurationMs: number;
  rtpInactivityMs: number;
  /** Clock time the call started at. */
  startedAtMs: number;
  /** How long the carrier has sent no RTP, ms. */
  inactiveMs(): number;
  ended(): boolean;
  end(cause: Extract<CallEndCause, 'max_duration' | 'rtp_timeout'>): void;
}

type LimitCause = Parameters<SupervisedCall['end']>[0];

/** The supervised calls of one clock and the timer of their next sweep (only while there are some). */
class SupervisionSweep {
  readonly #clock: Clock;
  readonly #calls = new Set<SupervisedCall>();
  #timer: TimerHandle | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  add(call: SupervisedCall): void {
    this.#calls.add(call);
    this.#timer ??= this.#clock.setTimer(SUPERVISION_INTERVAL_MS, this.#sweep);
  }

  delete(call: SupervisedCall): void {
    this.#calls.delete(call);
    if (this.#calls.size > 0) return;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  readonly #sweep = (): void => {
    // The next sweep is set first: whatever one call's end does, the others stay supervised.
    this.#timer = this.#clock.setTimer(SUPERVISION_INTERVAL_MS, this.#sweep);
    const now = this.#clock.now();
    for (const call of this.#calls) {
      if (call.ended()) {
        this.delete(call);
        continue;
      }
      const cause = limitReached(call, now);
      if (!cause) continue;
      this.delete(call);
      call.end(cause);
    }
  };
}

function limitReached(call: SupervisedCall, now: number): LimitCause | undefined {
  if (now - call.startedAtMs > call.maxDurationMs) return 'max_duration';
  if (call.inactiveMs() > call.rtpInactivityMs) return 'rtp_timeout';
  return undefined;
}

const sweeps = new WeakMap<Clock, SupervisionSweep>();

function sweepOf(clock: Clock): SupervisionSweep {
  let sweep = sweeps.get(clock);
  if (!sweep) {
    sweep = new SupervisionSweep(clock);
    sweeps.set(clock, sweep);
  }
  return sweep;
}

/** Checks until the call ends, or ends it on a limit; `cancel` stops at once. */
export function superviseCall(call: SupervisedCall): { cancel(): void } {
  const sweep = sweepOf(call.clock);
  sweep.add(call);
  return { cancel: () => sweep.delete(call) };
}
