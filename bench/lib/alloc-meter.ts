/**
 * Bytes a piece of code allocates, read as the growth of V8's used heap plus ArrayBuffer
 * memory over a window no garbage collection ran in. Run the bench with
 * `node --expose-gc --max-semi-space-size=64 --min-semi-space-size=64`, so a window of a few
 * MB fits the young generation; a window a GC landed in reads as undefined (retry it).
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

const gc = (globalThis as { gc?: () => void }).gc;
/** Start times of garbage collections (their entries arrive a little after they ran). */
const gcStarts: number[] = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcStarts.push(entry.startTime);
}).observe({ entryTypes: ['gc'] });

const allocatedBytes = () => getHeapStatistics().used_heap_size + process.memoryUsage().arrayBuffers;

export class AllocationMeter {
  #openedAt = 0;
  #before = 0;

  constructor() {
    if (!gc) throw new Error('run with node --expose-gc (see bench/lib/alloc-meter.ts)');
  }

  /** Collects garbage, then opens the window. */
  open(): void {
    gc?.();
    this.#openedAt = performance.now();
    this.#before = allocatedBytes();
  }

  /** Bytes allocated since open(), or undefined when a GC ran in between. */
  async close(): Promise<number | undefined> {
    const bytes = allocatedBytes() - this.#before;
    const closedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 50)); // the GC observer's entries arrive
    return gcStarts.some((at) => at >= this.#openedAt && at <= closedAt) ? undefined : bytes;
  }

  /** Bytes per call of `run(count)` (which does `count` operations), retried past GCs. */
  async perOperation(run: (count: number) => void | Promise<void>, count: number): Promise<number> {
    for (let attempt = 0; attempt < 5; attempt++) {
      await run(Math.min(count, 2000)); // warm-up: compiled code, grown buffers, settled state
      this.open();
      await run(count);
      const bytes = await this.close();
      if (bytes !== undefined) return bytes / count;
    }
    throw new Error('a GC landed in every window: raise --max-semi-space-size or lower the count');
  }
}

export const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
