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
