/**
 * Call takeover, repeated: is any call ever claimed twice, and how long is the audio gap, with
 * the kill landing at different points of the snapshot interval and the takeover heartbeat?
 * Each run starts a fresh loopback cluster (deploy/run-loopback.sh: Redis, Kamailio, two
 * `patchbay start` nodes with `cluster.takeover` on, as test/interop/takeover.test.ts), a bot
 * streaming a tone, and `--calls` callers sending RTP (test/interop/helpers/rtp-caller.ts).
 * Run 1 kills node a with SIGKILL as soon as the last call is answered (some of its calls not
 * snapshotted yet); every other run once every call hears the tone, plus a seeded uniform
 * 0–2 s. Then, per call node a carried: taken over (tone again from node b) or lost, and why;
 * its 'taking over call' lines on node b and its owner in Redis (claimed exactly once), the
 * bot's resumed starts, the caller's BYE status, node b's records (exactly one per call), and
 * the gap from the last tone of node a to the first of node b. Prints one line per run and a
 * summary; exits 1 if a call was claimed twice or a snapshotted call was lost.
 *
 *   npm run build && npx tsx bench/takeover-repeat.ts [--runs 20] [--calls 10] [--seed 1]
 */
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { takeoverKeys } from '../src/cluster/index.js';
import { SeededRandom } from '../src/util/index.js';
import {
  type LoopbackCluster,
  startLoopbackCluster,
  takeoverClusterOptions,
} from '../test/interop/helpers/loopback-cluster.js';
import {
  closeCaller,
  hangUp,
  longestTonePause,
  placeRtpCall,
  type RtpCaller,
  takeoverGap,
  tonesFrom,
} from '../test/interop/helpers/rtp-caller.js';
import { percentile } from '../test/interop/helpers/sipp.js';
import { type StackUa, startStackUa } from '../test/interop/helpers/stack-ua.js';
import { TestBot } from '../test/interop/helpers/test-bot.js';
import { parseBenchArgs } from './lib/bench-args.js';

const { values } = parseBenchArgs(
  'usage: npm run build && npx tsx bench/takeover-repeat.ts [--runs 20] [--calls 10] [--seed 1]',
  {
    runs: { type: 'string', default: '20' },
    calls: { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
  },
);
const RUNS = Number(values.runs);
const CALLS = Number(values.calls);
const SEED = Number(values.seed);
const DEAD_AFTER_MS = 1500;
const MAX_KILL_DELAY_MS = 2000;
const NODE_A = '127.0.0.2';
const NODE_B = '127.0.0.3';
/** How long a snapshotted call may take to be heard again before it counts as lost. */
const RESUME_WITHIN_MS = 15_000;
/** After the resumed calls are back, how long to keep watching for a late second claim. */
const SETTLE_MS = 2000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface RunResult {
  run: number;
  /** 'answered': killed as the last call was answered; else ms after every call heard the tone. */
  killDelay: number | 'answered';
  answered: number;
  onA: number;
  snapshotted: number;
  takenOver: number;
  claimedTwice: number;
  /** Claims of calls node a did not carry, or a resumed call without one claim. */
  claimMismatches: number;
  /** Call index -> why it was lost. */
  lost: Array<{ index: number; why: string; byeStatus: number; answeredBeforeKillMs: number }>;
  /** The shortest time from a snapshotted call's 200 OK to the kill. */
  youngestSnapshottedMs: number;
  byeNot200: number;
  recordMismatches: number;
  gapsMs: number[];
  /** Longest tone pause on the calls node b carried all along. */
  nodeBPauseMs: number;
}

async function waitUntil(condition: () => boolean, withinMs: number): Promise<boolean> {
  const deadline = performance.now() + withinMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** One short-lived client for a read of the cluster's Redis. */
async function readRedis<T>(redisUrl: string, read: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    return await read(redis);
  } finally {
    redis.disconnect();
  }
}

async function oneRun(run: number, killDelay: number | 'answered', agent: StackUa): Promise<RunResult> {
  const bot = await TestBot.start({ stream: { frequency: 400 } });
  let cluster: LoopbackCluster | undefined;
  const callers: RtpCaller[] = [];
  try {
    cluster = await startLoopbackCluster(takeoverClusterOptions(bot.url, DEAD_AFTER_MS));
    for (let index = 0; index < CALLS; index++) {
      callers.push(await placeRtpCall(agent, cluster.proxy, index));
      if (index < CALLS - 1) await sleep(50);
    }
    const answered = callers.filter((caller) => caller.answeredBy !== undefined);
    if (killDelay !== 'answered') {
      await waitUntil(
        () => answered.every((caller) => tonesFrom(caller, caller.answeredBy!).length >= 5),
        10_000,
      );
      await sleep(killDelay);
    }
    const onA = answered.filter((caller) => caller.answeredBy === NODE_A);
    const onB = answered.filter((caller) => caller.answeredBy === NODE_B);

    const killedAt = performance.now();
    process.kill(cluster.pid('node-a'), 'SIGKILL');
    // Node a writes nothing more, and node b claims only once node a is `deadAfterMs` silent.
    const snapshots = new Set(
      // Node a's process owns its calls as node-a~<incarnation>.
      await readRedis(cluster.redisUrl, async (redis) => {
        const [key] = await redis.keys(takeoverKeys.snapshots('node-a~*'));
        return key ? redis.hkeys(key) : [];
      }),
    );
    const snapshotted = onA.filter((caller) => snapshots.has(caller.session.callId));
    const resumedWithin = (caller: RtpCaller) => tonesFrom(caller, NODE_B, killedAt).length >= 5;
    await waitUntil(() => snapshotted.every(resumedWithin), RESUME_WITHIN_MS);
    await sleep(SETTLE_MS);
    const takenOver = onA.filter(resumedWithin);

    const claims = new Map<string, number>();
    const notResumed = new Map<string, string>();
    for (const line of cluster.logLines('b') as Array<{ msg: string; sipCallId?: string; reason?: string }>) {
      if (line.msg === 'taking over call' && line.sipCallId)
        claims.set(line.sipCallId, (claims.get(line.sipCallId) ?? 0) + 1);
      if (line.msg === 'claimed call not resumed' && line.sipCallId)
        notResumed.set(line.sipCallId, line.reason ?? 'not resumed');
    }
    const owners = await readRedis(cluster.redisUrl, (redis) => redis.hgetall(takeoverKeys.owner));
    const onAIds = new Set(onA.map((caller) => caller.session.callId));
    let claimMismatches = [...claims.keys()].filter((id) => !onAIds.has(id)).length;
    for (const caller of takenOver) {
      const id = caller.session.callId;
      if (claims.get(id) !== 1 || !owners[id]?.startsWith('node-b~')) claimMismatches++;
    }
    const resumedStarts = (caller: RtpCaller) =>
      bot.calls.filter(
        (call) =>
          call.customParameters['sipFrom']?.includes(`caller${caller.index}@`) &&
          call.customParameters['resumed'] === 'true',
      ).length;
    for (const caller of takenOver) if (resumedStarts(caller) !== 1) claimMismatches++;

    const gapsMs = takenOver.flatMap((caller) => {
      const gap = takeoverGap(caller, { from: NODE_A, to: NODE_B, killedAtMs: killedAt });
      return gap ? [gap.gapMs] : [];
    });
    const nodeBPauseMs = Math.max(0, ...onB.map((caller) => longestTonePause(caller, killedAt)));

    const kept = [...takenOver, ...onB];
    const lostCallers = onA.filter((caller) => !takenOver.includes(caller));
    const [keptStatuses, lostStatuses] = await Promise.all([
      Promise.all(kept.map((caller) => hangUp(agent, caller))),
      Promise.all(lostCallers.map((caller) => hangUp(agent, caller))),
    ]);
    const lost = lostCallers.map((caller, i) => {
      const id = caller.session.callId;
      const why = !snapshots.has(id)
        ? 'no snapshot at the kill'
        : notResumed.has(id)
          ? `claimed, not resumed: ${notResumed.get(id)}`
          : claims.has(id)
            ? 'claimed, no tone from node b'
            : 'snapshotted, never claimed';
      return {
        index: caller.index,
        why,
        byeStatus: lostStatuses[i]!,
        answeredBeforeKillMs: killedAt - caller.answeredAtMs!,
      };
    });

    await waitUntil(() => cluster!.records('b').length >= kept.length, 10_000);
    await sleep(200);
    const records = cluster.records('b') as Array<{ sipCallId?: string; takeover?: { fromNode: string } }>;
    let recordMismatches = 0;
    for (const caller of kept) {
      const mine = records.filter((record) => record.sipCallId === caller.session.callId);
      const takeoverOk = onB.includes(caller) || mine[0]?.takeover?.fromNode === 'node-a';
      if (mine.length !== 1 || !takeoverOk) recordMismatches++;
    }
    // Records of lost calls, or duplicates of any call.
    recordMismatches += records.length - kept.length > 0 ? records.length - kept.length : 0;

    return {
      run,
      killDelay,
      answered: answered.length,
      onA: onA.length,
      snapshotted: snapshotted.length,
      youngestSnapshottedMs: Math.min(...snapshotted.map((caller) => killedAt - caller.answeredAtMs!)),
      takenOver: takenOver.length,
      claimedTwice: [...claims.values()].filter((count) => count > 1).length,
      claimMismatches,
      lost,
      byeNot200: keptStatuses.filter((status) => status !== 200).length,
      recordMismatches,
      gapsMs,
      nodeBPauseMs,
    };
  } finally {
    for (const caller of callers) closeCaller(caller);
    await cluster?.stop();
    await bot.close();
  }
}

const round = (ms: number) => (Number.isFinite(ms) ? Math.round(ms) : '-');

function runLine(result: RunResult): string {
  const delay = result.killDelay === 'answered' ? 'at answer' : `+${Math.round(result.killDelay)} ms`;
  const lost = result.lost
    .map(
      (call) =>
        `#${call.index} answered ${round(call.answeredBeforeKillMs)} ms before the kill, ${call.why} (BYE ${call.byeStatus})`,
    )
    .join('; ');
  return (
    `run ${String(result.run).padStart(2)} kill ${delay.padEnd(9)} answered ${result.answered} ` +
    `on a ${result.onA} snapshotted ${result.snapshotted} (youngest ${round(result.youngestSnapshottedMs)} ms) taken over ${result.takenOver} ` +
    `claimed twice ${result.claimedTwice} claim mismatches ${result.claimMismatches} ` +
    `BYE not 200 ${result.byeNot200} record mismatches ${result.recordMismatches} ` +
    `gap p50 ${round(percentile(result.gapsMs, 50))} max ${round(Math.max(...result.gapsMs))} ms ` +
    `node-b pause max ${round(result.nodeBPauseMs)} ms${lost ? ` lost: ${lost}` : ''}`
  );
}

async function main(): Promise<void> {
  const random = new SeededRandom(SEED);
  const load = loadavg().map((value) => value.toFixed(2));
  console.log(`takeover-repeat: ${RUNS} runs x ${CALLS} calls, seed ${SEED}, load average ${load.join(' ')}`);
  const agent = await startStackUa('udp', false);
  const results: RunResult[] = [];
  let failedRuns = 0;
  try {
    for (let run = 1; run <= RUNS; run++) {
      const killDelay = run === 1 ? 'answered' : random.next() * MAX_KILL_DELAY_MS;
      try {
        const result = await oneRun(run, killDelay, agent);
        results.push(result);
        console.log(runLine(result));
      } catch (error) {
        failedRuns++;
        console.log(`run ${run} failed: ${(error as Error).message.slice(0, 2000)}`);
      }
    }
  } finally {
    await agent.close();
  }

  const sum = (pick: (result: RunResult) => number) =>
    results.reduce((total, result) => total + pick(result), 0);
  const gaps = results.flatMap((result) => result.gapsMs);
  const lostWhy = new Map<string, number>();
  for (const call of results.flatMap((result) => result.lost))
    lostWhy.set(
      `${call.why}, BYE ${call.byeStatus}`,
      (lostWhy.get(`${call.why}, BYE ${call.byeStatus}`) ?? 0) + 1,
    );
  const lostSnapshotted = results
    .flatMap((result) => result.lost)
    .filter((call) => call.why !== 'no snapshot at the kill');
  const rows: Array<[string, string | number]> = [
    ['runs (failed to run)', `${results.length} (${failedRuns})`],
    ['calls answered', sum((result) => result.answered)],
    ['on node a at the kill', sum((result) => result.onA)],
    ['of those snapshotted', sum((result) => result.snapshotted)],
    ['taken over by node b', sum((result) => result.takenOver)],
    ['claimed twice (must be 0)', sum((result) => result.claimedTwice)],
    ['claim mismatches (log, Redis owner, bot starts)', sum((result) => result.claimMismatches)],
    [
      'calls lost',
      `${sum((result) => result.lost.length)} (${[...lostWhy].map(([why, n]) => `${n}: ${why}`).join('; ') || '-'})`,
    ],
    [
      'lost calls: oldest answer before the kill ms',
      round(Math.max(...results.flatMap((result) => result.lost.map((call) => call.answeredBeforeKillMs)))),
    ],
    [
      'snapshotted calls: youngest answer before the kill ms',
      round(Math.min(...results.map((result) => result.youngestSnapshottedMs))),
    ],
    ['BYE not 200 (kept calls)', sum((result) => result.byeNot200)],
    ['record mismatches (node b)', sum((result) => result.recordMismatches)],
    [
      'gap p50 / p95 / max ms',
      `${round(percentile(gaps, 50))} / ${round(percentile(gaps, 95))} / ${round(Math.max(...gaps))}`,
    ],
    [
      'node-b calls: longest tone pause ms',
      round(Math.max(0, ...results.map((result) => result.nodeBPauseMs))),
    ],
  ];
  console.log('\n| figure | value |\n| --- | --- |');
  for (const [name, value] of rows) console.log(`| ${name} | ${value} |`);
  const end = loadavg().map((value) => value.toFixed(2));
  console.log(`\nload average at the end ${end.join(' ')}`);
  const claimedTwice = sum((result) => result.claimedTwice);
  process.exitCode = claimedTwice > 0 || lostSnapshotted.length > 0 || failedRuns > 0 ? 1 : 0;
}

await main();
