/** A loop's cumulative idle and active time in ms, as perf_hooks' eventLoopUtilization gives them. */
export interface LoopTimes {
  idle: number;
  active: number;
}

/**
 * The busy share (0-1) of the time between two readings of one event loop, and how long that
 * was; without `since`, from the loop's start.
 */
export function loopBusyShare(
  now: LoopTimes,
  since: LoopTimes = { idle: 0, active: 0 },
): { share: number; elapsedMs: number } {
  const active = now.active - since.active;
  const elapsedMs = active + now.idle - since.idle;
  // Another thread's loop read from this one can be a fraction of a millisecond behind itself:
  // over a short interval the raw share can leave 0-1.
  return { share: elapsedMs > 0 ? Math.min(1, Math.max(0, active / elapsedMs)) : 0, elapsedMs };
}

/** The interval of the timer every event-loop delay monitor here runs, in ms. */
export const LOOP_DELAY_RESOLUTION_MS = 10;

/** The part of perf_hooks' IntervalHistogram a delay reading needs (tests pass a fake). */
export interface LoopDelayHistogram {
  percentile(percentile: number): number;
}

/**
 * How late the loop ran a delay monitor's timer at `percentile`, in ms. Node's histogram
 * records the whole interval between the timer's runs, the resolution included (an idle loop
 * reads ~10 ms at 10 ms), so the resolution is taken off; an empty histogram (NaN) reads 0.
 */
export function loopDelayMs(histogram: LoopDelayHistogram, percentile: number): number {
  const intervalNs = histogram.percentile(percentile);
  return Number.isFinite(intervalNs) ? Math.max(0, intervalNs / 1e6 - LOOP_DELAY_RESOLUTION_MS) : 0;
}
