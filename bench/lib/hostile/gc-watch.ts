/**
 * Loaded into the gateway process by `bench/hostile-mix.ts --trace` beside loop-watch.ts: prints
 * each garbage collection to stderr as `gc <epoch ms> <duration ms> <kind>` (the clock of
 * loop-watch's `loop-stall` lines), and once `clock <epoch ms> <monotonic µs>`, which places a
 * `--cpu-prof` profile's samples (CLOCK_MONOTONIC µs) on the same clock. stall-trace.ts reads
 * them back to say what filled each stall. The main thread's heap only, as loop-watch.ts.
 */
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

function watch(): void {
  const nowUs = process.hrtime.bigint() / 1000n;
  process.stderr.write(`clock ${(performance.timeOrigin + performance.now()).toFixed(1)} ${nowUs}\n`);
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail;
      const kind = KINDS[detail?.kind ?? -1] ?? 'other';
      const at = performance.timeOrigin + entry.startTime;
      process.stderr.write(`gc ${at.toFixed(1)} ${entry.duration.toFixed(1)} ${kind}\n`);
    }
  }).observe({ entryTypes: ['gc'] });
}

if (isMainThread) watch();
