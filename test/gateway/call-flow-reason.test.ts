/**
 * The Reason header (RFC 3326, RFC 6432) in call flows (helpers/call-harness.ts): a carrier's
 * Q.850 cause on its BYE, CANCEL or final response reaches the call's end and record, and the
 * BYE the gateway sends says why the call ended.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRequest } from '../sip/helpers/session-pair.js';
import { CARRIER_A, flush, harnessPerTest, run } from './helpers/call-harness.js';

const setup = harnessPerTest();

/** An inbound call from carrier A, answered (the fake bot opens at once). */
async function answeredInbound() {
  const h = setup();
  const carrier = h.carrier(CARRIER_A);
  const outbound = carrier.call({ codecs: ['PCMU'] });
  await flush();
  assert.equal((await outbound.outcome).kind, 'answered');
  return { h, outbound, observed: h.observed(0) };
}

describe('RFC 3326: why a call ended, both ways', () => {
  it("a carrier's BYE with a Q.850 cause: the end and the record carry it, its text as the detail", async () => {
    const { outbound, observed } = await answeredInbound();
    await outbound.bye('hangup', undefined, [['Reason', 'Q.850;cause=16;text="Normal call clearing"']]);
    await flush();
    const [{ end, record } = assert.fail('ended')] = observed.ends;
    assert.equal(end.cause, 'caller_bye');
    assert.deepEqual(end.signalled, { protocol: 'Q.850', cause: 16 });
    assert.equal(end.detail, 'Normal call clearing');
    assert.deepEqual(record?.end.signalled, { protocol: 'Q.850', cause: 16 });
  });

  it("a carrier's CANCEL with a Reason: caller_cancel, with it", async () => {
    const h = setup();
    h.bots.behaviour = 'pending';
    h.network.rewrite = (message) => {
      if (message.isRequest && message.method === 'CANCEL')
        message.set('Reason', 'SIP;cause=200;text="Call completed elsewhere"');
    };
    const outbound = h.carrier(CARRIER_A).call({ codecs: ['PCMU'] });
    await flush();
    outbound.cancel();
    await flush();
    const [{ end } = assert.fail('ended')] = h.observed(0).ends;
    assert.equal(end.cause, 'caller_cancel');
    assert.deepEqual(end.signalled, { protocol: 'SIP', cause: 200 });
    assert.equal(end.detail, 'Call completed elsewhere');
  });

  it("the gateway's BYE says why: Reason: Q.850;cause=16 for an API hangup", async () => {
    const { h, observed } = await answeredInbound();
    observed.call.hangup('api_hangup');
    await flush();
    const bye = h.network.log.find(isRequest('BYE'))?.message ?? assert.fail('no BYE');
    assert.equal(bye.get('reason'), 'Q.850;cause=16;text="api_hangup"');
  });

  it("the gateway's BYE for a silent caller: Reason: Q.850;cause=102 (recovery on timer expiry)", async () => {
    const { h, observed } = await answeredInbound();
    const leg = h.legs[0] ?? assert.fail('media leg');
    leg.inactiveMs = 31_000;
    await run(h.clock, 2_000, 500);
    assert.equal(observed.ends[0]?.end.cause, 'rtp_timeout');
    const bye = h.network.log.find(isRequest('BYE'))?.message ?? assert.fail('no BYE');
    assert.equal(bye.get('reason'), 'Q.850;cause=102;text="rtp_timeout"');
  });

  it("the gateway's CANCEL says why: 16 for an API hang-up while ringing, 19 at the ring timeout", async () => {
    const h = setup();
    h.carrier(CARRIER_A, (session) => session.progress(180));
    const first = h.originate();
    await flush();
    first.observed.call.hangup('api_hangup');
    await first.run;
    await flush();
    const second = h.originate();
    await run(h.clock, 61_000, 1_000);
    await second.run;
    await flush();
    assert.equal(second.observed.ends[0]?.end.cause, 'no_answer');
    const reasons = h.network.log.filter(isRequest('CANCEL')).map((record) => record.message.get('reason'));
    assert.deepEqual(reasons, ['Q.850;cause=16;text="api_hangup"', 'Q.850;cause=19;text="no_answer"']);
  });

  it('our refusals of an INVITE say why (RFC 6432): 34 at the trunk limit, 88 for no common codec', async () => {
    const h = setup({ trunk: { maxConcurrentCalls: 1, codecs: ['PCMA'] } });
    const carrier = h.carrier(CARRIER_A);
    const refusedCodec = carrier.call({ codecs: ['PCMU'] });
    await flush();
    const first = carrier.call({ codecs: ['PCMA'] });
    await flush();
    assert.equal((await first.outcome).kind, 'answered');
    const second = carrier.call({ codecs: ['PCMA'] });
    await flush();
    for (const session of [refusedCodec, second]) assert.equal((await session.outcome).kind, 'failed');
    const refusals = h.inviteResponses(CARRIER_A).filter((record) => record.message.status >= 300);
    assert.deepEqual(
      refusals.map((record) => [record.message.status, record.message.get('reason')]),
      [
        [488, 'Q.850;cause=88;text="no_common_codec"'],
        [503, 'Q.850;cause=34;text="rejected_concurrency"'],
      ],
    );
  });

  it('a digest challenge carries no Reason: it ends nothing, the caller may answer it', async () => {
    const h = setup({
      trunk: {
        inbound: { allowedCidrs: ['127.0.0.0/8'], auth: { username: 'carrier-a', password: 's3cret' } },
      },
    });
    const session = h.carrier(CARRIER_A).call({ codecs: ['PCMU'] });
    await flush();
    const outcome = await session.outcome;
    assert.equal(outcome.kind === 'failed' && outcome.status, 401);
    assert.equal(
      outcome.kind === 'failed' && outcome.cause === 'response' && outcome.response.get('reason'),
      undefined,
    );
  });

  it("a carrier's final response with a Q.850 cause (RFC 6432): the failed call's end carries it", async () => {
    const h = setup({
      trunk: { outbound: { gateways: [{ name: 'a', host: CARRIER_A.address, port: CARRIER_A.port }] } },
    });
    h.carrier(CARRIER_A, (session) => session.reject(486, [['Reason', 'Q.850;cause=17;text="User busy"']]));
    const { observed, run } = h.originate();
    await run;
    await flush();
    const [{ end } = assert.fail('ended')] = observed.ends;
    assert.equal(end.cause, 'busy');
    assert.equal(end.sipStatus, 486);
    assert.deepEqual(end.signalled, { protocol: 'Q.850', cause: 17 });
  });
});
