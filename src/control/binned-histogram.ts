import type { Metric, Registry } from 'prom-client';
import { type BinnedValues, BucketCounts } from '../util/index.js';

/** One exported sample, shaped as prom-client's Histogram.get() gives them. */
interface HistogramSample {
  metricName: string;
  labels: { le?: number | string };
  value: number;
}

/**
 * A label-less Prometheus histogram that takes both single values (`observe`) and counts
 * binned elsewhere by the same bounds (`add`, a media worker's report) in one pass over the
 * buckets. prom-client's Histogram has no bulk add, and observing a report value by value costs
 * the main thread a label hash and a bucket search per frame. A registry takes any object with
 * `name`, `help`, `type`, `aggregator`, `get()` and `reset()` (prom-client's registry.js);
 * `get()` gives the samples in the shape Histogram.get() does, so the exposition is the same:
 * cumulative `_bucket{le=...}`, `+Inf`, `_sum`, `_count`.
 */
export class BinnedHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  /** How a prom-client cluster aggregator merges it across processes, as for a Histogram. */
  readonly aggregator = 'sum';
  readonly #totals: BucketCounts;

  constructor(options: { name: string; help: string; bounds: readonly number[]; registers: Registry[] }) {
    this.name = options.name;
    this.help = options.help;
    this.#totals = new BucketCounts(options.bounds);
    // The registry's type names only prom-client's own classes; it reads nothing else of them.
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  observe(value: number): void {
    this.#totals.observe(value);
  }

  /** Adds values binned by this histogram's bounds. */
  add(binned: BinnedValues): void {
    this.#totals.add(binned);
  }

  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: HistogramSample[];
  }> {
    const { bounds, counts, sum, count } = this.#totals;
    const bucket = `${this.name}_bucket`;
    const values: HistogramSample[] = [];
    let cumulative = 0;
    for (const [slot, le] of bounds.entries()) {
      cumulative += counts[slot] as number;
      values.push({ metricName: bucket, labels: { le }, value: cumulative });
    }
    values.push(
      { metricName: bucket, labels: { le: '+Inf' }, value: count },
      { metricName: `${this.name}_sum`, labels: {}, value: sum },
      { metricName: `${this.name}_count`, labels: {}, value: count },
    );
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#totals.reset();
  }
}
