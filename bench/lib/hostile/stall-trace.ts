/**
 * What filled the gateway's loop stalls (`bench/hostile-mix.ts --trace`): the `loop-stall`
 * lines of loop-watch.ts, the `gc` and `clock` lines of gc-watch.ts, and the gateway's
 * `--cpu-prof` profile, all on one clock. For each stall, the garbage collection inside it and
 * the profile's busiest functions in it; and over all stalls, where their time went.
 */
import { readFileSync } from 'node:fs';
import { type CpuProfile, frameName } from '../../load/profile.js';
import { LOOP_STALL } from './loop-stalls.js';

export interface Stall {
  atMs: number;
  wallMs: number;
  /** The process's CPU time in the stall, every thread. */
  cpuMs: number;
  /** The main thread's time on a CPU, and waiting for one. */
  mainThreadMs: number;
  runQueueMs: number;
}

export interface StallTrace extends Stall {
  /** Garbage collection inside the stall, ms, by kind (major, minor, ...). */
  gcMs: Record<string, number>;
  /** The profile's samples inside the stall: self time by function, ms, largest first. */
  top: Array<[string, number]>;
  /** The same samples by every function on their stack (inclusive time), largest first. */
  inclusive: Array<[string, number]>;
}

interface Gc {
  atMs: number;
  durationMs: number;
  kind: string;
}

export function parseStalls(logs: string): Stall[] {
  return [...logs.matchAll(LOOP_STALL)].map(([, at, wall, cpu, main, runQueue]) => ({
    atMs: Number(at),
    wallMs: Number(wall),
    cpuMs: Number(cpu),
    mainThreadMs: Number(main),
    runQueueMs: Number(runQueue),
  }));
}

function parseGcs(logs: string): Gc[] {
  return [...logs.matchAll(/^gc ([\d.]+) ([\d.]+) (\w+)$/gm)].map(([, at, duration, kind]) => ({
    atMs: Number(at),
    durationMs: Number(duration),
    kind: kind as string,
  }));
}

/** Epoch ms minus CLOCK_MONOTONIC ms, from gc-watch's `clock` line. */
function clockOffsetMs(logs: string): number | undefined {
  const match = /^clock ([\d.]+) (\d+)$/m.exec(logs);
  return match ? Number(match[1]) - Number(match[2]) / 1000 : undefined;
}

function overlapMs(from: number, to: number, start: number, end: number): number {
  return Math.max(0, Math.min(to, end) - Math.max(from, start));
}

/**
 * The stalls in `window` (epoch ms) whose own time by the old measure (the smaller of wall and
 * the process's CPU time, every thread) is at least `minOwnMs`, explained.
 */
export function traceStalls(
  logs: string,
  profilePath: string | undefined,
  window: { atMs: number; toMs: number },
  minOwnMs: number,
): StallTrace[] {
  const stalls = parseStalls(logs).filter(
    (stall) =>
      stall.atMs >= window.atMs &&
      stall.atMs < window.toMs &&
      Math.min(stall.wallMs, stall.cpuMs) >= minOwnMs,
  );
  const gcs = parseGcs(logs);
  const offsetMs = clockOffsetMs(logs);
  const profile =
    profilePath && offsetMs !== undefined
      ? (JSON.parse(readFileSync(profilePath, 'utf8')) as CpuProfile)
      : undefined;
  const nameById = new Map(profile?.nodes.map((node) => [node.id, frameName(node.callFrame)]));
  const parentById = new Map<number, number>();
  for (const node of profile?.nodes ?? [])
    for (const child of node.children ?? []) parentById.set(child, node.id);
  return stalls.map((stall) => {
    const end = stall.atMs + stall.wallMs;
    const gcMs: Record<string, number> = {};
    for (const gc of gcs) {
      const ms = overlapMs(stall.atMs, end, gc.atMs, gc.atMs + gc.durationMs);
      if (ms > 0) gcMs[gc.kind] = (gcMs[gc.kind] ?? 0) + ms;
    }
    const self = new Map<string, number>();
    const inclusive = new Map<string, number>();
    if (profile && offsetMs !== undefined) {
      let atUs = profile.startTime + (profile.timeDeltas[0] ?? 0);
      for (let i = 0; i + 1 < profile.samples.length; i++) {
        const durationUs = profile.timeDeltas[i + 1] ?? 0;
        const atMs = atUs / 1000 + offsetMs;
        if (atMs >= stall.atMs && atMs < end) {
          const name = nameById.get(profile.samples[i] ?? -1) ?? '(unknown)';
          self.set(name, (self.get(name) ?? 0) + durationUs / 1000);
          const onStack = new Set<string>();
          for (let id = profile.samples[i]; id !== undefined; id = parentById.get(id)) {
            onStack.add(nameById.get(id) ?? '(unknown)');
          }
          for (const caller of onStack)
            inclusive.set(caller, (inclusive.get(caller) ?? 0) + durationUs / 1000);
        }
        atUs += durationUs;
      }
    }
    const largest = (map: Map<string, number>, n: number) =>
      [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
    return { ...stall, gcMs, top: largest(self, 8), inclusive: largest(inclusive, 25) };
  });
}

/** Self time summed over all the stalls, by function, largest first. */
export function stallTotals(traces: StallTrace[]): Array<[string, number]> {
  const total = new Map<string, number>();
  for (const trace of traces) {
    for (const [name, ms] of trace.top) total.set(name, (total.get(name) ?? 0) + ms);
  }
  return [...total.entries()].sort((a, b) => b[1] - a[1]);
}
