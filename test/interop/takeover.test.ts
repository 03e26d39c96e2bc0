/**
 * Call takeover as deployed: real Kamailio in front of two `patchbay start` nodes with
 * `cluster.takeover` on, one real Redis, a Twilio bot streaming a tone without pause, and
 * callers built from the SIP stack that send RTP and record every packet they get back.
 * Ten calls are answered and spread over both nodes; node a is killed with SIGKILL. Every call
 * it carried comes back on node b: the caller hears the bot again on the same RTP stream (same
 * SSRC, the sequence moving on by about the gap, at the caller's socket and in a tshark capture
 * of what the nodes sent), the bot gets a new `start` with the same
 * callSid marked `resumed`. A BYE sent while node a is dead still ends its call with 200, and a
 * re-INVITE sent meanwhile is answered 200 by node b; the calls on node b never notice; every
 * call ends with one record.
 */

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { metricSum, scrapeMetrics } from '../../bench/lib/metrics.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import {
  type LoopbackCluster,
  startLoopbackCluster,
  takeoverClusterOptions,
} from './helpers/loopback-cluster.js';
import {
  closeCaller,
  hangUp as hangUpCall,
  longestTonePause,
  placeRtpCall,
  type RtpCaller,
  takeoverGap,
  tonesFrom,
} from './helpers/rtp-caller.js';
import { percentile } from './helpers/sipp.js';
import { type StackUa, startStackUa } from './helpers/stack-ua.js';
import { TestBot } from './helpers/test-bot.js';
import { type Capture, captureLoopback } from './helpers/tshark.js';

const skip = skipUnlessPresent(
  ['kamailio', 'redis-server', 'tshark'].every((command) => commandAvailable(command, ['-v'])),
  'kamailio, redis-server or tshark not installed',
);
const CALLS = 10;
const DEAD_AFTER_MS = 1500;
const NODE_A = '127.0.0.2';
const NODE_B = '127.0.0.3';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let cluster: LoopbackCluster | undefined;
let bot: TestBot | undefined;
let agent: StackUa | undefined;
/** What the nodes (127.0.0.2 and .3) send over UDP, as the carrier's side of the wire sees it. */
let wire: Capture | undefined;
const callers: RtpCaller[] = [];

before(async () => {
  if (skip) return;
  bot = await TestBot.start({ stream: { frequency: 400 } });
  cluster = await startLoopbackCluster(takeoverClusterOptions(bot.url, DEAD_AFTER_MS));
  agent = await startStackUa('udp', false);
  wire = captureLoopback(
    `udp and src net ${NODE_A}/31`,
    ['udp.dstport', 'rtp.ssrc', 'rtp.seq'],
    ['-o', 'rtp.heuristic_rtp:TRUE'],
  );
  await wire.ready;
});

after(async () => {
  await wire?.stop();
  for (const caller of callers) closeCaller(caller);
  await agent?.close();
  await cluster?.stop();
  await bot?.close();
});

/** One call through Kamailio; RTP out every 20 ms to wherever the latest SDP says. */
async function placeCall(index: number): Promise<RtpCaller> {
  const caller = await placeRtpCall(agent!, cluster!.proxy, index);
  assert.ok(caller.answeredBy, `call ${index} was not answered`);
  return caller;
}

/** Sends BYE in the caller's dialog; its final status. */
const hangUp = (caller: RtpCaller): Promise<number> => hangUpCall(agent!, caller);

async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  withinMs: number,
): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!(await condition())) {
    if (performance.now() > deadline)
      throw new Error(`timed out waiting for ${what}\n${cluster?.output().slice(-6000)}`);
    await sleep(50);
  }
}

test('the calls of a node killed with SIGKILL come back on the other node', {
  skip,
  timeout: 60_000,
}, async () => {
  for (let index = 0; index < CALLS; index++) {
    callers.push(await placeCall(index));
    await sleep(50);
  }
  await waitFor(
    () => callers.every((caller) => caller.received.filter((packet) => packet.tone).length >= 25),
    'the bot tone on every call',
    10_000,
  );
  const onA = callers.filter((caller) => caller.received.at(-1)?.from === NODE_A);
  const onB = callers.filter((caller) => caller.received.at(-1)?.from === NODE_B);
  assert.ok(onA.length >= 3 && onB.length >= 1, `calls spread a=${onA.length} b=${onB.length}`);
  assert.equal(onA.length + onB.length, CALLS);
  const [byeInGap, reinviteInGap, ...others] = onA as [RtpCaller, RtpCaller, ...RtpCaller[]];
  const resumed = [reinviteInGap, ...others];
  const startsBefore = bot!.calls.length;

  const killedAt = performance.now();
  process.kill(cluster!.pid('node-a'), 'SIGKILL');
  // The caller hangs up while its node is dead: Kamailio fails the BYE over to node b.
  const byeStatus = hangUp(byeInGap);
  // Another re-INVITEs (a session refresh with its SDP unchanged) while its node is dead.
  const reinviteStatus = reinviteInGap.session
    .reinvite(reinviteInGap.session.lastLocalSdp ?? '')
    .then((response) => response.status);

  await waitFor(
    () => resumed.every((caller) => tonesFrom(caller, NODE_B, killedAt).length >= 5),
    'the bot tone again on every call node a carried',
    15_000,
  );
  assert.equal(await byeStatus, 200, 'a BYE sent during the gap is answered 200');
  assert.equal(await reinviteStatus, 200, 'a re-INVITE sent during the gap is answered 200');

  const gaps: number[] = [];
  const jumps: string[] = [];
  for (const caller of resumed) {
    const gap = takeoverGap(caller, { from: NODE_A, to: NODE_B, killedAtMs: killedAt });
    assert.ok(gap);
    gaps.push(gap.gapMs);
    // One continuous stream: the same SSRC, the sequence and timestamp moving on over the gap.
    assert.equal(gap.ssrcAfter, gap.ssrcBefore, `call ${caller.index}: same SSRC after takeover`);
    const { sequenceJump, silentMs, timestampJump } = gap;
    jumps.push(`${sequenceJump} packets / ${Math.round(silentMs)} ms`);
    assert.ok(
      sequenceJump >= 1 && sequenceJump <= Math.ceil(silentMs / 20) + 20,
      `call ${caller.index}: sequence jumped ${sequenceJump} over ${Math.round(silentMs)} ms`,
    );
    assert.ok(
      timestampJump > 0 && timestampJump < ((silentMs + 1000) * 8000) / 1000,
      `call ${caller.index}: timestamp jumped ${timestampJump} over ${Math.round(silentMs)} ms`,
    );
  }
  const p50 = Math.round(percentile(gaps, 50));
  const max = Math.round(Math.max(...gaps));
  const all = gaps.map((gap) => Math.round(gap)).join(', ');
  console.log(`takeover audio gap over ${gaps.length} calls: p50 ${p50} ms, max ${max} ms (${all})`);
  console.log(`RTP sequence jump over the silence: ${jumps.join(', ')}`);

  // The bot: one new `start` per resumed call, same callSid, marked resumed.
  const resumedStarts = bot!.calls.slice(startsBefore);
  for (const caller of resumed) {
    const name = `caller${caller.index}@`;
    const starts = bot!.calls.filter((call) => call.customParameters['sipFrom']?.includes(name));
    assert.equal(starts.length, 2, `call ${caller.index}: a second start`);
    assert.equal(starts[1]!.callSid, starts[0]!.callSid);
    assert.equal(starts[1]!.customParameters['resumed'], 'true');
  }
  assert.ok(resumedStarts.length <= resumed.length + 1, 'no call resumed twice');

  // The calls node b carried all along never stopped.
  for (const caller of onB) {
    const longest = longestTonePause(caller, killedAt);
    assert.ok(longest < 1000, `call ${caller.index} on node b paused ${Math.round(longest)} ms`);
    assert.equal(new Set(caller.received.map((packet) => packet.ssrc)).size, 1);
  }

  // Every takeover settled before the callers hang up: the re-INVITE sent in the gap may have
  // crossed node b's own, and then both sides answer 491 and node b tries again after a random
  // 0-2 s (RFC 3261 §14.1).
  await waitFor(
    async () =>
      metricSum(
        await scrapeMetrics(cluster!.nodes.b.api),
        'patchbay_takeovers_total',
        'outcome="resumed"',
      ) === resumed.length,
    'every resumed call re-INVITEd',
    10_000,
  );
  for (const caller of [...resumed, ...onB])
    assert.equal(await hangUp(caller), 200, `BYE of call ${caller.index}`);

  // One complete record per call, every one on node b (node a died with its calls in progress).
  await waitFor(() => cluster!.records('b').length >= CALLS, 'a record of every call', 10_000);
  const records = cluster!.records('b') as Array<
    ReturnType<LoopbackCluster['records']>[number] & {
      sipCallId: string;
      takeover?: { node: string; fromNode: string; gapMs: number };
    }
  >;
  assert.equal(cluster!.records('a').length, 0);
  assert.equal(new Set(records.map((record) => record.sipCallId)).size, CALLS, 'one record per call');
  for (const caller of onA) {
    const record = records.find((candidate) => candidate.sipCallId === caller.session.callId);
    assert.ok(record, `call ${caller.index} has a record`);
    assert.equal(record.takeover?.node, 'node-b');
    assert.equal(record.takeover?.fromNode, 'node-a');
    assert.ok(record.answeredAt);
  }
  const metrics = await scrapeMetrics(cluster!.nodes.b.api);
  // The call whose BYE came in the gap ended before its re-INVITE; the others resumed.
  assert.equal(metricSum(metrics, 'patchbay_takeovers_total', 'outcome="resumed"'), resumed.length);
  assert.equal(metricSum(metrics, 'patchbay_takeovers_total', 'outcome="ended"'), 1);
  assert.equal(metricSum(metrics, 'patchbay_takeovers_total'), onA.length);
  assert.equal(metricSum(metrics, 'patchbay_takeover_gap_seconds_count'), resumed.length);
  // On the wire (tshark), each resumed call is one RTP stream: one SSRC, and its sequence
  // numbers step by one except for a single jump over the gap.
  const packets = (await wire!.stop({ untilQuiet: true })).filter(([, ssrc]) => ssrc);
  for (const [index, caller] of resumed.entries()) {
    const port = String(caller.rtp.address().port);
    const stream = packets.filter(([dstport]) => dstport === port);
    assert.ok(stream.length > 20, `call ${caller.index}: ${stream.length} RTP packets captured`);
    assert.equal(
      new Set(stream.map(([, ssrc]) => ssrc)).size,
      1,
      `call ${caller.index}: one SSRC on the wire`,
    );
    const jumps: number[] = [];
    for (let i = 1; i < stream.length; i++) {
      const step = (Number(stream[i]![2]) - Number(stream[i - 1]![2]) + 0x10000) & 0xffff;
      if (step !== 1) jumps.push(step);
    }
    assert.equal(jumps.length, 1, `call ${caller.index}: sequence breaks on the wire ${jumps.join(', ')}`);
    assert.ok(
      (jumps[0] ?? 0) <= Math.ceil((gaps[index] ?? 0) / 20) + 20,
      `call ${caller.index}: a jump of ${jumps[0]} over a ${Math.round(gaps[index] ?? 0)} ms gap`,
    );
  }

  const claims = cluster!
    .logLines('b')
    .filter((line) => line.msg === 'taking over call')
    .map((line) => (line as { sipCallId?: string }).sipCallId);
  assert.equal(claims.length, new Set(claims).size, 'no call claimed twice');
  assert.equal(claims.length, onA.length);
});
