/**
 * What `perf_hooks.monitorEventLoopDelay` costs a thread that has nothing else to do: the
 * gateway's main thread with media in workers. Each case runs in its own Node process, idle but
 * for the monitor(s), and reports its own CPU over the window (process.cpuUsage); cases alternate
 * round by round, medians over the rounds. The monitor samples by waking the loop every
 * `resolution` ms, and on a virtual machine a timer wake-up is a costly exit.
 *
 *   node --import tsx bench/loop-delay-monitor.ts [rounds=3] [seconds=5]
 */
import { execFileSync } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { median } from './lib/alloc-meter.js';

/** Monitors of the given resolution (ms) in the child; resolution 0: none. */
interface MonitorCase {
  label: string;
  resolutionMs: number;
  monitors: number;
}

const CASES: readonly MonitorCase[] = [
  { label: 'no monitor', resolutionMs: 0, monitors: 0 },
  { label: '10 ms (the gateway: one for the metric, one for overload)', resolutionMs: 10, monitors: 2 },
  { label: '10 ms, one monitor', resolutionMs: 10, monitors: 1 },
  { label: '20 ms, one monitor', resolutionMs: 20, monitors: 1 },
  { label: '50 ms, one monitor', resolutionMs: 50, monitors: 1 },
];

async function child(resolutionMs: number, monitors: number, seconds: number): Promise<void> {
  for (let i = 0; i < monitors; i++) monitorEventLoopDelay({ resolution: resolutionMs }).enable();
  const start = process.cpuUsage();
  // Keeps the loop alive and idle for the window; nothing else runs.
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const used = process.cpuUsage(start);
  process.stdout.write(`${(used.user + used.system) / 1000 / seconds}\n`);
}

function runCase(entry: MonitorCase, seconds: number): number {
  const script = fileURLToPath(import.meta.url);
  const args = [...process.execArgv, script, 'child', String(entry.resolutionMs), String(entry.monitors)];
  const output = execFileSync(process.execPath, [...args, String(seconds)], { encoding: 'utf8' });
  return Number(output.trim());
}

function main(): void {
  const rounds = Number(process.argv[2] ?? 3);
  const seconds = Number(process.argv[3] ?? 5);
  const results = new Map<string, number[]>(CASES.map((entry) => [entry.label, []]));
  for (let round = 0; round < rounds; round++)
    for (const entry of CASES) results.get(entry.label)?.push(runCase(entry, seconds));
  console.log(`Node ${process.version}, ${rounds} rounds of ${seconds} s per case, CPU ms per second:`);
  console.log('| case | median | rounds |');
  console.log('| --- | --- | --- |');
  for (const [label, values] of results)
    console.log(
      `| ${label} | ${median(values).toFixed(2)} | ${values.map((value) => value.toFixed(2)).join(', ')} |`,
    );
}

if (process.argv[2] === 'child')
  await child(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
else main();
