/**
 * Latency second by second, from the warm-up through the window: where in a step its tail
 * lies (a set-up transient still being given back when the window opens, or stalls inside
 * it). Built from raw arrivals: the native instrument keeps them all; the Node one's callers
 * and bot each build their own direction's, merged by mergeTimelines.
 */

/** One second of one direction's tagged frames, by send time; seconds from the window's start. */
export interface TimelineSecond {
  second: number;
  callerToBot: { frames: number; p50Ms: number; p99Ms: number };
  botToCaller: { frames: number; p50Ms: number; p99Ms: number };
}

export class LatencyTimeline {
  readonly #startUs: number;
  readonly #bySecond = [new Map<number, number[]>(), new Map<number, number[]>()];

  constructor(windowStartUs: number) {
    this.#startUs = windowStartUs;
  }

  /** A frame sent at `sentUs` that took `latencyUs` (direction 0: caller->bot, 1: bot->caller). */
  add(direction: 0 | 1, sentUs: number, latencyUs: number): void {
    const second = Math.floor((sentUs - this.#startUs) / 1e6);
    const bucket = this.#bySecond[direction]!;
    const latencies = bucket.get(second) ?? [];
    if (latencies.length === 0) bucket.set(second, latencies);
    latencies.push(latencyUs / 1000);
  }

  seconds(): TimelineSecond[] {
    const [up, down] = this.#bySecond as [Map<number, number[]>, Map<number, number[]>];
    const all = [...new Set([...up.keys(), ...down.keys()])].sort((a, b) => a - b);
    return all.map((second) => ({
      second,
      callerToBot: quantiles(up.get(second)),
      botToCaller: quantiles(down.get(second)),
    }));
  }
}

function quantiles(latencies: number[] | undefined): TimelineSecond['callerToBot'] {
  if (!latencies || latencies.length === 0) return { frames: 0, p50Ms: Number.NaN, p99Ms: Number.NaN };
  const sorted = Float64Array.from(latencies).sort();
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
  return { frames: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99) };
}

/** One line per second: `-10 s: caller->bot 61 / 830 ms, bot->caller 493 / 1280 ms`. */
export function timelineLines(seconds: readonly TimelineSecond[]): string[] {
  const cell = (figures: TimelineSecond['callerToBot']): string =>
    figures.frames === 0 ? 'n/a' : `${figures.p50Ms.toFixed(0)} / ${figures.p99Ms.toFixed(0)} ms`;
  return seconds.map(
    ({ second, callerToBot, botToCaller }) =>
      `${second} s: caller->bot ${cell(callerToBot)}, bot->caller ${cell(botToCaller)}`,
  );
}

/** One timeline from a caller->bot one and a bot->caller one, each with the other side empty. */
export function mergeTimelines(
  callerToBot: readonly TimelineSecond[],
  botToCaller: readonly TimelineSecond[],
): TimelineSecond[] {
  const up = new Map(callerToBot.map((second) => [second.second, second.callerToBot]));
  const down = new Map(botToCaller.map((second) => [second.second, second.botToCaller]));
  const empty = quantiles(undefined);
  return [...new Set([...up.keys(), ...down.keys()])]
    .sort((a, b) => a - b)
    .map((second) => ({
      second,
      callerToBot: up.get(second) ?? empty,
      botToCaller: down.get(second) ?? empty,
    }));
}
