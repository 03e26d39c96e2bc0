/**
 * The node's health as a SIP load balancer and its own admission see it. OPTIONS to the node
 * are answered 503 while it drains, holds `limits.maxCalls` calls or is overloaded, 200
 * otherwise; either answer carries the load in `X-Patchbay-Calls: <active>/<max>`. Kamailio's
 * dispatcher probes with OPTIONS and stops sending new calls to a destination whose probe
 * fails. While overloaded the gateway also refuses new INVITEs (GatewayAdmission), so the calls
 * in progress keep the event loop and the media clock they need.
 *
 * Overloaded means a `limits.overload` threshold was crossed over the last complete window:
 * the p99 event-loop delay (`eventLoopDelayP99Ms`), the share of media-clock ticks that ran
 * a frame or more late or were skipped (`mediaClockLateShare`), or the share of time the event
 * loop was busy (`eventLoopUtilization`, the thread's CPU as Node counts it). The first two say
 * calls are already suffering; utilization says so before they do, so a node refusing on it
 * refuses before the media clock falls behind. Each window decides until the next one closes;
 * the media clock's share and the utilization also count as soon as the window in progress is
 * MIN_JUDGED_MS old, so a burst of calls is refused from its first fifth of a second rather
 * than admitted until the window closes.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import {
  type Clock,
  LOOP_DELAY_RESOLUTION_MS,
  type LoopDelayHistogram,
  type LoopTimes,
  loopBusyShare,
  loopDelayMs,
  type TimerHandle,
} from '../util/index.js';

const LOAD_HEADER = 'X-Patchbay-Calls';

/** How old the window in progress is before its figures can make the node overloaded. */
const MIN_JUDGED_MS = 200;
/** Ticks due in MIN_JUDGED_MS (the media clock's frame is 20 ms). */
const MIN_TICKS_TO_JUDGE = MIN_JUDGED_MS / 20;

/** The part of `perf_hooks`' IntervalHistogram used here; tests pass a fake. */
export interface DelayHistogram extends LoopDelayHistogram {
  reset(): void;
  enable(): void;
  disable(): void;
}

export interface OverloadThresholds {
  eventLoopDelayP99Ms?: number | undefined;
  /** Late plus skipped ticks over all ticks due in the window, above which the node is overloaded. */
  mediaClockLateShare?: number | undefined;
  /** The event loop's busy share of the window (0-1), above which the node is overloaded. */
  eventLoopUtilization?: number | undefined;
  windowSec: number;
}

/** The media clock's cumulative tick counts (MediaClockStats). */
interface TickCounts {
  ticks: number;
  lateTicks: number;
  ticksSkipped: number;
}

/** What can make the node overloaded; the `signal` label of `patchbay_overloaded`. */
export const OVERLOAD_SIGNALS = ['event_loop_delay', 'media_clock', 'event_loop_utilization'] as const;
type OverloadSignal = (typeof OVERLOAD_SIGNALS)[number];

interface NodeLoadOptions {
  clock: Clock;
  activeCalls(): number;
  /** `limits.maxCalls` as the current config says. */
  maxCalls(): number;
  draining(): boolean;
  /** `limits.overload` as the current config says; undefined: load never refuses. */
  overload(): OverloadThresholds | undefined;
  /** The shared media clock's counts; without it the media-clock signal never fires. */
  mediaClockTicks?(): TickCounts;
  histogram?: DelayHistogram;
  /** The loop's cumulative idle and active time (perf_hooks' eventLoopUtilization); tests pass a fake. */
  utilization?: () => LoopTimes;
  /** The same for each other thread that carries calls (media workers), by its thread id. */
  threadUtilizations?: () => ReadonlyArray<ThreadUtilization>;
}

/** A thread's cumulative event-loop idle and active time; `threadId` tells a replaced thread apart. */
interface ThreadUtilization extends LoopTimes {
  threadId: number;
}

type NodeCondition = 'ok' | 'draining' | 'full' | 'overloaded';

export class NodeLoad {
  readonly #options: NodeLoadOptions;
  readonly #histogram: DelayHistogram;
  #timer: TimerHandle | undefined;
  #lastWindowP99Ms = 0;
  #lastWindowLateShare = 0;
  #ticksSeen: TickCounts = { ticks: 0, lateTicks: 0, ticksSkipped: 0 };
  readonly #utilization: () => LoopTimes;
  #lastWindowUtilization = 0;
  #utilizationSeen: LoopTimes;
  /** The other threads' readings at the window's start, by thread id. */
  #threadsSeen = new Map<number, ThreadUtilization>();
  #closed = false;

  constructor(options: NodeLoadOptions) {
    this.#options = options;
    this.#histogram = options.histogram ?? monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
    this.#histogram.enable();
    this.#ticksSeen = options.mediaClockTicks?.() ?? this.#ticksSeen;
    this.#utilization = options.utilization ?? (() => performance.eventLoopUtilization());
    this.#utilizationSeen = this.#utilization();
    this.#threadsSeen = this.#threadReadings();
    this.#schedule();
  }

  /** p99 event-loop delay of the last complete window, in ms (also `patchbay_event_loop_lag_seconds`). */
  get eventLoopDelayP99Ms(): number {
    return this.#lastWindowP99Ms;
  }

  /** Late and skipped media-clock ticks over the ticks due in the last complete window. */
  get mediaClockLateShare(): number {
    return this.#lastWindowLateShare;
  }

  /** The busiest event loop's share of the last complete window (the main thread's or a media worker's). */
  get eventLoopUtilization(): number {
    return this.#lastWindowUtilization;
  }

  /** Whether `signal` crossed its threshold over the last window (false when it has none). */
  overloadedBy(signal: OverloadSignal): boolean {
    const overload = this.#options.overload();
    if (!overload) return false;
    if (signal === 'event_loop_delay')
      return (
        overload.eventLoopDelayP99Ms !== undefined && this.#lastWindowP99Ms > overload.eventLoopDelayP99Ms
      );
    if (signal === 'event_loop_utilization') {
      const busyShare = overload.eventLoopUtilization;
      if (busyShare === undefined) return false;
      if (this.#lastWindowUtilization > busyShare) return true;
      const current = this.#utilizationSince(this.#utilizationSeen);
      return current.elapsedMs >= MIN_JUDGED_MS && current.share > busyShare;
    }
    const threshold = overload.mediaClockLateShare;
    if (threshold === undefined) return false;
    if (this.#lastWindowLateShare > threshold) return true;
    const current = this.#ticksSince(this.#ticksSeen);
    return current.due >= MIN_TICKS_TO_JUDGE && current.late / current.due > threshold;
  }

  get overloaded(): boolean {
    return OVERLOAD_SIGNALS.some((signal) => this.overloadedBy(signal));
  }

  condition(): NodeCondition {
    if (this.#options.draining()) return 'draining';
    if (this.#options.activeCalls() >= this.#options.maxCalls()) return 'full';
    if (this.overloaded) return 'overloaded';
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

  /** One window at a time: the window's figures decide until the next one closes. */
  #schedule(): void {
    const windowMs = (this.#options.overload()?.windowSec ?? 5) * 1000;
    this.#timer = this.#options.clock.setTimer(windowMs, () => {
      this.#lastWindowP99Ms = loopDelayMs(this.#histogram, 99);
      this.#histogram.reset();
      this.#lastWindowLateShare = this.#closeTickWindow();
      this.#lastWindowUtilization = this.#utilizationSince(this.#utilizationSeen).share;
      this.#utilizationSeen = this.#utilization();
      this.#threadsSeen = this.#threadReadings();
      this.#schedule();
    });
  }

  /** The window's late share: ticks run late or skipped over every tick that fell due. */
  #closeTickWindow(): number {
    const { due, late } = this.#ticksSince(this.#ticksSeen);
    this.#ticksSeen = this.#options.mediaClockTicks?.() ?? this.#ticksSeen;
    return due > 0 ? late / due : 0;
  }

  /**
   * The busiest loop's share of the time since `seen` (the main thread's, or another thread's
   * since the window's start or its own, if it is newer), and how long the main thread's is.
   */
  #utilizationSince(seen: LoopTimes): {
    share: number;
    elapsedMs: number;
  } {
    const main = loopBusyShare(this.#utilization(), seen);
    let share = main.share;
    for (const thread of this.#options.threadUtilizations?.() ?? [])
      share = Math.max(share, loopBusyShare(thread, this.#threadsSeen.get(thread.threadId)).share);
    return { share, elapsedMs: main.elapsedMs };
  }

  #threadReadings(): Map<number, ThreadUtilization> {
    const readings = this.#options.threadUtilizations?.() ?? [];
    return new Map(readings.map((reading) => [reading.threadId, reading]));
  }

  /** Ticks that fell due since `seen`, and how many of them ran late or were skipped. */
  #ticksSince(seen: TickCounts): { due: number; late: number } {
    const counts = this.#options.mediaClockTicks?.();
    if (!counts) return { due: 0, late: 0 };
    const skipped = counts.ticksSkipped - seen.ticksSkipped;
    return { due: counts.ticks - seen.ticks + skipped, late: counts.lateTicks - seen.lateTicks + skipped };
  }
}
