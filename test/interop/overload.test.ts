/**
 * `limits.overload` against a real `patchbay start` process: a witness call with real RTP both
 * ways through an echo bot (its own process), first alone (the baseline), then while SIPp
 * offers more calls, each with a bot socket, than the node carries (the offer doubles until it
 * does not). The node refuses the excess with 503 + Retry-After (`rejected_overload`) rather than admitting
 * calls it cannot serve, the witness keeps its audio (but for a few frames while the node
 * finds out it is overloaded), and once SIPp stops every call it admitted ends. The witness's
 * audio is judged against its baseline in the same run when a bare pacer process (the same
 * media clock, nothing else to do) and the witness's own sender kept their 20 ms slots within
 * 60 ms under the load; on a machine whose other load stalled them too, it says nothing about
 * the gateway and is reported, not judged.
 */
import assert from 'node:assert/strict';
import { after, before, type TestContext, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  describeWindow,
  type Flood,
  framesLost,
  OverloadRig,
  type WitnessWindow,
} from '../../bench/lib/overload-run.js';
import { LATE_GAP_MS } from '../../bench/load/frame-stats.js';
import { endCauseCounts } from './helpers/gateway-process.js';
import { skipWithoutSipp } from './helpers/sipp.js';

const BASELINE_MS = 2500;
/**
 * SIPp's offers, each held 4 s, tried in turn until the node refuses part of one: 200 calls at
 * once, each with a bot socket, is past what a node on a loaded 2-core machine carries, but a
 * quiet, faster machine carries it, so the offer doubles (400, then 800 at once). Each is slow
 * enough that the calls admitted before the media clock shows the overload are few.
 */
const FLOODS: readonly Flood[] = [
  { rate: 50, seconds: 4, holdMs: 4000 },
  { rate: 100, seconds: 4, holdMs: 4000 },
  { rate: 200, seconds: 4, holdMs: 4000 },
];
const SIPP_TIMEOUT_MS = 30_000;
/** A 20 ms slot missed by more than this is a gap a listener hears. */
const MAX_GAP_MS = LATE_GAP_MS;
/**
 * Witness tagged frames lost, or late (a gap over 60 ms before them), allowed beyond the baseline,
 * for the calls admitted while the first 200 ms of late media ticks show the node is overloaded
 * (1-2 frames lost in judged runs on the 2-core box when every frame was tagged; one in about 5
 * is now, so 5 of them span some 400 ms of the witness's speech).
 */
const FRAMES_AT_ONSET = 5;

let rig: OverloadRig | undefined;

before(async () => {
  if (skipWithoutSipp()) return;
  rig = await OverloadRig.start({
    // Neither capacity nor the CPS bucket is what refuses here: the node's own load is (one
    // media worker, STRICT_OVERLOAD, a jitter floor as deep as the gap bound).
    maxCalls: 1000,
    cps: 1000,
  });
});

after(async () => {
  await rig?.close();
});

/**
 * One SIPp offer against the node while the witness's audio is measured: every call is either
 * answered or refused with 503, the witness keeps its audio (judged against its baseline when
 * the machine kept time), and every call SIPp got has ended when it returns. Returns the count
 * refused as overloaded.
 */
async function offer(
  t: TestContext,
  node: OverloadRig,
  flood: Flood,
  baseline: WitnessWindow,
): Promise<number> {
  // The witness may have been refused a few times on a loaded machine: counted apart (the rig
  // counts the refusals from the start of the offer).
  const { offered, sipp, refused, witness: loaded, pacer } = await node.flood(flood, SIPP_TIMEOUT_MS);
  t.diagnostic(describeWindow(`under ${offered} calls at ${flood.rate}/s`, loaded));
  t.diagnostic(
    `SIPp: ${sipp.successfulCalls} ok, ${sipp.failedCalls} failed of ${offered}; ` +
      `gateway: ${refused} refused as overloaded`,
  );
  if (sipp.successfulCalls + refused !== offered) t.diagnostic(unexplainedFailures(node, sipp.errors));
  assert.equal(sipp.successfulCalls + refused, offered, 'every call was answered or refused with 503');

  // The witness against its quiet baseline, when the machine let a bare pacer and the witness's
  // sender keep time: lost frames and gaps a listener hears only at the onset (FRAMES_AT_ONSET).
  const timing =
    `witness lost ${framesLost(loaded).join(' / ')} frames (caller->bot / bot->caller) under load, ` +
    `${framesLost(baseline).join(' / ')} at baseline; bot->caller late ${loaded.botToCaller.late} under load, ` +
    `${baseline.botToCaller.late} at baseline; bare pacer max gap ${pacer.maxGapMs.toFixed(1)} ms, witness sender ` +
    `${loaded.senderLagMaxMs.toFixed(1)} ms behind at worst`;
  assert.ok(loaded.sent > 0);
  if (pacer.maxGapMs <= MAX_GAP_MS && loaded.senderLagMaxMs <= MAX_GAP_MS) {
    const [baselineToBot, baselineToCaller] = framesLost(baseline);
    const [toBot, toCaller] = framesLost(loaded);
    assert.ok(
      toBot <= baselineToBot + FRAMES_AT_ONSET && toCaller <= baselineToCaller + FRAMES_AT_ONSET,
      timing,
    );
    assert.ok(loaded.botToCaller.late <= baseline.botToCaller.late + FRAMES_AT_ONSET, timing);
  } else t.diagnostic(`the machine stalled a bare pacer or the witness's sender: not judged: ${timing}`);

  // Every call SIPp got ends with SIPp's BYE: only the witness is left.
  const { active } = await node.untilActiveCalls(1, 10_000, 250);
  assert.equal(active, 1, 'only the witness is left once the load stops');
  return refused;
}

/** Why calls failed that were not refused as overloaded: the gateway's records of them, and SIPp's first error. */
function unexplainedFailures(node: OverloadRig, sippErrors: string): string {
  const causes = endCauseCounts(node.gateway.records(), ['rejected_overload', 'caller_bye']);
  const firstError =
    sippErrors.split('\n').find((line) => line.includes('Aborting')) ?? sippErrors.slice(0, 400);
  return `unexplained failures: gateway records ${JSON.stringify([...causes])}; SIPp: ${firstError.slice(0, 400)}`;
}

test('overload: the excess is refused with 503, the call in progress keeps its audio, and every call ends after the load', {
  skip: skipWithoutSipp(),
  timeout: 120_000,
}, async (t) => {
  const node = rig ?? assert.fail('no rig');
  const witness = await node.placeWitness();
  await delay(500);
  const baseline = await node.witnessWindow(BASELINE_MS);
  t.diagnostic(describeWindow('baseline', baseline));
  assert.ok(baseline.sent > 0);

  let refused = 0;
  for (const flood of FLOODS) {
    refused = await offer(t, node, flood, baseline);
    if (refused > 0) break;
    t.diagnostic(
      `the node carried ${flood.rate * flood.seconds} calls without overload: a larger offer follows`,
    );
  }
  assert.ok(refused > 0, 'the node refused part of an offer as overloaded');

  await node.endWitness(witness);
  const { active } = await node.untilActiveCalls(0, 5000, 100);
  assert.equal(active, 0);
});
