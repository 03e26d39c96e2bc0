/**
 * Tick precision of the shared media clock with and without `pacingLeadMs` (wake early, wait
 * out the rest), side by side in one run: deviation of each tick from 20 ms after the last,
 * and the CPU the clock costs. One listener, so the clock behaves as it does during calls.
 *
 *   npx tsx bench/media-clock.ts [seconds=10]
 */
import { MediaClock } from '../src/media/media-clock.js';
import { SystemClock } from '../src/util/index.js';

const seconds = Number(process.argv[2] ?? 10);

async function run(leadMs: number): Promise<string> {
  const clock = new MediaClock(new SystemClock(), 20, () => undefined, leadMs);
  const ticks: number[] = [];
  clock.on('tick', () => ticks.push(performance.now()));
  const cpuBefore = process.cpuUsage();
  clock.start();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  clock.stop();
  const cpu = process.cpuUsage(cpuBefore);
  const deviations = ticks
    .slice(1)
    .map((at, i) => Math.abs(at - (ticks[i] ?? at) - 20))
    .sort((a, b) => a - b);
  const pick = (p: number): string =>
    (deviations[Math.floor((p / 100) * (deviations.length - 1))] ?? Number.NaN).toFixed(3);
  const cpuPercent = ((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100;
  return `| ${leadMs} | ${pick(50)} | ${pick(99)} | ${pick(100)} | ${cpuPercent.toFixed(1)}% |`;
}

console.log(`${seconds} s per setting, tick-to-tick deviation from 20 ms, Node ${process.version}\n`);
console.log('| pacingLeadMs | p50 ms | p99 ms | max ms | CPU (of one core) |');
console.log('| --- | --- | --- | --- | --- |');
for (const lead of [0, 1, 2]) console.log(await run(lead));
