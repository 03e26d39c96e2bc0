/**
 * Self time by source file from a V8 `.cpuprofile` (what `node --cpu-prof` writes): each
 * sample's duration goes to the function it landed in, and functions are grouped by their
 * script. Compiled gateway files are named by their TypeScript source (dist/src/x.js ->
 * src/x.ts), packages from `node_modules/` on; functions without a script are V8's
 * pseudo-functions ((garbage collector), (program), (idle)) or builtins, named
 * `(native) name`. The profile's sample times are CLOCK_MONOTONIC microseconds, the bench's
 * clock, so only the samples inside the measured window count.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber?: number };
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
  /** Of the profile's busy time (everything but idle). */
  percent: number;
}

export interface ProfileSummary {
  profile: string;
  busyMs: number;
  idleMs: number;
  top: FileSelfTime[];
}

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

/** A function's name and where it lives (its file and line). */
export function frameName(frame: ProfileNode['callFrame']): string {
  const file = fileOf(frame);
  if (frame.url === '') return file;
  return `${frame.functionName || '(anonymous)'} ${file}:${(frame.lineNumber ?? -1) + 1}`;
}

/**
 * Self time by file of the samples taken within [window.startUs, window.endUs), summed over
 * the profiles given (one per thread: a gateway with media workers writes one for each).
 */
export function summariseProfile(
  paths: string | readonly string[],
  window: { startUs: number; endUs: number },
  top = 15,
): ProfileSummary {
  const selfUs = new Map<string, number>();
  for (const path of typeof paths === 'string' ? [paths] : paths) addSelfTime(path, window, selfUs);
  const idleUs = selfUs.get('(idle)') ?? 0;
  selfUs.delete('(idle)');
  const busyUs = [...selfUs.values()].reduce((sum, us) => sum + us, 0);
  const rows = [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([file, us]) => ({ file, selfMs: us / 1000, percent: (100 * us) / Math.max(1, busyUs) }));
  return { profile: [paths].flat().join(', '), busyMs: busyUs / 1000, idleMs: idleUs / 1000, top: rows };
}

function addSelfTime(
  path: string,
  window: { startUs: number; endUs: number },
  selfUs: Map<string, number>,
): void {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const fileById = new Map(profile.nodes.map((node) => [node.id, fileOf(node.callFrame)]));
  let sampledAtUs = profile.startTime + (profile.timeDeltas[0] ?? 0);
  // Sample i lasts until sample i+1 (as Chrome DevTools counts it).
  for (let i = 0; i + 1 < profile.samples.length; i++) {
    const durationUs = profile.timeDeltas[i + 1] ?? 0;
    if (sampledAtUs >= window.startUs && sampledAtUs < window.endUs) {
      const file = fileById.get(profile.samples[i] ?? -1) ?? '(unknown)';
      selfUs.set(file, (selfUs.get(file) ?? 0) + durationUs);
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
