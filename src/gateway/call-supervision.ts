/**
 * An answered call's limits, checked once a second: its maximum duration
 * (`limits.maxCallDurationSec`) and how long its carrier may send no RTP
 * (`limits.rtpInactivityTimeoutSec`).
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

/** Checks until the call ends, or ends it on a limit; `cancel` stops at once. */
export function superviseCall(call: SupervisedCall): { cancel(): void } {
  let timer: TimerHandle | undefined;
  const check = (): void => {
    if (call.ended()) return;
    if (call.clock.now() - call.startedAtMs > call.maxDurationMs) call.end('max_duration');
    else if (call.inactiveMs() > call.rtpInactivityMs) call.end('rtp_timeout');
    else timer = call.clock.setTimer(SUPERVISION_INTERVAL_MS, check);
  };
  timer = call.clock.setTimer(SUPERVISION_INTERVAL_MS, check);
  return { cancel: () => timer?.cancel() };
}
