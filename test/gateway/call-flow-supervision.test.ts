/**
 * Answered calls the gateway ends on its own: max call duration, RTP inactivity and a 2xx never
 * ACKed, driven by
 * FakeClock time; the carrier gets a BYE and the call one end.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { TerminationCause } from '../../src/sip/session.js';
import { CARRIER_A, CallHarness, flush, GATEWAY, type HarnessOptions, run } from './helpers/call-harness.js';

let harness: CallHarness | undefined;
afterEach(() => {
  harness?.close();
  harness = undefined;
});

/** An answered inbound call, and how the carrier's side of it ends. */
async function answeredCall(options: HarnessOptions) {
  harness = new CallHarness(options);
  const carrier = harness.carrier(CARRIER_A);
  const session = carrier.call();
  const carrierEnd = new Promise<TerminationCause>((resolve) => session.once('terminated', resolve));
  await flush();
  assert.equal((await session.outcome).kind, 'answered');
  const leg = harness.legs[0] ?? assert.fail('media leg');
  return { harness, session, carrierEnd, leg, observed: harness.observed(0) };
}

function byesToCarrier(h: CallHarness): number {
  return h.network.log.filter(
    (record) =>
      record.message.isRequest &&
      record.message.method === 'BYE' &&
      record.from.port === GATEWAY.port &&
      record.to.port === CARRIER_A.port,
  ).length;
}

describe('call supervision (FakeClock)', () => {
  it('ends an answered call at limits.maxCallDurationSec with max_duration and a BYE to the carrier', async () => {
    const { harness, carrierEnd, leg, observed } = await answeredCall({ limits: { maxCallDurationSec: 60 } });
    await run(harness.clock, 59_000, 500);
    assert.equal(observed.ends.length, 0, 'still up before the limit');

    await run(harness.clock, 2_000, 500);
    assert.equal(observed.ends.length, 1);
    assert.equal(observed.ends[0]?.end.cause, 'max_duration');
    assert.equal(observed.ends[0]?.record?.hangupBy, 'gateway');
    assert.equal(byesToCarrier(harness), 1);
    assert.deepEqual(await carrierEnd, {
      by: 'remote',
      reason: 'bye',
      // RFC 3326: our BYE says why.
      signalled: { protocol: 'Q.850', cause: 16, text: 'max_duration' },
    });
    assert.equal(leg.closed, true);
    assert.equal(harness.gatewayUa.sessionCount, 0);
  });

  it('ends an answered call whose RTP stopped for longer than rtpInactivityTimeoutSec with rtp_timeout and a BYE', async () => {
    const { harness, carrierEnd, leg, observed } = await answeredCall({
      limits: { rtpInactivityTimeoutSec: 30 },
    });
    leg.inactiveMs = 29_000;
    await run(harness.clock, 3_000, 500);
    assert.equal(observed.ends.length, 0, 'within the inactivity limit');

    leg.inactiveMs = 30_500;
    await run(harness.clock, 1_000, 500);
    assert.equal(observed.ends.length, 1);
    assert.equal(observed.ends[0]?.end.cause, 'rtp_timeout');
    assert.equal(byesToCarrier(harness), 1);
    assert.deepEqual(await carrierEnd, {
      by: 'remote',
      reason: 'bye',
      // RFC 3326: our BYE says why.
      signalled: { protocol: 'Q.850', cause: 102, text: 'rtp_timeout' },
    });
    assert.deepEqual(harness.journal, ['bot.close', 'media.close']);
  });

  it('ends an answered call whose ACK never came at 64*T1 (Timer H, RFC 3261 §13.3.1.4) with session_expired, a BYE and a complete record', async () => {
    harness = new CallHarness({ limits: { rtpInactivityTimeoutSec: 3600 } });
    const h = harness;
    h.network.drop = (message) => message.isRequest && message.method === 'ACK';
    const session = h.carrier(CARRIER_A).call();
    await flush();
    assert.equal((await session.outcome).kind, 'answered');
    const observed = h.observed(0);
    await run(h.clock, 31_000, 500);
    assert.equal(observed.ends.length, 0, 'the 2xx is still retransmitted');
    await run(h.clock, 2_000, 500);
    assert.equal(observed.ends.length, 1);
    const [{ end, record } = { end: undefined, record: undefined }] = observed.ends;
    assert.deepEqual(end, { cause: 'session_expired', detail: 'no ACK for 2xx' });
    assert.equal(record?.hangupBy, 'gateway');
    assert.ok(record?.answeredAt && record.endedAt, 'answered and ended in the record');
    assert.equal(byesToCarrier(h), 1);
    assert.equal(h.registry.size, 0);
    assert.equal(h.gatewayUa.sessionCount, 0);
  });
});
