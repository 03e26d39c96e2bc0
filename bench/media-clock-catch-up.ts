/**
 * How long the loop goes without reading I/O while the media clock catches up after a stall.
 * Every tick does `workMs` of busy work (every call's frames); after 1 s of ticking the loop is
 * held synchronously for `stallMs`, then a self re-arming setImmediate marks each loop turn (a
 * poll phase, where SIP and RTP are read, runs between any two). Reported: the longest gap
 * between turns, how long from the stall's end until the first tick on time again (less than
 * a frame after its deadline), and the clock's own counts. Uses only APIs main has, so the same file measures an older tree.
 *
 *   npx tsx bench/media-clock-catch-up.ts [rounds=5] [workMs=2] [stallMs=600]
 */
import { MediaClock } from '../src/media/media-clock.js';
import { SystemClock } from '../src/util/index.js';

const rounds = Number(process.argv[2] ?? 5);
const workMs = Number(process.argv[3] ?? 2);
const stallMs = Number(process.argv[4] ?? 600);

const busy = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // every call's work for one tick
  }
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Round {
  maxGapMs: number;
  catchUpMs: number;
  late: number;
  overruns: number;
}

async function round(): Promise<Round> {
  const clock = new MediaClock(new SystemClock(), 20, () => undefined, 2);
  let stallEnd = Number.POSITIVE_INFINITY;
  let caughtUpAt = Number.NaN;
  clock.on('tick', (tickMs) => {
    const now = performance.now();
    if (now > stallEnd && Number.isNaN(caughtUpAt) && now - tickMs < 20) caughtUpAt = now;
    busy(workMs);
  });
  clock.start();
  await sleep(1000);
  const before = clock.stats();
  busy(stallMs);
  stallEnd = performance.now();
  let maxGapMs = 0;
  let lastTurn = stallEnd;
  let turning = true;
  const turn = (): void => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - lastTurn);
    lastTurn = now;
    if (turning) setImmediate(turn);
  };
  setImmediate(turn);
  await sleep(1500); // bounded: the immediates stop with the round
  turning = false;
  clock.stop();
  const after = clock.stats();
  return {
    maxGapMs,
    catchUpMs: caughtUpAt - stallEnd,
    late: after.lateTicks - before.lateTicks,
    overruns: after.overruns - before.overruns,
  };
}

const results: Round[] = [];
for (let i = 0; i < rounds; i++) results.push(await round());
const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const column = (pick: (r: Round) => number, digits = 1) =>
  `${median(results.map(pick)).toFixed(digits)} (${results.map((r) => pick(r).toFixed(digits)).join(', ')})`;
console.log(
  `${rounds} rounds, ${workMs} ms of work a tick, a ${stallMs} ms stall, Node ${process.version}\n`,
);
console.log(
  '| longest gap between loop turns, ms | stall end to a tick on time, ms | late ticks | overruns |',
);
console.log('| --- | --- | --- | --- |');
console.log(
  `| ${column((r) => r.maxGapMs)} | ${column((r) => r.catchUpMs)} | ${column((r) => r.late, 0)} | ${column((r) => r.overruns, 0)} |`,
);
