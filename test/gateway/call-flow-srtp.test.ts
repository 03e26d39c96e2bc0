/**
 * SRTP call flows in-process (helpers/call-harness.ts): a trunk's `media.encryption` decides
 * what the gateway answers and offers, the media leg gets the SDES keys (ours to send, the
 * carrier's to receive), and a re-INVITE with new keys re-keys it.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { OutboundSession } from '../../src/sip/call-legs.js';
import { newSdesOffer, type SdesOffer } from '../../src/sip/sdes.js';
import { createOffer, negotiateAnswer } from '../../src/sip/sdp.js';
import {
  answerWith,
  CARRIER_A,
  CARRIER_B,
  CARRIER_RTP_PORT,
  CallHarness,
  flush,
  GATEWAY,
  progressWith,
} from './helpers/call-harness.js';

let harness: CallHarness | undefined;
afterEach(() => {
  harness?.close();
  harness = undefined;
});

function setup(encryption: 'none' | 'optional' | 'required'): CallHarness {
  harness = new CallHarness({ trunk: { media: { encryption } } });
  return harness;
}

async function finalStatus(session: OutboundSession): Promise<number> {
  const outcome = await session.outcome;
  return outcome.kind === 'answered' ? outcome.response.status : outcome.status;
}

/** The base64 key of the a=crypto (or a=acap crypto) lines of an SDP body, in order. */
const sdpKeys = (sdp: string | undefined) =>
  [...(sdp ?? '').matchAll(/inline:([A-Za-z0-9+/]{40})/g)].map((m) => m[1]);
const base64 = (key: { bytes: Buffer } | undefined) => key?.bytes.toString('base64');

describe('inbound calls and media.encryption', () => {
  for (const [encryption, offered] of [
    ['required', 'RTP/AVP'],
    ['none', 'RTP/SAVP'],
  ] as const) {
    it(`${encryption}: an ${offered} offer gets 488 and ends encryption_mismatch`, async () => {
      const h = setup(encryption);
      const carrier = h.carrier(CARRIER_A);
      const outbound = carrier.call(offered === 'RTP/SAVP' ? { srtp: newSdesOffer('required') } : {});
      await flush();
      assert.equal(await finalStatus(outbound), 488);
      const [{ end, record } = assert.fail('ended')] = h.observed(0).ends;
      assert.equal(end.cause, 'encryption_mismatch');
      assert.match(end.detail ?? '', new RegExp(offered.replace('/', '\\/')));
      assert.ok(record);
      const metrics = await h.metrics.registry.getSingleMetricAsString('patchbay_calls_total');
      assert.match(metrics, /outcome="encryption_mismatch"/);
    });
  }

  it('required: an RTP/SAVP offer is answered with our key; the leg sends with ours and receives with theirs; a re-INVITE re-keys', async () => {
    const h = setup('required');
    const carrier = h.carrier(CARRIER_A);
    const srtp = newSdesOffer('required');
    const outbound = carrier.call({ srtp });
    await flush();
    assert.equal(await finalStatus(outbound), 200);
    const answer = outbound.remoteSdp ?? '';
    assert.match(answer, /m=audio \d+ RTP\/SAVP /);
    const [ourKey, ...more] = sdpKeys(answer);
    assert.equal(more.length, 0);
    const started = h.legs[0]?.started[0]?.srtp ?? assert.fail('SRTP keys on the leg');
    assert.equal(started.suite, 'AES_CM_128_HMAC_SHA1_80', 'the first offered suite');
    assert.equal(base64(started.receiveKey), base64(srtp.crypto[0]?.key));
    assert.equal(base64(started.sendKey), ourKey);

    const rekey: SdesOffer = newSdesOffer('required');
    const offer = createOffer({
      address: CARRIER_A.address,
      port: CARRIER_RTP_PORT,
      codecs: ['PCMA'],
      srtp: rekey,
    });
    const response = await outbound.reinvite(offer);
    assert.equal(response.status, 200);
    await flush();
    const updated = h.legs[0]?.updates[0]?.srtp ?? assert.fail('re-keyed');
    assert.equal(base64(updated.receiveKey), base64(rekey.crypto[0]?.key), 'their new key');
    assert.equal(base64(updated.sendKey), ourKey, 'ours is kept');
    assert.deepEqual(sdpKeys(response.body.toString()), [ourKey]);

    const plain = await outbound.reinvite(
      createOffer({ address: CARRIER_A.address, port: CARRIER_RTP_PORT, codecs: ['PCMA'] }),
    );
    assert.equal(plain.status, 488, 'a plain re-offer is refused too');
    assert.equal(h.legs[0]?.updates.length, 1);
    await outbound.bye();
    await flush();
  });

  it('optional: plain and SRTP offers are both answered in kind', async () => {
    const h = setup('optional');
    const carrier = h.carrier(CARRIER_A);
    const plain = carrier.call();
    const secure = carrier.call({ srtp: newSdesOffer('required') });
    await flush();
    assert.equal(await finalStatus(plain), 200);
    assert.equal(await finalStatus(secure), 200);
    assert.match(plain.remoteSdp ?? '', /RTP\/AVP /);
    assert.match(secure.remoteSdp ?? '', /RTP\/SAVP /);
    assert.equal(h.legs[0]?.started[0]?.srtp, undefined);
    assert.ok(h.legs[1]?.started[0]?.srtp);
    await plain.bye();
    await secure.bye();
    await flush();
  });
});

describe('outbound calls and media.encryption', () => {
  it('required: RTP/SAVP offers with fresh keys per attempt; the answering carrier’s key reaches the leg', async () => {
    const h = setup('required');
    const first = h.carrier(CARRIER_A, (session) => session.reject(503));
    const second = h.carrier(CARRIER_B, answerWith('PCMU', 'required'));
    const { observed, run } = h.originate();
    await run;
    await flush();
    await flush();
    assert.equal(observed.call.state, 'answered');
    const offers = [first.incoming[0]?.remoteSdp, second.incoming[0]?.remoteSdp];
    for (const offer of offers)
      assert.match(offer ?? '', /m=audio \d+ RTP\/SAVP .*\r\n(a=.*\r\n)*a=crypto:1 /);
    assert.equal(sdpKeys(offers[0]).length, 2, 'one key per suite');
    assert.equal(new Set([...sdpKeys(offers[0]), ...sdpKeys(offers[1])]).size, 4, 'no key offered twice');
    // Opened before the answer with the policy, so SRTP ahead of the 200 OK is not taken as RTP.
    assert.equal(h.legPolicies[0]?.encryption, 'required');
    const srtp = h.legs[0]?.started[0]?.srtp ?? assert.fail('SRTP keys on the leg');
    const callee = second.incoming[0] ?? assert.fail('callee');
    assert.equal(base64(srtp.sendKey), sdpKeys(offers[1])[0]);
    const answer = h.inviteResponses(GATEWAY).find((record) => record.message.status === 200);
    assert.equal(base64(srtp.receiveKey), sdpKeys(answer?.message.body.toString())[0]);
    await callee.bye();
    await flush();
  });

  it('srtpSuites: our offer names the trunk’s suites, and the carrier’s choice of them keys the leg', async () => {
    harness = new CallHarness({
      trunk: { media: { encryption: 'required', srtpSuites: ['AES_256_CM_HMAC_SHA1_80'] } },
    });
    const h = harness;
    const callee = h.carrier(CARRIER_A, answerWith('PCMU', 'required'));
    const { observed, run } = h.originate();
    await run;
    await flush();
    assert.equal(observed.call.state, 'answered');
    const offer = callee.incoming[0]?.remoteSdp ?? '';
    const lines = offer.split('\r\n').filter((line) => line.startsWith('a=crypto:'));
    assert.deepEqual(
      lines.map((line) => line.replace(/inline:\S+/, 'inline:KEY')),
      ['a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:KEY'],
    );
    assert.match(lines[0] ?? '', /inline:[A-Za-z0-9+/]{62}==$/, 'a 46-byte key');
    const srtp = h.legs[0]?.started[0]?.srtp ?? assert.fail('SRTP keys on the leg');
    assert.equal(srtp.suite, 'AES_256_CM_HMAC_SHA1_80');
    assert.equal(srtp.sendKey.bytes.length, 46);
    assert.equal(srtp.receiveKey.bytes.length, 46);
    await callee.incoming[0]?.bye();
    await flush();
  });

  it('required: new keys in an early UPDATE after a reliable 183 (RFC 3311 §5.2): the leg runs on the UPDATE’s key and our answer’s', async () => {
    const h = setup('required');
    h.answerReliablyIn183();
    const carrier = h.carrier(CARRIER_A, progressWith('PCMU', { encryption: 'required' }));
    const { observed, run } = h.originate();
    await flush();
    // Two suites offered, a key each: the answer takes the first.
    const rekey = newSdesOffer('required');
    const offer = createOffer({
      address: '127.0.0.3',
      port: CARRIER_RTP_PORT + 2,
      codecs: ['PCMU'],
      srtp: rekey,
    });
    const answered = await h.earlyUpdateFromCarrier(offer);
    assert.equal(answered.status, 200);
    const [ourKey, ...more] = sdpKeys(answered.body.toString());
    assert.equal(more.length, 0);
    const callee = carrier.incoming[0] ?? assert.fail('carrier A session');
    callee.accept(callee.lastLocalSdp ?? '');
    await run;
    await flush();
    assert.equal(observed.call.state, 'answered');
    const started = h.legs[0]?.started[0] ?? assert.fail('leg started');
    assert.equal(started.remotePort, CARRIER_RTP_PORT + 2);
    assert.equal(started.srtp?.suite, 'AES_CM_128_HMAC_SHA1_80');
    assert.equal(base64(started.srtp?.receiveKey), base64(rekey.crypto[0]?.key));
    assert.equal(base64(started.srtp?.sendKey), ourKey);
    await callee.bye();
    await flush();
  });

  it('required: a plain answer ends the call encryption_mismatch with a BYE', async () => {
    const h = setup('required');
    const callee = h.carrier(CARRIER_A, (session) => {
      // A carrier that ignores SRTP: it answers as if the offer were plain RTP/AVP.
      const asPlain = (session.remoteSdp ?? '')
        .replace('RTP/SAVP', 'RTP/AVP')
        .replace(/a=crypto[^\r]*\r\n/g, '');
      const answer = negotiateAnswer(asPlain, {
        address: '127.0.0.1',
        port: CARRIER_RTP_PORT,
        preferences: ['PCMU'],
      });
      assert.ok(answer.ok);
      session.accept(answer.answer);
    });
    const { observed, run } = h.originate();
    await run;
    await flush();
    await flush();
    const [{ end } = assert.fail('ended')] = observed.ends;
    assert.equal(end.cause, 'encryption_mismatch');
    assert.match(end.detail ?? '', /declined SRTP/);
    assert.equal(callee.incoming[0]?.state, 'terminated', 'BYE sent');
    assert.equal(h.legs[0]?.started.length, 0);
  });

  it('optional: RTP/AVP with SRTP as an RFC 5939 capability; a plain answer gives plain RTP', async () => {
    const h = setup('optional');
    const callee = h.carrier(CARRIER_A, answerWith('PCMU', 'optional'));
    const { observed, run } = h.originate();
    await run;
    await flush();
    await flush();
    assert.equal(observed.call.state, 'answered');
    const offer = callee.incoming[0]?.remoteSdp ?? '';
    assert.match(offer, /m=audio \d+ RTP\/AVP /);
    assert.match(offer, /a=tcap:1 RTP\/SAVP\r\n/);
    assert.equal(sdpKeys(offer).length, 2);
    assert.equal(h.legs[0]?.started[0]?.srtp, undefined);
    await callee.incoming[0]?.bye();
    await flush();
  });
});
