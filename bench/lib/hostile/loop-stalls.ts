/**
 * The gateway's loop stalls in the hostile mix: the flags that load loop-watch.ts (and, to trace
 * them, gc-watch.ts and a CPU profile) into the gateway, and the summary of its `loop-stall`
 * lines over a phase of the mix.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The loop stalls of one phase of the mix. */
export interface LoopPhase {
  name: string;
  stalls: number;
  maxWallMs: number;
  maxOwnMs: number;
  /**
   * The longest time the gateway's loop was held while the process was not running at all
   * (a stall's wall time less the process's CPU time in it, all threads counted, so a lower
   * bound): what a shared machine imposed on the gateway, not what the gateway did.
   */
  maxDescheduledMs: number;
  /**
   * The longest the gateway's main thread was on a CPU in one stall (its own loop work, GC
   * pauses included; 0 off Linux): `maxOwnMs` also counts the other threads' CPU time.
   */
  maxMainThreadMs: number;
  /** The longest the main thread waited on a run queue, ready to run, in one stall (0 off Linux). */
  maxRunQueueMs: number;
}

/** Loaded into the gateway (plain node, compiled code): the compiled module also from a tsx run. */
export const LOOP_WATCH = pathToFileURL(
  join(
    import.meta.dirname,
    import.meta.url.endsWith('.ts') ? '../../../dist/bench/lib/hostile' : '.',
    'loop-watch.js',
  ),
).href;

/**
 * Node flags that trace the gateway's stalls into `profileDir` (its `--cpu-prof` profile, written
 * on exit) and its output (gc-watch.ts's lines): for `gatewayNodeArgs`, read by stall-trace.ts.
 */
export function stallTraceArgs(profileDir: string): string[] {
  const gcWatch = LOOP_WATCH.replace(/loop-watch\.js$/, 'gc-watch.js');
  return ['--import', gcWatch, '--trace-gc', '--cpu-prof', `--cpu-prof-dir=${profileDir}`];
}

/** A loop-watch.ts line: epoch ms, wall ms, process CPU ms, main thread on a CPU ms, on a run queue ms. */
export const LOOP_STALL = /^loop-stall (\d+) ([\d.]+) ([\d.]+) (-?[\d.]+) (-?[\d.]+)$/gm;

/** `loop-stall <epoch ms> <wall ms> <cpu ms> <main ms> <runq ms>` lines (loop-watch.ts) between fromMs and toMs. */
export function summarizeLoop(name: string, logs: string, fromMs: number, toMs: number): LoopPhase {
  const phase: LoopPhase = {
    name,
    stalls: 0,
    maxWallMs: 0,
    maxOwnMs: 0,
    maxDescheduledMs: 0,
    maxMainThreadMs: 0,
    maxRunQueueMs: 0,
  };
  for (const [, at, wall, cpu, main, runQueue] of logs.matchAll(LOOP_STALL)) {
    if (Number(at) < fromMs || Number(at) >= toMs) continue;
    phase.stalls++;
    phase.maxWallMs = Math.max(phase.maxWallMs, Number(wall));
    phase.maxOwnMs = Math.max(phase.maxOwnMs, Math.min(Number(wall), Number(cpu)));
    phase.maxDescheduledMs = Math.max(phase.maxDescheduledMs, Number(wall) - Number(cpu));
    phase.maxMainThreadMs = Math.max(phase.maxMainThreadMs, Number(main));
    phase.maxRunQueueMs = Math.max(phase.maxRunQueueMs, Number(runQueue));
  }
  return phase;
}
