/**
 * An offer in an UPDATE of the early dialog our INVITE made (RFC 3311 §5.2), between two user
 * agents (helpers/session-pair.ts): refused with 491 while our offer waits for its answer, and
 * answered once a reliable 183 of that dialog answered it (RFC 3262 §5); the 2xx then confirms
 * the UPDATE's offer as the call's SDP.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { SipMessage } from '../../src/sip/message.js';
import type { OfferAnswerer } from '../../src/sip/session.js';
import { earlyRequest, fromTo } from './helpers/early-requests.js';
import { answerer, closePairs, flush, isResponse, setup } from './helpers/session-pair.js';

afterEach(closePairs);

/** `sdp` with its audio port changed: the callee's new offer. */
const movedPort = (sdp: string) => sdp.replace(/^m=audio \d+/m, 'm=audio 40998');

/**
 * A call whose callee sent a 183 (reliable unless `reliable` is false, with its answer unless
 * `withAnswer` is false), and that 183 as we got it. Our INVITE answers offers with `answerOffer`.
 */
async function earlyDialog(options: {
  reliable?: boolean;
  withAnswer?: boolean;
  answerOffer?: OfferAnswerer;
}) {
  const pair = setup();
  pair.network.rewrite = (message: SipMessage) => {
    if (message.isRequest) {
      return;
    }
    if (message.status === 183 && options.reliable !== false) {
      message.set('Require', '100rel');
      message.set('RSeq', '1');
    }
    // The 2xx carries no SDP, as after a reliable answer it need not (RFC 3262 §5).
    if (message.status === 200 && message.cseq().method === 'INVITE') message.setBody('');
  };
  const { outbound, inbound } = await pair.ring(
    options.answerOffer ? { answerOffer: options.answerOffer } : {},
  );
  const answer = answerer()(inbound.remoteSdp ?? '', inbound.invite);
  assert.ok('sdp' in answer);
  inbound.progress(183, options.withAnswer === false ? undefined : answer.sdp);
  await flush();
  const progress = pair.network.log.find(isResponse(183, 'INVITE'))?.message ?? assert.fail('no 183');
  return { ...pair, outbound, inbound, answer: answer.sdp, progress };
}

/** The callee's UPDATE in the early dialog with `sdp` as its offer, and our response. */
async function calleeOffers(dialog: Awaited<ReturnType<typeof earlyDialog>>, sdp: string) {
  const update = earlyRequest(dialog.progress, 'UPDATE', {
    cseq: 2,
    fromCaller: false,
    body: sdp,
    branch: 'eu1',
  });
  dialog.network.transmit(update, ...fromTo(false));
  await flush();
  return dialog.network.log.find(
    (record) => !record.message.isRequest && record.message.cseq().method === 'UPDATE',
  )?.message;
}

describe('RFC 3311 §5.2: an offer in an UPDATE of our early dialog', () => {
  it('after a reliable 183 answered our offer, it is answered (200 with SDP), and the 2xx without SDP confirms it', async () => {
    const dialog = await earlyDialog({ answerOffer: answerer() });
    const newOffer = movedPort(dialog.answer);
    const response = await calleeOffers(dialog, newOffer);
    assert.ok(response && !response.isRequest, dialog.network.describe().join(', '));
    assert.equal(response.status, 200);
    assert.equal(response.get('content-type'), 'application/sdp');
    assert.match(response.body.toString(), /^m=audio \d+ RTP\/AVP 0/m);
    assert.ok(response.get('contact'));
    assert.equal(dialog.outbound.remoteSdp, newOffer);
    dialog.inbound.accept(dialog.answer);
    await flush();
    assert.equal((await dialog.outbound.outcome).kind, 'answered');
    assert.equal(dialog.outbound.remoteSdp, newOffer, "the UPDATE's offer, not the 183's answer");
    assert.equal(dialog.outbound.lastLocalSdp, response.body.toString());
    assert.equal(dialog.outbound.dialog?.remoteSeq, 2, "the callee's CSeq goes on from its UPDATE");
  });

  it('without an answerer of offers it gets 488 and the call goes on with the 183’s answer', async () => {
    const dialog = await earlyDialog({});
    const response = await calleeOffers(dialog, movedPort(dialog.answer));
    assert.equal(response && !response.isRequest && response.status, 488);
    dialog.inbound.accept(dialog.answer);
    await flush();
    assert.equal((await dialog.outbound.outcome).kind, 'answered');
    assert.equal(dialog.outbound.remoteSdp, dialog.answer);
  });

  for (const [name, options] of [
    ['a reliable 183 without SDP', { withAnswer: false }],
    ['an unreliable 183 with SDP', { reliable: false }],
  ] as const) {
    it(`after ${name} our offer still waits for its answer: 491`, async () => {
      const dialog = await earlyDialog({ ...options, answerOffer: answerer() });
      const response = await calleeOffers(dialog, movedPort(dialog.answer));
      assert.equal(response && !response.isRequest && response.status, 491);
    });
  }
});
