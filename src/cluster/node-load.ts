/**
 * The node's health as a SIP load balancer sees it: OPTIONS to the node are answered 503 while
 * it drains, holds `limits.maxCalls` calls or is overloaded (the p99 event-loop delay of the
 * last window over `limits.overload.eventLoopDelayP99Ms`), 200 otherwise; either answer carries
 * the load in `X-Patchbay-Calls: <active>/<max>`. Kamailio's dispatcher probes with OPTIONS
 * and stops sending new calls to a destination whose probe fails.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Clock, TimerHandle } from '../util/index.js';

export const LOAD_HEADER = 'X-Patchbay-Calls';

/** The part of `perf_hooks`' IntervalHistogram used here; tests pass a fake. */
export interface DelayHistogram {
  percentile(percentile: number): number;
  reset(): void;
  enable(): void;
  disable(): void;
}

export interface OverloadThresholds {
  eventLoopDelayP99Ms: number;
  windowSec: number;
}

export interface NodeLoadOptions {
  clock: Clock;
  activeCalls(): number;
  /** `limits.maxCalls` as the current config says. */
  maxCalls(): number;
  draining(): boolean;
  /** `limits.overload` as the current config says; undefined: load never turns OPTIONS to 503. */
  overload(): OverloadThresholds | undefined;
  histogram?: DelayHistogram;
}

export type NodeCondition = 'ok' | 'draining' | 'full' | 'overloaded';

export class NodeLoad {
  readonly #options: NodeLoadOptions;
  readonly #histogram: DelayHistogram;
  #timer: TimerHandle | undefined;
  #lastWindowP99Ms = 0;
  #closed = false;

  constructor(options: NodeLoadOptions) {
    this.#options = options;
    this.#histogram = options.histogram ?? monitorEventLoopDelay({ resolution: 10 });
    this.#histogram.enable();
    this.#schedule();
  }

  /** p99 event-loop delay of the last complete window, in ms. */
  get eventLoopDelayP99Ms(): number {
    return this.#lastWindowP99Ms;
  }

  condition(): NodeCondition {
    if (this.#options.draining()) return 'draining';
    if (this.#options.activeCalls() >= this.#options.maxCalls()) return 'full';
    const overload = this.#options.overload();
    if (overload && this.#lastWindowP99Ms > overload.eventLoopDelayP99Ms) return 'overloaded';
    return 'ok';
  }

  /** The status for an out-of-dialog OPTIONS: 503 unless the node takes calls (then undefined: 200). */
  optionsStatus(): number | undefined {
    return this.condition() === 'ok' ? undefined : 503;
  }

  headers(): Array<[string, string]> {
    return [[LOAD_HEADER, `${this.#options.activeCalls()}/${this.#options.maxCalls()}`]];
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.cancel();
    this.#histogram.disable();
  }

  /** One window at a time: the window's p99 decides until the next one closes. */
  #schedule(): void {
    const windowMs = (this.#options.overload()?.windowSec ?? 5) * 1000;
    this.#timer = this.#options.clock.setTimer(windowMs, () => {
      const p99Ns = this.#histogram.percentile(99);
      this.#lastWindowP99Ms = Number.isFinite(p99Ns) ? p99Ns / 1e6 : 0;
      this.#histogram.reset();
      this.#schedule();
    });
  }
}
