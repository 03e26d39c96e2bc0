/**
 * Self time by source file from a V8 `.cpuprofile` (what `node --cpu-prof` writes): each
 * sample's duration goes to the function it landed in, and functions are grouped by their
 * script. Compiled gateway files are named by their TypeScript source (dist/src/x.js ->
 * src/x.ts), packages from `node_modules/` on; functions without a script are V8's
 * pseudo-functions ((garbage collector), (program), (idle)) or builtins, named
 * `(native) name`. The profile's sample times are CLOCK_MONOTONIC microseconds, the bench's
 * clock, so only the samples inside the measured window count.
 *
 * A media clock's precise wait (`MediaClock#waitUntil`) sleeps in `Atomics.wait`, which the
 * profiler samples as that function's self time although the thread is off the CPU: it is
 * reported apart, as waiting, and left out of the busy time the shares are taken of.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber?: number; columnNumber?: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  /** CLOCK_MONOTONIC microseconds. */
  startTime: number;
  samples: number[];
  /** Microseconds from the previous sample (the first from startTime). */
  timeDeltas: number[];
}

export interface FileSelfTime {
  file: string;
  selfMs: number;
  /** Of the profile's busy time (everything but idle and the media clock's wait). */
  percent: number;
}

export interface FunctionSelfTime {
  /** Function name, file and line (frameName). */
  function: string;
  selfMs: number;
  /** Of the profile's busy time, as FileSelfTime's. */
  percent: number;
}

export interface ProfileSummary {
  profile: string;
  busyMs: number;
  idleMs: number;
  /** In the media clocks' precise wait: blocked in a futex but for its last 0.2 ms. */
  clockWaitMs: number;
  top: FileSelfTime[];
  topFunctions: FunctionSelfTime[];
}

/** The media clock's precise wait, by its frame name's start (see the header). */
const CLOCK_WAIT = '#waitUntil src/media/media-clock.ts:';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/dist\/$/, '/');

/** A stable name for where a function lives. */
function fileOf(frame: ProfileNode['callFrame']): string {
  if (frame.url === '')
    return frame.functionName.startsWith('(') ? frame.functionName : `(native) ${frame.functionName}`;
  if (!frame.url.startsWith('file://')) return frame.url;
  const path = fileURLToPath(frame.url);
  // node_modules may be a link to another checkout: name packages from node_modules/ on.
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) return path.slice(modules + 1);
  const local = relative(REPO_ROOT, path);
  return local.startsWith('dist/') ? local.slice('dist/'.length).replace(/\.js$/, '.ts') : local;
}

/** A function's name and where it lives (its file and line, in the TypeScript source if mapped). */
export function frameName(frame: ProfileNode['callFrame']): string {
  const file = fileOf(frame);
  if (frame.url === '') return file;
  return `${frame.functionName || '(anonymous)'} ${file}:${sourceLine(frame)}`;
}

const sourceMaps = new Map<string, SourceMap | undefined>();

/** The 1-based line of a compiled frame in its source, through the `.js.map` beside it. */
function sourceLine(frame: ProfileNode['callFrame']): number {
  const line = frame.lineNumber ?? -1;
  if (!frame.url.startsWith('file://') || line < 0) return line + 1;
  const path = `${fileURLToPath(frame.url)}.map`;
  if (!sourceMaps.has(path))
    sourceMaps.set(
      path,
      existsSync(path) ? new SourceMap(JSON.parse(readFileSync(path, 'utf8'))) : undefined,
    );
  const entry = sourceMaps.get(path)?.findEntry(line, frame.columnNumber ?? 0);
  return entry && 'originalLine' in entry ? entry.originalLine + 1 : line + 1;
}

/**
 * Self time by file and by function of the samples taken within [window.startUs,
 * window.endUs), summed over the profiles given (one per thread: a gateway with media workers
 * writes one for each).
 */
export function summariseProfile(
  paths: string | readonly string[],
  window: { startUs: number; endUs: number },
  top = 15,
): ProfileSummary {
  const selfUs = new Map<string, { file: string; us: number }>();
  for (const path of typeof paths === 'string' ? [paths] : paths) addSelfTime(path, window, selfUs);
  let idleUs = 0;
  let clockWaitUs = 0;
  const byFile = new Map<string, number>();
  const byFunction: Array<[string, number]> = [];
  for (const [name, { file, us }] of selfUs) {
    if (name === '(idle)') idleUs += us;
    else if (name.startsWith(CLOCK_WAIT)) clockWaitUs += us;
    else {
      byFile.set(file, (byFile.get(file) ?? 0) + us);
      byFunction.push([name, us]);
    }
  }
  const busyUs = [...byFile.values()].reduce((sum, us) => sum + us, 0);
  const share = (us: number): number => (100 * us) / Math.max(1, busyUs);
  const largest = (rows: Iterable<[string, number]>): Array<[string, number]> =>
    [...rows].sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    profile: [paths].flat().join(', '),
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    clockWaitMs: clockWaitUs / 1000,
    top: largest(byFile).map(([file, us]) => ({ file, selfMs: us / 1000, percent: share(us) })),
    topFunctions: largest(byFunction).map(([name, us]) => ({
      function: name,
      selfMs: us / 1000,
      percent: share(us),
    })),
  };
}

function addSelfTime(
  path: string,
  window: { startUs: number; endUs: number },
  selfUs: Map<string, { file: string; us: number }>,
): void {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  // Named once per node (the source-map lookup included), not once per sample.
  const placeById = new Map(
    profile.nodes.map((node) => [node.id, { name: frameName(node.callFrame), file: fileOf(node.callFrame) }]),
  );
  const unknown = { name: '(unknown)', file: '(unknown)' };
  let sampledAtUs = profile.startTime + (profile.timeDeltas[0] ?? 0);
  // Sample i lasts until sample i+1 (as Chrome DevTools counts it).
  for (let i = 0; i + 1 < profile.samples.length; i++) {
    const durationUs = profile.timeDeltas[i + 1] ?? 0;
    if (sampledAtUs >= window.startUs && sampledAtUs < window.endUs) {
      const { name, file } = placeById.get(profile.samples[i] ?? -1) ?? unknown;
      const entry = selfUs.get(name);
      if (entry) entry.us += durationUs;
      else selfUs.set(name, { file, us: durationUs });
    }
    sampledAtUs += durationUs;
  }
}

/**
 * The `.cpuprofile` files a process wrote into `dir`, one per thread; Node names each
 * CPU.<date>.<time>.<pid>.<thread id>.<sequence>.cpuprofile, the main thread's id being 0.
 */
export function profilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((entry) => entry.endsWith('.cpuprofile'))
    .map((entry) => join(dir, entry));
}

/** The main thread's `.cpuprofile` in `dir` (thread id 0). */
export function profileIn(dir: string): string | undefined {
  return profilesIn(dir).find((path) => path.split('.').at(-3) === '0');
}
