/**
 * An inbound INVITE without SDP (a "delayed offer", RFC 3261 §13.2.1) in-process: the gateway's
 * 200 carries its offer, and the answer in the ACK starts the media leg (§13.2.2.4); an ACK
 * without a usable answer ends the call with BYE. The carrier's ACK is given its answer on the
 * wire (the test user agent acks a 2xx without a body). Real SIPp: test/interop/gateway-dialog.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { negotiateAnswer } from '../../src/sip/sdp.js';
import { CARRIER_A, CallHarness, flush, GATEWAY, run } from './helpers/call-harness.js';

let harness: CallHarness | undefined;
afterEach(() => {
  harness?.close();
  harness = undefined;
});

/** A carrier calling with an empty INVITE body; `answer` makes its ACK's SDP from the 200's offer. */
async function delayedOfferCall(answer: (offer: string) => string | undefined) {
  harness = new CallHarness();
  const carrier = harness.carrier(CARRIER_A);
  const offers: string[] = [];
  harness.network.garble = (bytes) => {
    const text = bytes.toString();
    if (text.startsWith('SIP/2.0 200') && /\r\nCSeq: 1 INVITE\r\n/i.test(text))
      offers.push(text.slice(text.indexOf('\r\n\r\n') + 4));
    const sdp = offers[0] === undefined ? undefined : answer(offers[0]);
    if (!text.startsWith('ACK ') || sdp === undefined) return undefined;
    const head = text.slice(0, text.indexOf('\r\n\r\n')).replace(/\r\nContent-Length: *0/i, '');
    return Buffer.from(
      `${head}\r\nContent-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(sdp)}\r\n\r\n${sdp}`,
    );
  };
  const session = carrier.call({ sdp: '' });
  await flush();
  assert.equal((await session.outcome).kind, 'answered');
  await flush();
  return { harness, session, offer: offers[0] ?? assert.fail('the 200 carried no SDP') };
}

it('the 200 offers every codec of the trunk; the answer in the ACK starts the media leg on its codec', async () => {
  const { harness, session, offer } = await delayedOfferCall((ours) => {
    const result = negotiateAnswer(ours, {
      address: CARRIER_A.address,
      port: 31000,
      preferences: ['PCMA'],
      encryption: 'none',
    });
    return result.ok ? result.answer : undefined;
  });
  assert.match(offer, /^m=audio \d+ RTP\/AVP 0 8 /m, "the trunk's PCMU and PCMA, in its order");
  const leg = harness.legs[0] ?? assert.fail('a leg');
  assert.equal(leg.started.length, 1, 'started by the ACK');
  assert.equal(leg.started[0]?.codec.name, 'PCMA');
  assert.equal(leg.started[0]?.remotePort, 31000);
  await run(harness.clock, 5000);
  const observed = harness.observed(0);
  assert.equal(observed.call.state, 'answered', 'no BYE');
  await session.bye();
  await flush();
  assert.equal(observed.ends[0]?.record?.codec, 'PCMA', "the record's codec is the ACK's");
});

it('an ACK without an answer ends the call with BYE; the media leg never starts', async () => {
  const { harness } = await delayedOfferCall(() => undefined);
  await run(harness.clock, 1000);
  const bye = harness.network.log.find(
    (record) => record.message.isRequest && record.message.method === 'BYE',
  );
  assert.deepEqual(bye?.from, GATEWAY);
  assert.equal(harness.legs[0]?.started.length, 0);
  const [{ end } = assert.fail('ended')] = harness.observed(0).ends;
  assert.match(end.detail ?? '', /no SDP answer in the ACK/);
});

it('an answer naming no codec of the offer ends the call with BYE, no_common_codec', async () => {
  const { harness } = await delayedOfferCall((ours) => {
    const result = negotiateAnswer(ours, {
      address: CARRIER_A.address,
      port: 31002,
      preferences: ['PCMA'],
      encryption: 'none',
    });
    return result.ok ? result.answer.replace(/^m=audio \d+/m, 'm=audio 0') : undefined;
  });
  await run(harness.clock, 1000);
  assert.equal(harness.legs[0]?.started.length, 0);
  const [{ end } = assert.fail('ended')] = harness.observed(0).ends;
  assert.equal(end.cause, 'no_common_codec');
});
