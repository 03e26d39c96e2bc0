/**
 * The load bench: how many concurrent calls one gateway process carries, and at what cost per
 * call, next to the simplest honest RTP <-> WebSocket forwarder measured in the same run.
 *
 *   npm run build && node dist/bench/load/run.js [options]
 *
 * Each step sets up N calls over SIP/UDP into a real `patchbay start` process (route: the echo
 * bot in bench/load/echo-bot.ts, Twilio Media Streams), sends 20 ms PCMU of talk both ways
 * through the gateway and the bot (bench/load/talker.ts: voiced spurts and pauses, one spurt
 * frame in 4 tagged), and measures over a window after a warm-up: the gateway's CPU per
 * call-second and RSS (from /proc), its event-loop delay p99 (its /metrics), and over the tagged
 * frames one-way latency caller->bot and bot->caller (p50/p99, same host clock), late frames
 * (a gap of more than 60 ms in 20 ms frames: later after the call's previous tagged frame than
 * sent after it, by more than 40 ms) and missing frames; and failed calls. The bare forwarder
 * (bench/lib/bare-forwarder.ts) carries the same N with the same callers and bot. Steps double
 * until the gateway saturates (loss > 0.5 %, caller->bot p99 > 200 ms, or a failed call) or
 * the maximum (an explicit --steps list runs every step). Each step also says whether it met
 * the stricter latency goals (step.ts latencyGoalMisses: caller->bot p99 under 40 ms plus the
 * jitter buffers' target, bot->caller p99 under 60 ms, nothing missing). Then the gateway runs the highest
 * sustained N (or the first step, if none was; or --profile-at) again under --cpu-prof and
 * the profile's self time is summarised by source file and by function. Everything runs on loopback; every
 * child process and socket is closed at the end, also on Ctrl-C.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBenchArgs } from '../lib/bench-args.js';
import { otherCpus, parseCpuList, pinProcess } from '../lib/cpu-pin.js';
import { type InstrumentKind, type LoadInstrument, NodeInstrument } from './instrument.js';
import { NativeInstrument } from './native.js';
import { type ProfileSummary, profilesIn, summariseProfile } from './profile.js';
import {
  cpuRatio,
  cpuSplitLine,
  instrumentLine,
  jitterBufferLine,
  playoutLine,
  profileLines,
  TABLE_HEADER,
  tableRow,
  tailLine,
  workerSplitLine,
} from './report.js';
import { highestMeetingGoals, type RoundResult, summariseRounds, summaryLine } from './rounds.js';
import {
  closeEverything,
  latencyGoalMisses,
  measureStep,
  type StepFigures,
  saturationReasons,
  track,
} from './step.js';
import { timelineLines } from './timeline.js';

const HELP = `usage: node dist/bench/load/run.js [options]   (after npm run build)

  --steps LIST      run exactly these call counts, saturated or not, e.g. 50,100,200
                    (default: --start doubling to --max, stopping at the first saturated step)
  --start N         first step (default 50)
  --max N           last step at most (default 1600)
  --profile-at N    profile N calls (default: the highest sustained step, else the first)
  --warmup SEC      per step, before the window (default 5)
  --window SEC      measured window per step (default 20)
  --cps N           INVITEs per second while setting up (default 100)
  --workers LIST    the gateway's media.workers: N media worker threads (default 0: media
                    on its main thread); a list, e.g. 1,2, measures each at every step
  --rounds N        repeat every step N times (default 1), each round measuring every
                    --workers setting and the forwarder back to back, in the reverse order
                    every other round; then one line per setting: in how many rounds it met
                    the latency goals, and medians (needs --steps)
  --malloc-arena-max N  the gateway (only) runs with MALLOC_ARENA_MAX=N
  --pin LIST        the gateway's and the forwarder's threads on these CPUs (a taskset list,
                    e.g. 1), this process and the instrument's on the others, so neither side
                    is scheduled onto the other's CPU (Linux, needs taskset)
  --timeline        under each step, both directions' p50 / p99 second by second from the
                    warm-up on (always in the JSON)
  --instrument KIND node (default): the callers in this process, the echo bot in a Node child;
                    native: both in one C process built with the system's cc (bench/load/native),
                    a fraction of the CPU, for boxes where the instrument crowds the gateway
  --skip-forwarder  measure the gateway only
  --skip-profile    no --cpu-prof run
  --profile-dir DIR keep the profiled step's .cpuprofile files (one per thread) in DIR, a new
                    or empty folder, to open in Chrome DevTools (default: a temporary folder,
                    removed)
  --out FILE        JSON results (default: a file in the temp folder, printed at the end)
`;

const { values } = parseBenchArgs(HELP, {
  steps: { type: 'string' },
  start: { type: 'string', default: '50' },
  max: { type: 'string', default: '1600' },
  warmup: { type: 'string', default: '5' },
  window: { type: 'string', default: '20' },
  cps: { type: 'string', default: '100' },
  workers: { type: 'string', default: '0' },
  rounds: { type: 'string', default: '1' },
  'malloc-arena-max': { type: 'string' },
  pin: { type: 'string' },
  instrument: { type: 'string', default: 'node' },
  timeline: { type: 'boolean', default: false },
  'profile-at': { type: 'string' },
  'profile-dir': { type: 'string' },
  'skip-forwarder': { type: 'boolean', default: false },
  'skip-profile': { type: 'boolean', default: false },
  out: { type: 'string' },
});

/** A taskset CPU list of this machine, and the CPUs left out of it (at least one). */
function cpuList(name: string, text: string): { list: number[]; others: string } {
  try {
    const list = parseCpuList(text, cpus().length);
    return { list, others: otherCpus(list, cpus().length) };
  } catch (error) {
    process.stderr.write(`--${name}: ${(error as Error).message}\n`);
    process.exit(2);
  }
}

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`--${name} must be a positive number, got '${text}'\n`);
    process.exit(2);
  }
  return value;
}

function stepList(): number[] {
  if (values.steps) return values.steps.split(',').map((text) => Math.round(positive('steps', text)));
  const steps: number[] = [];
  const max = positive('max', values.max);
  for (let calls = Math.round(positive('start', values.start)); calls <= max; calls *= 2) steps.push(calls);
  return steps;
}

const steps = stepList();
const keptDir = values['profile-dir'];
if (keptDir) {
  mkdirSync(keptDir, { recursive: true });
  if (profilesIn(keptDir).length > 0) {
    process.stderr.write(
      `--profile-dir ${keptDir} already holds .cpuprofile files: give a new or empty folder\n`,
    );
    process.exit(2);
  }
}
const workerSettings = values.workers.split(',').map(Number);
if (!workerSettings.every((count) => Number.isInteger(count) && count >= 0)) {
  process.stderr.write(`--workers must be whole numbers >= 0, got '${values.workers}'\n`);
  process.exit(2);
}
const rounds = Math.round(positive('rounds', values.rounds));
/** Several settings or rounds: each step runs as given, and the verdict is taken over the rounds. */
const repeated = rounds > 1 || workerSettings.length > 1;
if (repeated && !values.steps) {
  process.stderr.write('--rounds and a --workers list need --steps\n');
  process.exit(2);
}
const instrumentKind = values.instrument as InstrumentKind;
if (instrumentKind !== 'node' && instrumentKind !== 'native') {
  process.stderr.write(`--instrument must be node or native, got '${values.instrument}'\n`);
  process.exit(2);
}
const mediaWorkers = workerSettings[0] as number;
const arenaMax = values['malloc-arena-max'];
const pinned = values.pin === undefined ? undefined : cpuList('pin', values.pin);
const pinCpus = pinned?.list.join(',');
// Before the instrument starts, so its bot process inherits the CPUs.
if (pinned) pinProcess(process.pid, pinned.others);
const options = {
  warmupSec: positive('warmup', values.warmup),
  windowSec: positive('window', values.window),
  cps: positive('cps', values.cps),
  mediaWorkers,
  ...(arenaMax === undefined ? {} : { mallocArenaMax: Math.round(positive('malloc-arena-max', arenaMax)) }),
  ...(pinCpus ? { pinCpus } : {}),
};
const out =
  values.out ?? join(tmpdir(), `patchbay-load-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);

process.once('SIGINT', () => {
  process.stderr.write('\ninterrupted: closing every call, socket and child process\n');
  void closeEverything().then(() => process.exit(130));
});

const load = (): string =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
const loadBefore = load();
console.log(
  `patchbay load bench: Node ${process.version}, ${cpus().length} CPUs, loadavg ${loadBefore}; ` +
    `warm-up ${options.warmupSec} s, window ${options.windowSec} s, steps ${steps.join(', ')}, ` +
    `gateway media.workers ${workerSettings.join(', ')}${rounds > 1 ? `, ${rounds} rounds` : ''}` +
    `${arenaMax === undefined ? '' : `, MALLOC_ARENA_MAX=${arenaMax}`}, ${instrumentKind} instrument` +
    `${pinCpus ? `, the system under test on CPU ${pinCpus}, the instrument on the others` : ''}\n`,
);
console.log(TABLE_HEADER);

const results: RoundResult[] = [];
const instrument: LoadInstrument = track(
  instrumentKind === 'native' ? await NativeInstrument.start() : await NodeInstrument.start(),
);
// Unmeasured: the callers' and the bot's code gets compiled before the first step, so their
// start-up stalls (bursts of late frames) do not fall on the first gateway's jitter buffers.
await measureStep('forwarder', steps[0] ?? 10, instrument, { ...options, warmupSec: 1, windowSec: 3 });
let highestSustained: number | undefined;
/** The highest step that also met the latency goals (latencyGoalMisses). */
let highestMeeting: number | undefined;
measuring: for (let round = 1; round <= rounds; round++) {
  if (rounds > 1) console.log(`| round ${round} of ${rounds} |`);
  for (const calls of steps) {
    const loadAtStep = load();
    const systems: Array<number | 'forwarder'> = [
      ...workerSettings,
      ...(values['skip-forwarder'] ? [] : ['forwarder' as const]),
    ];
    // Every other round in reverse, so a drift of the box does not favour one system.
    if (round % 2 === 0) systems.reverse();
    const measured = new Map<number | 'forwarder', StepFigures>();
    for (const system of systems) {
      const figures =
        system === 'forwarder'
          ? await measureStep('forwarder', calls, instrument, options)
          : await measureStep('patchbay', calls, instrument, { ...options, mediaWorkers: system });
      console.log(tableRow(figures));
      measured.set(system, figures);
    }
    const forwarder = measured.get('forwarder');
    let everySettingSaturated = true;
    for (const setting of workerSettings) {
      const patchbay = measured.get(setting) as StepFigures;
      const saturation = saturationReasons(patchbay);
      const goalMisses = latencyGoalMisses(patchbay);
      results.push({
        round,
        calls,
        loadavg: loadAtStep,
        patchbay,
        forwarder,
        cpuRatio: forwarder ? cpuRatio(patchbay, forwarder) : undefined,
        saturation,
        goalMisses,
      });
      if (saturation.length > 0) continue;
      everySettingSaturated = false;
      highestSustained = Math.max(highestSustained ?? 0, calls);
      if (goalMisses.length === 0) highestMeeting = Math.max(highestMeeting ?? 0, calls);
    }
    // A step that misses only a latency goal (one tagged frame) is not saturation: go on.
    if (everySettingSaturated && !values.steps) break measuring;
  }
}

console.log('');
for (const result of results) {
  const ratio =
    result.cpuRatio === undefined
      ? ''
      : `, patchbay/forwarder CPU per call-second ${result.cpuRatio.toFixed(2)}x`;
  const state = result.saturation.length > 0 ? `saturated (${result.saturation.join('; ')})` : 'sustained';
  const setting = repeated ? ` (round ${result.round}, media.workers ${result.patchbay.mediaWorkers})` : '';
  console.log(`${result.calls} calls${setting}: ${state}${ratio} (loadavg at start ${result.loadavg})`);
  const split = workerSplitLine(result.patchbay);
  if (split) console.log(`  ${split}`);
  const jitter = jitterBufferLine(result.patchbay);
  if (jitter) console.log(`  ${jitter}`);
  const playout = playoutLine(result.patchbay);
  if (playout) console.log(`  ${playout}`);
  const goals = result.goalMisses;
  console.log(`  latency goals: ${goals.length === 0 ? 'met' : `missed (${goals.join('; ')})`}`);
  console.log(`  ${tailLine(result.patchbay)}`);
  console.log(`  ${cpuSplitLine(result.patchbay, result.forwarder)}`);
  console.log(`  ${instrumentLine(result.patchbay)}`);
  if (values.timeline && result.patchbay.timeline)
    for (const line of timelineLines(result.patchbay.timeline)) console.log(`    ${line}`);
}

const summaries = repeated ? summariseRounds(results) : undefined;
if (summaries) {
  console.log('\nover the rounds:');
  for (const summary of summaries) console.log(`  ${summaryLine(summary)}`);
  for (const [workers, calls] of highestMeetingGoals(summaries))
    console.log(`  media.workers ${workers}: latency goals met in most rounds up to ${calls ?? 'no step'}`);
}

// The highest sustained step; on a box too busy to sustain any, the first one (said so).
// With several --workers settings, the profile is the first setting's.
const profiledCalls = values['profile-at']
  ? Math.round(positive('profile-at', values['profile-at']))
  : (highestSustained ?? results[0]?.calls);
let profile: (ProfileSummary & { calls: number; sustained: boolean; step: StepFigures }) | undefined;
if (profiledCalls !== undefined && !values['skip-profile']) {
  const profileDir = keptDir ?? mkdtempSync(join(tmpdir(), 'patchbay-load-profile-'));
  const step = await measureStep('patchbay', profiledCalls, instrument, { ...options, profileDir });
  // Every thread's: with media workers the calls' work is in theirs, not the main thread's.
  const files = profilesIn(profileDir);
  if (files.length > 0) {
    const sustained = saturationReasons(step).length === 0;
    profile = { ...summariseProfile(files, step.window), calls: profiledCalls, sustained, step };
    console.log(`\nthe profiled step (under --cpu-prof):\n${TABLE_HEADER}\n${tableRow(step)}`);
    console.log(`\n${profileLines(profile, profiledCalls)}`);
    if (!values['profile-at'] && highestSustained === undefined)
      console.log('(no step was sustained: this is the first one)');
  } else console.log(`\nno .cpuprofile was written into ${profileDir}`);
  if (keptDir) console.log(`profiles kept: ${files.join(', ')}`);
  else rmSync(profileDir, { recursive: true, force: true });
}

await closeEverything();
writeFileSync(
  out,
  `${JSON.stringify(
    {
      node: process.version,
      cpus: cpus().length,
      loadavgBefore: loadBefore,
      loadavgAfter: load(),
      options: { ...options, steps, instrument: instrumentKind },
      steps: results,
      summaries,
      highestSustained,
      highestMeetingGoals: highestMeeting,
      profile,
    },
    null,
    2,
  )}\n`,
);
console.log(
  `\nhighest sustained: ${highestSustained ?? 'none'} calls; meeting the latency goals: ${highestMeeting ?? 'none'}` +
    `${repeated ? ' (in some round)' : ''}; loadavg after ${load()}; JSON: ${out}`,
);
