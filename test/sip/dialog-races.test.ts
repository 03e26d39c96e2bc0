/**
 * Dialog edge cases where a carrier races us or misbehaves, between two user agents
 * (helpers/session-pair.ts): a CANCEL crossing the 200 (RFC 3261 §9), requests in an early
 * dialog (RFC 3311 §5.1), a re-INVITE without an offer (RFC 3261 §14.2).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { OutboundSession } from '../../src/sip/call-legs.js';
import type { SipRequest } from '../../src/sip/message.js';
import type { TerminationCause } from '../../src/sip/session.js';
import type { SipUserAgent } from '../../src/sip/user-agent.js';
import { earlyRequest, fromTo } from './helpers/early-requests.js';
import {
  ALICE,
  answerAs,
  answerer,
  BOB,
  causeOf,
  closePairs,
  dropFirst,
  flush,
  isRequest,
  isResponse,
  offer,
  run,
  setup,
  T1,
} from './helpers/session-pair.js';

afterEach(closePairs);

/** A call ringing: the UAS's 180 made the early dialog; that 180 as the UAC got it. */
async function ringing(pair: ReturnType<typeof setup>) {
  const { outbound, inbound } = await pair.ring();
  inbound.progress(180);
  await flush();
  const response = pair.network.log.find(isResponse(180, 'INVITE'))?.message ?? assert.fail('no 180');
  return { outbound, inbound, ringing: response };
}

describe('a CANCEL that crosses the 200 (RFC 3261 §9.1, §9.2, §15)', () => {
  it('the callee ignores it (200 to the CANCEL, no 487); the caller ACKs the 200 and ends the call with BYE', async () => {
    const { clock, network, ring } = setup();
    const { outbound, inbound } = await ring();
    inbound.progress(180);
    await flush();
    const inboundEnded = causeOf(inbound);
    const outboundEnded = causeOf(outbound);
    const answer = answerer()(inbound.remoteSdp ?? '', inbound.invite);
    assert.ok('sdp' in answer);
    // Both in the same instant: the 200 and the CANCEL are on the wire together.
    inbound.accept(answer.sdp);
    outbound.cancel();
    await run(clock, 4 * T1, 50);
    const wire = network.describe();
    assert.ok(wire.includes('200 CANCEL'), wire.join(', '));
    assert.ok(
      !wire.includes('487 INVITE'),
      `the answered INVITE is not ended by the CANCEL: ${wire.join(', ')}`,
    );
    const [ack, bye] = [wire.indexOf('ACK'), wire.indexOf('BYE')];
    assert.ok(ack !== -1 && bye > ack, `ACK, then BYE: ${wire.join(', ')}`);
    assert.deepEqual(network.log.find(isRequest('BYE'))?.from, ALICE);
    assert.equal((await outbound.outcome).kind, 'answered');
    assert.deepEqual(await outboundEnded, { by: 'local', reason: 'hangup' });
    assert.deepEqual(await inboundEnded, { by: 'remote', reason: 'bye' });
    // The 200 was ACKed: the callee does not retransmit it.
    assert.equal(network.log.filter(isResponse(200, 'INVITE')).length, 1);
  });

  it('a cancel() before any provisional response sends no CANCEL; a 200 that comes is ACKed and ended with BYE', async () => {
    const { clock, network, ring } = setup();
    const { outbound, inbound } = await ring();
    outbound.cancel();
    const answer = answerer()(inbound.remoteSdp ?? '', inbound.invite);
    assert.ok('sdp' in answer);
    inbound.accept(answer.sdp);
    await run(clock, 4 * T1, 50);
    assert.deepEqual(network.describe(), ['INVITE', '200 INVITE', 'ACK', 'BYE', '200 BYE']);
    assert.equal(inbound.state, 'terminated');
    assert.equal(outbound.state, 'terminated');
  });
});

describe('requests in an early dialog (RFC 3311 §5.1, RFC 3261 §12.1)', () => {
  it('an UPDATE without offer from the caller, after our 180, gets 200 and the call still answers', async () => {
    const pair = setup();
    const { clock, network } = pair;
    const { outbound, inbound, ringing: ringing180 } = await ringing(pair);
    network.transmit(
      earlyRequest(ringing180, 'UPDATE', { cseq: 2, fromCaller: true, branch: 'u1' }),
      ...fromTo(true),
    );
    await flush();
    const answered = network.log.find(isResponse(200, 'UPDATE'))?.message;
    assert.ok(answered, network.describe().join(', '));
    assert.equal(answered.body.length, 0, 'no offer, no answer');
    assert.match(answered.get('contact') ?? '', /^<sip:/);
    assert.equal(inbound.state, 'early');
    const answer = answerer()(inbound.remoteSdp ?? '', inbound.invite);
    assert.ok('sdp' in answer);
    inbound.accept(answer.sdp);
    await run(clock, 2 * T1, 50);
    assert.equal((await outbound.outcome).kind, 'answered');
    assert.equal(inbound.state, 'confirmed');
    // The UPDATE refreshed the target (RFC 3311 §5.2), and the dialog's CSeq goes on from it.
    assert.equal(inbound.dialog?.remoteTarget.user, 'alice');
    assert.equal(inbound.dialog?.remoteSeq, 2);
  });

  it('an UPDATE with an offer while the INVITE offer is unanswered gets 500 with Retry-After 0-10 (RFC 3311 §5.2)', async () => {
    const pair = setup();
    const { network } = pair;
    const { inbound, ringing: ringing180 } = await ringing(pair);
    const update = earlyRequest(ringing180, 'UPDATE', {
      cseq: 2,
      fromCaller: true,
      body: offer(),
      branch: 'u2',
    });
    network.transmit(update, ...fromTo(true));
    await flush();
    const refused = network.log.find(isResponse(500, 'UPDATE'))?.message;
    assert.ok(refused, network.describe().join(', '));
    const retryAfter = Number(refused.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 0 && retryAfter <= 10, String(retryAfter));
    assert.equal(inbound.state, 'early');
  });

  it('an UPDATE from the callee in its early dialog: 200 without offer, 491 with one (our INVITE offer awaits its answer)', async () => {
    const pair = setup();
    const { clock, network } = pair;
    const { outbound, inbound, ringing: ringing180 } = await ringing(pair);
    network.transmit(
      earlyRequest(ringing180, 'UPDATE', { cseq: 1, fromCaller: false, branch: 'u3' }),
      ...fromTo(false),
    );
    await flush();
    const withOffer = earlyRequest(ringing180, 'UPDATE', {
      cseq: 2,
      fromCaller: false,
      body: offer(),
      branch: 'u4',
    });
    network.transmit(withOffer, ...fromTo(false));
    await flush();
    const answers = network.log.filter(
      (record) => !record.message.isRequest && record.message.cseq().method === 'UPDATE',
    );
    assert.deepEqual(
      answers.map((record) => record.message.isRequest || record.message.status),
      [200, 491],
      network.describe().join(', '),
    );
    assert.equal(outbound.state, 'early');
    const answer = answerer()(inbound.remoteSdp ?? '', inbound.invite);
    assert.ok('sdp' in answer);
    inbound.accept(answer.sdp);
    await run(clock, 2 * T1, 50);
    assert.equal(outbound.state, 'confirmed');
    assert.equal(outbound.dialog?.remoteSeq, 2, "the callee's CSeq goes on from its early UPDATEs");
  });

  it('an UPDATE for an early dialog that no provisional response made still gets 481', async () => {
    const pair = setup();
    const { network } = pair;
    const { inbound, ringing: ringing180 } = await ringing(pair);
    const update = earlyRequest(ringing180, 'UPDATE', { cseq: 2, fromCaller: true, branch: 'u5' });
    update.set('To', `${update.get('to')?.replace(/;tag=[^;]*/, '')};tag=other`);
    network.transmit(update, ...fromTo(true));
    await flush();
    assert.ok(network.log.some(isResponse(481, 'UPDATE')), network.describe().join(', '));
    assert.equal(inbound.state, 'early');
  });
});

describe('a re-INVITE without SDP: our offer in the 200, the answer in the ACK (RFC 3261 §14.2, RFC 3264 §8)', () => {
  /** The caller's offer-less re-INVITE, sent on its own dialog; the 200 and the ACK to send back. */
  async function offerlessReinvite(uac: SipUserAgent, outbound: OutboundSession) {
    const dialog = outbound.dialog ?? assert.fail('no dialog');
    const reinvite = dialog.createRequest('INVITE');
    reinvite.append('Contact', uac.contactHeader('udp'));
    const response = uac.request(reinvite, dialog.destination());
    await flush();
    const ok = await response;
    return { ok, ack: dialog.createRequest('ACK', reinvite.cseq().seq), destination: dialog.destination() };
  }

  it('the ACK carries the answer: the answerer takes it and the call stays up', async () => {
    const { clock, network, uac, answered } = setup();
    const taken: string[] = [];
    const { outbound, inbound } = await answered({}, (initial) =>
      Object.assign((offerSdp: string, request: SipRequest) => initial(offerSdp, request), {
        takeAnswer: (answer: string) => void taken.push(answer),
      }),
    );
    const { ok, ack, destination } = await offerlessReinvite(uac, outbound);
    assert.equal(ok.status, 200);
    const ourOffer = ok.body.toString();
    assert.equal(ourOffer, inbound.lastLocalSdp, 'our current SDP, offered again');
    const answer = answerer()(ourOffer, inbound.invite);
    assert.ok('sdp' in answer);
    ack.setBody(answer.sdp, 'application/sdp');
    uac.ack(ack, destination);
    await run(clock, 4 * T1, 50);
    assert.deepEqual(taken, [answer.sdp]);
    assert.equal(inbound.remoteSdp, answer.sdp);
    assert.equal(network.log.filter(isRequest('BYE')).length, 0);
    assert.equal(inbound.state, 'confirmed');
  });

  for (const [what, body, refusal] of [
    ['no answer at all', undefined, undefined],
    ['an answer the answerer cannot use', 'answer', 'answer has none of the offered codecs'],
  ] as const) {
    it(`an ACK with ${what} ends the call with BYE (§13.2.2.4)`, async () => {
      const { clock, network, uac, answered } = setup();
      const { outbound, inbound } = await answered({}, (initial) =>
        Object.assign((offerSdp: string, request: SipRequest) => initial(offerSdp, request), {
          takeAnswer: () => refusal,
        }),
      );
      const ended = causeOf(inbound);
      const { ok, ack, destination } = await offerlessReinvite(uac, outbound);
      assert.equal(ok.status, 200);
      if (body) {
        const answer = answerer()(ok.body.toString(), inbound.invite);
        assert.ok('sdp' in answer);
        ack.setBody(answer.sdp, 'application/sdp');
      }
      uac.ack(ack, destination);
      await run(clock, 2 * T1, 50);
      const bye = network.log.find(isRequest('BYE'));
      assert.ok(bye, network.describe().join(', '));
      assert.deepEqual(bye.from, BOB);
      const cause = await ended;
      assert.deepEqual([cause.by, cause.reason], ['local', 'bad_answer']);
      assert.equal(cause.detail, refusal ?? 'no SDP answer in the ACK');
      assert.equal(outbound.state, 'terminated');
    });
  }

  for (const method of ['UPDATE', 'INVITE']) {
    it(`an ${method} with an offer before that ACK gets 491: our offer awaits its answer (RFC 3311 §5.2, RFC 3264 §4)`, async () => {
      const { clock, network, uac, answered } = setup();
      const offered: string[] = [];
      const { outbound, inbound } = await answered({}, (initial) =>
        Object.assign(
          (offerSdp: string, request: SipRequest) => {
            offered.push(request.method);
            return initial(offerSdp, request);
          },
          { takeAnswer: () => undefined },
        ),
      );
      const { ok, ack, destination } = await offerlessReinvite(uac, outbound);
      assert.equal(ok.status, 200);
      const dialog = outbound.dialog ?? assert.fail('no dialog');
      const crossing = () => {
        const request = dialog.createRequest(method);
        request.append('Contact', uac.contactHeader('udp'));
        request.setBody(offer('sendonly'), 'application/sdp');
        return uac.request(request, dialog.destination());
      };
      const crossed = crossing();
      await flush();
      assert.equal((await crossed).status, 491, network.describe().join(', '));
      assert.deepEqual(offered, [], 'the answerer never saw the crossing offer');
      const answer = answerer()(ok.body.toString(), inbound.invite);
      assert.ok('sdp' in answer);
      ack.setBody(answer.sdp, 'application/sdp');
      uac.ack(ack, destination);
      await run(clock, 2 * T1, 50);
      // The answer came: the next offer is answered.
      const next = crossing();
      await run(clock, 2 * T1, 50);
      assert.equal((await next).status, 200);
      assert.deepEqual(offered, [method]);
      assert.equal(inbound.state, 'confirmed');
    });
  }

  it('the same for an INVITE without SDP: an UPDATE offer before the ACK gets 491, an ACK without the answer a BYE', async () => {
    const { clock, network, uac, ring } = setup();
    network.drop = dropFirst((message) => message.isRequest && message.method === 'ACK');
    const { outbound, inbound } = await ring({ sdp: '' });
    const ours = answerer()(offer(), inbound.invite);
    assert.ok('sdp' in ours);
    const ended = causeOf(inbound);
    inbound.accept(ours.sdp);
    await flush();
    const dialog = outbound.dialog ?? assert.fail('no dialog');
    const update = dialog.createRequest('UPDATE');
    update.append('Contact', uac.contactHeader('udp'));
    update.setBody(offer(), 'application/sdp');
    const crossed = uac.request(update, dialog.destination());
    await flush();
    assert.equal((await crossed).status, 491, network.describe().join(', '));
    await run(clock, 2 * T1, 50);
    const cause = await ended;
    assert.deepEqual([cause.reason, cause.detail], ['bad_answer', 'no SDP answer in the ACK']);
  });
});

describe('an in-dialog request of ours answered so the dialog ends: 481, 408, 404... (RFC 3261 §12.2.1.2, RFC 5057 §5.1)', () => {
  for (const [method, send] of [
    ['REFER', (session: OutboundSession) => session.refer('sip:agent@example.com')],
    ['INFO', (session: OutboundSession) => session.sendInfo('application/dtmf-relay', 'Signal=5\r\n')],
  ] as const) {
    it(`a ${method} answered 481 (the peer has no such dialog) ends the call`, async () => {
      const { clock, network, answered } = setup();
      const { outbound, inbound } = await answered();
      // The far end lost the call without a BYE (a restart): it answers 481 from now on.
      inbound.terminate({ by: 'local', reason: 'shutdown' });
      let cause: TerminationCause | undefined;
      outbound.once('terminated', (ended) => {
        cause = ended;
      });
      const response = send(outbound);
      await run(clock, 2 * T1, 50);
      assert.equal((await response).status, 481);
      assert.deepEqual(
        [cause?.by, cause?.reason, cause?.detail],
        ['local', 'dialog_gone', `${method} answered 481`],
      );
      assert.ok(network.log.some(isRequest('BYE')), 'a BYE, for a dialog the peer may still half hold');
    });
  }

  it('a REFER that times out (408, RFC 3261 §8.1.3.1) ends the call', async () => {
    const { clock, network, answered } = setup();
    const { outbound } = await answered();
    network.drop = (message) => message.isRequest && message.method === 'REFER';
    const response = outbound.refer('sip:agent@example.com');
    await run(clock, 64 * T1 + 1000, 500);
    assert.equal((await response).status, 408);
    assert.equal(outbound.state, 'terminated');
  });

  for (const status of [
    '404 Not Found',
    '410 Gone',
    '482 Loop Detected',
    '502 Bad Gateway',
    '604 Does Not Exist Anywhere',
  ]) {
    it(`a REFER answered ${status} (the dialog is gone, RFC 5057 §5.1) ends the call with BYE`, async () => {
      const { clock, network, answered } = setup();
      network.garble = answerAs('REFER', [status]);
      const { outbound, inbound } = await answered();
      const ended = causeOf(inbound);
      const response = inbound.refer('sip:agent@example.com');
      await run(clock, 2 * T1, 50);
      const code = Number(status.slice(0, 3));
      assert.equal((await response).status, code);
      const cause = await ended;
      assert.deepEqual(
        [cause.by, cause.reason, cause.detail],
        ['local', 'dialog_gone', `REFER answered ${code}`],
      );
      assert.deepEqual(network.log.find(isRequest('BYE'))?.from, BOB);
      assert.equal(outbound.state, 'terminated');
    });
  }

  it('a REFER refused otherwise (403, 405, 501...) only fails the transfer: the call stays up', async () => {
    const { clock, answered } = setup();
    const { outbound, inbound } = await answered();
    const response = inbound.refer('sip:agent@example.com'); // we take no REFER: 405
    await run(clock, 2 * T1, 50);
    assert.equal((await response).status, 405);
    assert.equal(inbound.state, 'confirmed');
    assert.equal(outbound.state, 'confirmed');
  });
});

describe('a BYE before the ACK of our 2xx (RFC 3261 §15, §13.3.1.4)', () => {
  it('is answered 200 and ends the call: the 2xx is not retransmitted any more, and no no-ACK BYE follows', async () => {
    const { clock, network, answered } = setup();
    network.drop = (message) => message.isRequest && message.method === 'ACK';
    const { outbound, inbound } = await answered();
    const inboundEnded = causeOf(inbound);
    await run(clock, T1 / 2, 50);
    void outbound.bye();
    await run(clock, 64 * T1 + 1000, 100);
    assert.deepEqual(await inboundEnded, { by: 'remote', reason: 'bye' });
    assert.ok(network.log.some(isResponse(200, 'BYE')));
    assert.equal(network.log.filter(isRequest('BYE')).length, 1, 'only the caller’s BYE');
    assert.equal(
      network.log.filter(isResponse(200, 'INVITE')).length,
      1,
      'no 2xx retransmission after the BYE',
    );
  });
});
