/**
 * Pinning a measured process and its load generator to separate CPUs (Linux `taskset`), so the
 * scheduler cannot move either onto the other's CPU mid-window: on a small shared box that
 * placement is one of the things that moves a round's CPU per call-second.
 */
import { execFileSync } from 'node:child_process';

/** The CPU numbers of a taskset list such as "1", "0,2" or "1-3"; throws on anything else. */
export function parseCpuList(list: string, cpuCount: number): number[] {
  const cpus = new Set<number>();
  for (const part of list.split(',')) {
    const range = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!range) throw new RangeError(`not a CPU list: '${list}'`);
    const first = Number(range[1]);
    const last = Number(range[2] ?? range[1]);
    if (last < first || last >= cpuCount) throw new RangeError(`CPUs ${part} not among 0-${cpuCount - 1}`);
    for (let cpu = first; cpu <= last; cpu++) cpus.add(cpu);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** The CPUs of 0..cpuCount-1 not in `taken`, as a taskset list; throws when none is left. */
export function otherCpus(taken: readonly number[], cpuCount: number): string {
  const rest = Array.from({ length: cpuCount }, (_, cpu) => cpu).filter((cpu) => !taken.includes(cpu));
  if (rest.length === 0) throw new RangeError('no CPU is left for the load generator');
  return rest.join(',');
}

/** Every thread of process `pid` to `cpus` (a taskset list); threads it starts later inherit it. */
export function pinProcess(pid: number, cpus: string): void {
  execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', cpus, String(pid)], { stdio: 'ignore' });
}
