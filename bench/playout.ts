/**
 * CPU time and bytes allocated per 20 ms frame of a call's bot-audio playout, as the caller
 * leg drives it at each tick: one bot `media` message's PCM enqueued, the tick's slot check
 * (`holdsSlot`), one frame pulled, a mark every 50 frames (a bot that marks each second of
 * speech). The bot streams in real time, so the queue stays a frame deep, the common case.
 * Medians of several runs; the floor measured in the same run is copying the frame into a
 * reused buffer, what any playout has to do at least.
 *
 *   node --expose-gc --max-semi-space-size=64 --min-semi-space-size=64 --import tsx \
 *     bench/playout.ts [frames=200000] [baseline-tree]
 *
 * With a baseline tree (a checkout of another commit, e.g. `git worktree add /tmp/base main`),
 * its Playout is imported too and measured in the same process, run for run alternating with
 * this tree's.
 */
import { resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { Playout } from '../src/stream/index.js';
import { AllocationMeter, median } from './lib/alloc-meter.js';

const frameCount = Number(process.argv[2] ?? 200_000);
const baselineTree = process.argv[3];
const RUNS = 7;
const FRAME_SAMPLES = 160;
const MARK_EVERY = 50;

/** A second of a 300 Hz voice, frame by frame: speech, so nothing is trimmed as silence. */
const speech = Array.from({ length: 50 }, (_, frame) =>
  Int16Array.from({ length: FRAME_SAMPLES }, (_, i) =>
    Math.round(6000 * Math.sin((2 * Math.PI * 300 * (frame * FRAME_SAMPLES + i)) / 8000)),
  ),
);
const markNames = Array.from({ length: 10 }, (_, i) => `mark-${i}`);

type PlayoutClass = typeof Playout;
const trees: Array<[string, PlayoutClass]> = [['this tree', Playout]];
if (baselineTree !== undefined) {
  const url = pathToFileURL(resolve(baselineTree, 'src/stream/index.ts')).href;
  trees.unshift(['baseline', ((await import(url)) as { Playout: PlayoutClass }).Playout]);
}

/** Runs `count` ticks of a real-time bot through a playout of `PlayoutOf`. */
function ticks(PlayoutOf: PlayoutClass): (count: number) => void {
  const playout = new PlayoutOf({ sampleRate: 8000 });
  let tick = 0;
  return (count) => {
    for (let end = tick + count; tick < end; tick++) {
      playout.enqueue(speech[tick % speech.length] as Int16Array);
      if (tick % MARK_EVERY === 0) playout.mark(markNames[(tick / MARK_EVERY) % markNames.length] as string);
      playout.holdsSlot();
      playout.pullFrame();
    }
  };
}

/** The floor: each frame copied into one reused buffer. */
function copies(): (count: number) => void {
  const kept = new Int16Array(FRAME_SAMPLES);
  let tick = 0;
  return (count) => {
    for (let end = tick + count; tick < end; tick++) kept.set(speech[tick % speech.length] as Int16Array);
  };
}

const cases: Array<[string, (count: number) => void]> = [
  ...trees.map(([name, PlayoutOf]): [string, (count: number) => void] => [
    `${name}: playout`,
    ticks(PlayoutOf),
  ]),
  ['floor: copy the frame', copies()],
];

const nanoseconds: number[][] = cases.map(() => []);
for (let run = 0; run < RUNS; run++) {
  for (const [index, [, operation]] of cases.entries()) {
    operation(2000); // warm: compiled code, grown buffers
    const started = process.hrtime.bigint();
    operation(frameCount);
    nanoseconds[index]?.push(Number(process.hrtime.bigint() - started) / frameCount);
  }
}
const meter = new AllocationMeter();
const bytes: number[] = [];
for (const [, operation] of cases) {
  // The case before left typed arrays whose backing stores a collection frees on a thread of
  // its own: let that finish first, or their release reads as negative bytes in this window.
  (globalThis as { gc?: () => void }).gc?.();
  await delay(500);
  bytes.push(await meter.perOperation(operation, 20_000));
}

process.stdout.write(
  `playout: Node ${process.version}, ${frameCount} frames x ${RUNS} runs (time), 20000 frames (bytes), medians\n\n` +
    '| case | ns per frame | bytes allocated per frame |\n| --- | --- | --- |\n',
);
for (const [index, [name]] of cases.entries())
  process.stdout.write(
    `| ${name} | ${median(nanoseconds[index] ?? []).toFixed(0)} | ${(bytes[index] ?? 0).toFixed(0)} |\n`,
  );
