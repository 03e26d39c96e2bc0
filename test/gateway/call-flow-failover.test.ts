/**
 * Failover as a carrier sees it: what ends an attempt and moves the call to the next gateway,
 * and what a gateway's answer says about the calls after it. In-process, on the FakeClock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SipRequest } from '../../src/sip/message.js';
import { FakeDns } from '../trunks/helpers/fake-dns.js';
import {
  answerWith,
  CARRIER_A,
  CARRIER_B,
  type CallHarness,
  flush,
  harnessPerTest,
  run as runFor,
} from './helpers/call-harness.js';

const setup = harnessPerTest();

const TWO_GATEWAYS = {
  gateways: [
    { name: 'a', host: CARRIER_A.address, port: CARRIER_A.port, priority: 1 },
    { name: 'b', host: CARRIER_B.address, port: CARRIER_B.port, priority: 2 },
  ],
};

function invitesTo(h: CallHarness, address: string): SipRequest[] {
  return h.network.log
    .filter((r) => r.message.isRequest && r.message.method === 'INVITE' && r.to.address === address)
    .map((r) => r.message as SipRequest);
}

/** Places one call that is answered at once, hangs it up and gives its attempts as `<gateway> <outcome>`. */
async function callOnce(h: CallHarness): Promise<string[]> {
  const { observed, run } = h.originate();
  await run;
  await flush();
  await flush();
  observed.call.hangup('api_hangup');
  await flush();
  return (observed.ends[0]?.record?.attempts ?? []).map(({ gateway, outcome }) => `${gateway} ${outcome}`);
}

describe('outbound failover: when an attempt ends', () => {
  it('a gateway that rings keeps the call past the attempt timeout: the callee is not rung again elsewhere', async () => {
    const h = setup({ trunk: { outbound: { ...TWO_GATEWAYS, attemptTimeoutMs: 2000 } } });
    // The callee's phone rings for 5 s, then it answers.
    const ringing = h.carrier(CARRIER_A, (session) => {
      session.progress(180);
      h.clock.setTimer(5000, () => answerWith('PCMU')(session));
    });
    const other = h.carrier(CARRIER_B, answerWith('PCMU'));
    const { observed, run } = h.originate();
    await run;
    await flush();
    await runFor(h.clock, 6000);

    assert.equal(other.incoming.length, 0, 'no second INVITE rings the callee through gateway b');
    assert.ok(!h.network.log.some((r) => r.message.isRequest && r.message.method === 'CANCEL'));
    assert.equal(ringing.incoming[0]?.state, 'confirmed');
    assert.equal(observed.call.state, 'answered');
    assert.deepEqual(
      observed.events.filter((event) => event.startsWith('attempt')),
      ['attempt:200'],
    );
    observed.call.hangup('api_hangup');
    await flush();
  });

  it('a ringing gateway is cancelled at the ring timeout and the call ends no_answer, with no failover', async () => {
    const h = setup({ trunk: { outbound: { ...TWO_GATEWAYS, attemptTimeoutMs: 2000 } } });
    h.carrier(CARRIER_A, (session) => session.progress(180));
    const other = h.carrier(CARRIER_B, answerWith('PCMU'));
    const { observed, run } = h.originate();
    await run;
    await flush();
    await runFor(h.clock, 61_000, 500);

    assert.equal(other.incoming.length, 0);
    assert.equal(invitesTo(h, CARRIER_A.address).length, 1);
    assert.ok(h.network.log.some((r) => r.message.isRequest && r.message.method === 'CANCEL'));
    const [{ end, record } = assert.fail('ended')] = observed.ends;
    assert.equal(end.cause, 'no_answer');
    assert.deepEqual(
      record?.attempts.map(({ gateway, outcome, reason }) => ({ gateway, outcome, reason })),
      [{ gateway: 'carrier/a', outcome: 'timeout', reason: 'ring timeout' }],
    );
    const health = h.health.get('carrier/a')?.snapshot();
    assert.deepEqual(
      [health?.window.calls, health?.window.completed],
      [1, 1],
      'no answer is not a network failure',
    );
  });

  it('a gateway that answers only 100 Trying still fails over at the attempt timeout (no callee was reached)', async () => {
    const h = setup({ trunk: { outbound: { ...TWO_GATEWAYS, attemptTimeoutMs: 2000 } } });
    const trying = h.carrier(CARRIER_A); // the user agent sends 100 Trying, then nothing
    const answering = h.carrier(CARRIER_B, answerWith('PCMU'));
    const { observed, run } = h.originate();
    await run;
    await flush();
    await runFor(h.clock, 2500);

    assert.equal(trying.incoming.length, 1);
    assert.equal(answering.incoming.length, 1);
    assert.equal(observed.call.state, 'answered');
    assert.deepEqual(
      observed.events.filter((event) => event.startsWith('attempt')),
      ['attempt:408', 'attempt:200'],
    );
    observed.call.hangup('api_hangup');
    await flush();
  });
});

describe('outbound failover: what an answer says about later calls', () => {
  it('a 503 with Retry-After keeps new calls off that gateway for that long (RFC 3261 §21.5.4), then it is tried again', async () => {
    const h = setup({ trunk: { outbound: TWO_GATEWAYS } });
    let overloaded = true;
    h.carrier(CARRIER_A, (session) =>
      overloaded ? session.reject(503, [['Retry-After', '60 (overloaded)']]) : answerWith('PCMU')(session),
    );
    h.carrier(CARRIER_B, answerWith('PCMU'));

    assert.deepEqual(await callOnce(h), ['carrier/a 503', 'carrier/b 200']);
    await runFor(h.clock, 30_000, 1000);
    assert.deepEqual(
      await callOnce(h),
      ['carrier/b 200'],
      'a is not sent new calls while it asked us to wait',
    );
    assert.equal(h.health.get('carrier/a')?.snapshot().available, false);
    assert.equal(invitesTo(h, CARRIER_A.address).length, 1);

    overloaded = false;
    await runFor(h.clock, 31_000, 1000);
    assert.equal(h.health.get('carrier/a')?.snapshot().available, true);
    assert.deepEqual(await callOnce(h), ['carrier/a 200']);
  });

  it('a 503 without Retry-After, or one that is not a number, keeps the gateway in the plan', async () => {
    const h = setup({ trunk: { outbound: TWO_GATEWAYS } });
    let retryAfter: Array<[string, string]> = [];
    h.carrier(CARRIER_A, (session) => session.reject(503, retryAfter));
    h.carrier(CARRIER_B, answerWith('PCMU'));
    assert.deepEqual(await callOnce(h), ['carrier/a 503', 'carrier/b 200']);
    retryAfter = [['Retry-After', 'soon']];
    assert.deepEqual(await callOnce(h), ['carrier/a 503', 'carrier/b 200']);
    assert.deepEqual(await callOnce(h), ['carrier/a 503', 'carrier/b 200']);
  });

  it('a Retry-After on another status than 503 (a callee busy for now) does not hold the gateway off', async () => {
    const h = setup({ trunk: { outbound: { ...TWO_GATEWAYS, failoverCodes: [480, 503] } } });
    h.carrier(CARRIER_A, (session) => session.reject(480, [['Retry-After', '600']]));
    h.carrier(CARRIER_B, answerWith('PCMU'));
    assert.deepEqual(await callOnce(h), ['carrier/a 480', 'carrier/b 200']);
    assert.deepEqual(await callOnce(h), ['carrier/a 480', 'carrier/b 200']);
  });
});

describe('outbound failover: a name with several addresses (RFC 3263 §4.2)', () => {
  /** `sbc.carrier.test` has two A records: carrier A's address, then carrier B's. */
  function sbcAtBothCarriers(): FakeDns {
    const dns = new FakeDns();
    dns.aRecords.set('sbc.carrier.test', [
      { address: CARRIER_A.address, ttl: 300 },
      { address: CARRIER_B.address, ttl: 300 },
    ]);
    return dns;
  }

  it('tries the next address of a gateway when the first times out, and later calls start at the one that works', async () => {
    const h = setup({
      dns: sbcAtBothCarriers(),
      trunk: {
        outbound: {
          gateways: [{ name: 'sbc', host: 'sbc.carrier.test', port: CARRIER_A.port }],
          attemptTimeoutMs: 2000,
        },
      },
    });
    // The first address is dead: nothing it would answer reaches the gateway.
    h.network.drop = (message, from) => !message.isRequest && from.address === CARRIER_A.address;
    h.carrier(CARRIER_A);
    const live = h.carrier(CARRIER_B, answerWith('PCMU'));

    const first = h.originate();
    await first.run;
    await flush();
    await runFor(h.clock, 2500);
    assert.equal(first.observed.call.state, 'answered');
    assert.equal(live.incoming.length, 1);
    first.observed.call.hangup('api_hangup');
    await flush();
    assert.deepEqual(
      first.observed.ends[0]?.record?.attempts.map(({ gateway, outcome }) => `${gateway} ${outcome}`),
      ['carrier/sbc timeout', 'carrier/sbc 200'],
    );

    const second = h.originate();
    await second.run;
    await flush();
    await flush();
    assert.equal(second.observed.call.state, 'answered', 'answered at once by the live address');
    assert.equal(
      new Set(invitesTo(h, CARRIER_A.address).map((invite) => invite.callId())).size,
      1,
      'the dead address is not tried first again',
    );
    second.observed.call.hangup('api_hangup');
    await flush();
  });

  it('a final answer that is a failover code but not a server failure moves on to the next gateway, not the same server at its next address', async () => {
    const h = setup({
      dns: sbcAtBothCarriers(),
      trunk: {
        outbound: {
          gateways: [
            { name: 'sbc', host: 'sbc.carrier.test', port: CARRIER_A.port, priority: 1 },
            { name: 'b', host: CARRIER_B.address, port: CARRIER_B.port, priority: 2 },
          ],
        },
      },
    });
    h.carrier(CARRIER_A, (session) => session.reject(480));
    h.carrier(CARRIER_B, answerWith('PCMU'));
    assert.deepEqual(await callOnce(h), ['carrier/sbc 480', 'carrier/b 200']);
  });
});
