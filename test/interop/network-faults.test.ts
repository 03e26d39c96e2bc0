/**
 * Carrier network faults against a real `patchbay start`: the carrier's RTP both ways goes
 * through an impairing relay on loopback (seeded loss, and a random delay per datagram that
 * reorders too, as `tc netem` would in a namespace; this box has no netem). The caller sends a
 * continuous tone; the test bot hears what the gateway's jitter buffer made of it.
 * - 5 % loss and 30 ms of jitter: the bot's audio stays continuous (concealment covers the
 *   holes, no run of silent frames), and the record counts the loss and the concealment.
 * - A carrier that goes silent mid-call: the call ends on `limits.rtpInactivityTimeoutSec`
 *   with a BYE, a `stop` to the bot and one complete record saying `rtp_timeout`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { CallRecord } from '../../src/gateway/index.js';
import { heardBy, ImpairedCallRig, recordGaps } from './helpers/impaired-call.js';

const INACTIVITY_SEC = 2;

let rig: ImpairedCallRig;

before(async () => {
  rig = await ImpairedCallRig.start({ rtpInactivityTimeoutSec: INACTIVITY_SEC });
});

after(async () => {
  await rig?.close();
});

function assertComplete(record: CallRecord): void {
  assert.deepEqual(recordGaps(record), [], 'a complete record');
}

test('5 % loss and 30 ms jitter on the carrier network: the bot hears continuous audio, the record counts both', {
  timeout: 60_000,
}, async (t) => {
  // A clean call through the same gateway in the same seconds: the holes a busy machine makes
  // (the gateway's loop held up) show in both, and only the rest is the network's. Unconcealed,
  // 5 % loss would leave 5 % holes; the margin is for the relay's own timers on a busy machine.
  const impaired = await rig.call(7, { lossRate: 0.05, jitterMs: 30 });
  const clean = await rig.call(8, { lossRate: 0, jitterMs: 0 });
  try {
    await delay(8000);
    for (const call of [impaired, clean]) {
      call.caller.stop();
      await call.session.bye();
    }
  } finally {
    for (const call of [impaired, clean]) {
      call.caller.close();
      call.relay.close();
    }
  }
  const heard = heardBy(impaired.botCall);
  const baseline = heardBy(clean.botCall);
  const [record] = await rig.recordsOf(impaired.session);
  assert.ok(record, 'a call record');
  const { rtp, jitterBuffer } = record.media;
  assert.ok(rtp && jitterBuffer, 'RTP and jitter buffer figures');
  const sent = impaired.relay.toTarget.dropped + impaired.relay.toTarget.forwarded;
  t.diagnostic(
    `relay dropped ${impaired.relay.toTarget.dropped} of ${sent} towards the gateway; bot heard ` +
      `${JSON.stringify(heard)}, the clean call ${JSON.stringify(baseline)}; record: lost ${rtp.packetsLost}, ` +
      `jitter ${rtp.jitterMs.toFixed(1)} ms, concealed ${jitterBuffer.concealedSamples} samples`,
  );
  assert.ok(heard.startUp >= 0 && heard.startUp < 25, `tone reached the bot after ${heard.startUp} frames`);
  assert.ok(
    heard.frames >= 7 * 50 * 0.95,
    `${heard.frames} frames in ~7.5 s: the bot got a frame every tick`,
  );
  assert.ok(
    heard.holes <= heard.frames * 0.03 + baseline.holes,
    `${heard.holes} of ${heard.frames} frames were holes (${baseline.holes} in the clean call)`,
  );
  assert.ok(
    heard.longestRun <= Math.max(3, baseline.longestRun + 2),
    `${heard.longestRun} silent frames in a row (${baseline.longestRun} in the clean call)`,
  );
  assertComplete(record);
  assert.equal(record.end.cause, 'caller_bye');
  // A record's figures are the media worker's at the hang-up, not its last periodic report's (up
  // to 500 ms, 25 packets, older); the margin is for datagrams still in the socket at the BYE.
  const [cleanRecord] = await rig.recordsOf(clean.session);
  const received = cleanRecord?.media.rtp?.packetsReceived ?? 0;
  const forwarded = clean.relay.toTarget.forwarded;
  t.diagnostic(`the clean call's record: ${received} packets received of ${forwarded} sent`);
  assert.ok(
    received <= forwarded && received >= forwarded - 2,
    `the record counts ${received} of the ${forwarded} packets the caller sent`,
  );
  assert.ok(rtp.packetsLost > 0, 'the loss is counted');
  assert.ok(rtp.jitterMs > 1, 'the jitter is measured');
  assert.ok(jitterBuffer.concealedSamples > 0, 'the holes were concealed');
});

test('a carrier that stops sending RTP mid-call: BYE on the inactivity timeout, one complete record', {
  timeout: 60_000,
}, async () => {
  const call = await rig.call(9, { lossRate: 0, jitterMs: 0 });
  let stoppedAt = 0;
  try {
    await delay(2000);
    call.caller.stop();
    stoppedAt = performance.now();
    const cause = await Promise.race([call.terminated, delay(INACTIVITY_SEC * 1000 + 8000)]);
    assert.ok(cause, 'the gateway hung up');
    assert.equal(cause.by, 'remote', 'by a BYE from the gateway');
  } finally {
    call.caller.close();
    call.relay.close();
  }
  const endedAfterMs = performance.now() - stoppedAt;
  assert.ok(
    endedAfterMs >= INACTIVITY_SEC * 1000 - 100,
    `ended ${endedAfterMs.toFixed(0)} ms after RTP stopped`,
  );
  await Promise.race([call.botCall.closed, delay(3000)]);
  assert.equal(call.botCall.stopped, true, 'the bot got stop');
  const records = await rig.recordsOf(call.session);
  assert.equal(records.length, 1, 'one record');
  const [record] = records;
  assert.ok(record);
  assertComplete(record);
  assert.equal(record.end.cause, 'rtp_timeout');
});
