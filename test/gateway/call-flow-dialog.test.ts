/**
 * Dialog edge cases on an answered call, end to end in-process (helpers/call-harness.ts): a
 * carrier re-INVITE without an offer, whose answer comes in the ACK (RFC 3261 §14.2).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { OutboundSession } from '../../src/sip/call-legs.js';
import { newSdesOffer } from '../../src/sip/sdes.js';
import { negotiateAnswer } from '../../src/sip/sdp.js';
import { CARRIER_A, CallHarness, flush, GATEWAY, type HarnessOptions, run } from './helpers/call-harness.js';

let harness: CallHarness | undefined;
afterEach(() => {
  harness?.close();
  harness = undefined;
});

function setup(options: HarnessOptions = {}) {
  harness = new CallHarness(options);
  const carrier = harness.carrier(CARRIER_A);
  return { harness, carrier };
}

/**
 * The carrier's re-INVITE without SDP on its answered call; `answer` makes the SDP its ACK
 * carries from the gateway's offer in the 200.
 */
async function offerlessReinvite(
  carrier: ReturnType<typeof setup>['carrier'],
  session: OutboundSession,
  answer: (offer: string) => string,
): Promise<string> {
  const dialog = session.dialog ?? assert.fail('answered');
  const reinvite = dialog.createRequest('INVITE');
  reinvite.append('Contact', carrier.ua.contactHeader('udp'));
  const response = carrier.ua.request(reinvite, dialog.destination());
  await flush();
  const ok = await response;
  assert.equal(ok.status, 200);
  const offer = ok.body.toString();
  const ack = dialog.createRequest('ACK', reinvite.cseq().seq);
  ack.setBody(answer(offer), 'application/sdp');
  carrier.ua.ack(ack, dialog.destination());
  await flush();
  return offer;
}

/** The carrier's answer to `offer`, its media now on `port`. */
function answerOn(port: number, offer: string, encryption: 'none' | 'required' = 'none'): string {
  const result = negotiateAnswer(offer, {
    address: CARRIER_A.address,
    port,
    preferences: ['PCMA'],
    encryption,
  });
  assert.ok(result.ok, result.ok ? '' : result.reason);
  return result.answer;
}

describe('a carrier re-INVITE without an offer (RFC 3261 §14.2, RFC 3264 §8)', () => {
  it('the 200 offers our SDP again; the answer in the ACK moves the media leg to the new address', async () => {
    const { harness, carrier } = setup();
    const session = carrier.call();
    await flush();
    assert.equal((await session.outcome).kind, 'answered');
    const ourAnswer = session.remoteSdp;
    const offer = await offerlessReinvite(carrier, session, (ours) => answerOn(31000, ours));
    assert.equal(offer, ourAnswer, 'the 200 offers the SDP we answered the INVITE with');
    const leg = harness.legs[0] ?? assert.fail('a leg');
    assert.equal(leg.updates.length, 1, 'the media leg took the answer');
    assert.equal(leg.updates[0]?.remotePort, 31000);
    await run(harness.clock, 5000);
    assert.equal(harness.observed(0).call.state, 'answered');
    assert.equal(
      harness.network.log.filter((r) => r.message.isRequest && r.message.method === 'BYE').length,
      0,
    );
    await session.bye();
    await flush();
  });

  it('over SRTP the answer keeps our key and brings the carrier’s', async () => {
    const { harness, carrier } = setup({ trunk: { media: { encryption: 'required' } } });
    const session = carrier.call({ srtp: newSdesOffer('required') });
    await flush();
    assert.equal((await session.outcome).kind, 'answered');
    const started = harness.legs[0]?.started[0]?.srtp ?? assert.fail('SRTP leg');
    let answerKey = '';
    await offerlessReinvite(carrier, session, (ours) => {
      const answer = answerOn(31002, ours, 'required');
      answerKey = /inline:([A-Za-z0-9+/]{40})/.exec(answer)?.[1] ?? '';
      return answer;
    });
    const updated = harness.legs[0]?.updates[0]?.srtp ?? assert.fail('re-keyed');
    assert.equal(
      updated.sendKey.bytes.toString('base64'),
      started.sendKey.bytes.toString('base64'),
      'ours is kept',
    );
    assert.equal(updated.receiveKey.bytes.toString('base64'), answerKey, 'theirs from the ACK');
    await session.bye();
    await flush();
  });

  it('an answer in the ACK the gateway cannot use ends the call with BYE, no_common_codec', async () => {
    const { harness, carrier } = setup();
    const session = carrier.call();
    await flush();
    assert.equal((await session.outcome).kind, 'answered');
    await offerlessReinvite(carrier, session, (ours) =>
      answerOn(31004, ours).replace(/^m=audio \d+/m, 'm=audio 0'),
    );
    await run(harness.clock, 1000);
    const bye = harness.network.log.find(
      (record) => record.message.isRequest && record.message.method === 'BYE',
    );
    assert.deepEqual(bye?.from, GATEWAY);
    const [{ end } = assert.fail('ended')] = harness.observed(0).ends;
    assert.equal(end.cause, 'no_common_codec');
    assert.match(end.detail ?? '', /audio stream rejected/);
    assert.equal(harness.legs[0]?.updates.length, 0);
  });
});

describe('a carrier that lost the call without a BYE', () => {
  it("answers the bot's transfer (REFER) 481: the call ends session_expired, not at the RTP timeout", async () => {
    const { harness, carrier } = setup();
    const session = carrier.call();
    await flush();
    assert.equal((await session.outcome).kind, 'answered');
    session.terminate({ by: 'local', reason: 'shutdown' }); // a carrier restart: the dialog is gone there
    const bot = harness.bots.connected[0] ?? assert.fail('a bot');
    bot.hooks.transfer('sip:agent@example.com');
    await run(harness.clock, 1000);
    assert.ok(harness.network.log.some((r) => !r.message.isRequest && r.message.status === 481));
    const [{ end } = assert.fail('ended')] = harness.observed(0).ends;
    assert.deepEqual([end.cause, end.detail], ['session_expired', 'dialog gone: REFER answered 481']);
  });
});
