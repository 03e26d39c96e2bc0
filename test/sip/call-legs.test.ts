/**
 * How a session starts, between two user agents (helpers/session-pair.ts): the INVITE handler,
 * what a failed attempt reports, RFC 4028 §9 answers to the caller's Session-Expires, and who
 * answers later offers.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { OutboundOutcome } from '../../src/sip/call-legs.js';
import type { SipMessage } from '../../src/sip/message.js';
import {
  answerer,
  breakContactOf200,
  closePairs,
  direction,
  flush,
  inDialog,
  isRequest,
  isResponse,
  offer,
  run,
  setup,
  T1,
} from './helpers/session-pair.js';

afterEach(closePairs);

const timer90 = { expires: 90, minSE: 90 };

describe('InboundSession and the INVITE handler', () => {
  it('an INVITE handler that throws gets the INVITE a 500, and the user agent forgets it', async () => {
    const { network, uas, call } = setup({
      onInvite: () => {
        throw new Error('handler bug');
      },
    });
    const session = call();
    await flush();
    const outcome = await session.outcome;
    assert.equal(outcome.kind === 'failed' && outcome.status, 500);
    assert.ok(network.log.some(isResponse(500, 'INVITE')));
    assert.equal(uas.sessionCount, 0);
  });

  it('a throwing confirmed listener does not keep accept() from sending its 200', async () => {
    const errors: unknown[] = [];
    const { call } = setup({
      onInvite: (session) => {
        session.on('confirmed', () => {
          throw new Error('subscriber bug');
        });
        session.on('confirmed', () => errors.push('second listener ran'));
        const answer = answerer()(session.remoteSdp ?? '', session.invite);
        assert.ok('sdp' in answer);
        session.accept(answer.sdp);
      },
    });
    const outcome = call().outcome;
    await flush();
    assert.equal((await outcome).kind, 'answered');
    assert.deepEqual(errors, ['second listener ran']);
  });

  it('an INVITE retransmission read after its transaction ended gets 482 and never makes a second session (RFC 3261 §8.2.2.2)', async () => {
    const { clock, network, incoming, answered } = setup();
    const { outbound } = await answered();
    await outbound.bye();
    await run(clock, 64 * T1 + 1000, 500);
    const invite = network.log.find(isRequest('INVITE'));
    assert.ok(invite?.message.isRequest);
    // The same INVITE, branch and all, as a socket backlog would hand it over a minute late.
    network.transmit(invite.message, invite.from, invite.to);
    await flush();
    assert.equal(incoming.length, 1, 'no second call');
    assert.equal(network.log.filter(isResponse(482, 'INVITE')).length, 1);
    // A new INVITE of the same dialog attempt (next CSeq, as after a 401) is a call as ever.
    const retried = invite.message.clone();
    retried.set('CSeq', '2 INVITE');
    retried.set('Via', 'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-retried');
    network.transmit(retried, invite.from, invite.to);
    await flush();
    assert.equal(incoming.length, 2);
  });

  it('an INVITE is remembered for 5 minutes: the same one read later is a call again, so the memory stays flat', async () => {
    const { clock, network, incoming, answered } = setup();
    const { outbound } = await answered();
    await outbound.bye();
    const invite = network.log.find(isRequest('INVITE'));
    assert.ok(invite?.message.isRequest);
    await run(clock, 4 * 60_000, 1000);
    network.transmit(invite.message, invite.from, invite.to);
    await flush();
    assert.equal(network.log.filter(isResponse(482, 'INVITE')).length, 1, 'still remembered');
    // Past the 5 minutes, and past the transaction that answered 482 (Timer H).
    await run(clock, 60_000 + 64 * T1, 1000);
    network.transmit(invite.message, invite.from, invite.to);
    await flush();
    assert.equal(incoming.length, 2, 'forgotten after 5 minutes: read as a new call');
  });

  it('a malformed Session-Expires gets 400 and never reaches the handler (RFC 3261 §21.4.1)', async () => {
    const { network, incoming, call } = setup();
    call({ headers: [['Session-Expires', 'soon;refresher=uac']] });
    await flush();
    assert.ok(network.log.some(isResponse(400, 'INVITE')));
    assert.equal(incoming.length, 0);
  });
});

describe('RFC 4028 §9: the 200 to a Session-Expires request', () => {
  it("keeps the caller's refresher=uas: the UAS refreshes and the call survives", async () => {
    const { clock, network, answered } = setup({ uacTimer: timer90, uasTimer: timer90 });
    const { outbound, inbound } = await answered({ headers: [['Session-Expires', '90;refresher=uas']] });
    const ok = network.log.find(isResponse(200, 'INVITE'))?.message;
    assert.equal(ok?.get('session-expires'), '90;refresher=uas');
    await run(clock, 2 * 90_000, 100);
    const refreshes = network.log.filter((record) => inDialog('UPDATE')(record.message));
    assert.deepEqual(
      refreshes.map((record) => [record.at, record.from.port]),
      [1, 2, 3, 4].map((k) => [k * 45_000, 5070]),
    );
    assert.equal(network.log.filter(isRequest('BYE')).length, 0);
    assert.equal(outbound.state, 'confirmed');
    assert.equal(inbound.state, 'confirmed');
  });

  it('to a caller without Supported: timer: refresher=uas and no Require: timer', async () => {
    const { network, answered } = setup({ uasTimer: timer90 });
    network.rewrite = (message) => {
      if (message.isRequest && message.method === 'INVITE') message.remove('supported');
    };
    await answered({ headers: [['Session-Expires', '90;refresher=uac']] });
    const ok = network.log.find(isResponse(200, 'INVITE'))?.message;
    assert.equal(ok?.get('session-expires'), '90;refresher=uas');
    assert.equal(ok?.get('require'), undefined);
  });

  it('an interval longer than a timer can hold (2^31 ms) is answered reduced to one it can', async () => {
    // Armed as asked, the 4294967295 s timer would overflow and fire at once: BYE right away.
    const { network, answered } = setup();
    await answered({ headers: [['Session-Expires', '4294967295']] });
    const ok = network.log.find(isResponse(200, 'INVITE'))?.message;
    assert.equal(ok?.get('session-expires'), '2147483;refresher=uac');
  });
});

describe('OutboundSession outcomes and offers', () => {
  const rejectWith = (reason: string) => (message: SipMessage) => {
    if (!message.isRequest && message.status === 486) message.reason = reason;
  };

  it("a failed attempt reports the peer's status and its Reason-Phrase, cleaned and bounded", async () => {
    const { network, ring } = setup();
    network.rewrite = rejectWith(`Busy\u0007 Here\u202e ${'x'.repeat(200)}`);
    const { outbound, inbound } = await ring();
    inbound.reject(486);
    await flush();
    const outcome = await outbound.outcome;
    assert.ok(outcome.kind === 'failed' && outcome.cause === 'response');
    assert.equal(outcome.status, 486);
    assert.equal(outcome.reason, `Busy Here ${'x'.repeat(54)}`);
    assert.equal(outcome.response.status, 486);
  });

  it('an empty Reason-Phrase is reported as the RFC 3261 §21 phrase', async () => {
    const { network, ring } = setup();
    network.rewrite = rejectWith('\t');
    const { outbound, inbound } = await ring();
    inbound.reject(486);
    await flush();
    const outcome = await outbound.outcome;
    assert.ok(outcome.kind === 'failed');
    assert.deepEqual([outcome.cause, outcome.status, outcome.reason], ['response', 486, 'Busy Here']);
  });

  it('no answer at all is a timeout: 408 Request Timeout after Timer B (§17.1.1.2)', async () => {
    const { clock, network, call } = setup();
    network.drop = (message) => message.isRequest;
    const session = call();
    await run(clock, 64 * T1 + 1000, 500);
    const outcome = await session.outcome;
    assert.ok(outcome.kind === 'failed');
    assert.deepEqual(
      [outcome.cause, outcome.status, outcome.reason, outcome.earlyMedia],
      ['timeout', 408, 'Request Timeout', false],
    );
  });

  it('a 2xx whose Contact does not parse is dropped: no ACK, and the attempt times out (Timer B)', async () => {
    const { clock, network, ring } = setup();
    network.garble = breakContactOf200('INVITE');
    const { outbound, inbound } = await ring();
    let outcome: OutboundOutcome | undefined;
    void outbound.outcome.then((settled) => {
      outcome = settled;
    });
    inbound.accept(offer());
    await run(clock, 64 * T1 + 1000, 500);
    assert.ok(network.malformed.length > 1, 'the 2xx and its retransmissions were dropped');
    assert.equal(network.log.filter(isRequest('ACK')).length, 0);
    assert.ok(outcome?.kind === 'failed', 'the attempt ended, so the dial can fail over');
    assert.deepEqual([outcome.cause, outcome.status], ['timeout', 408]);
  });

  it('after a 2xx whose Contact does not parse, its well-formed retransmission answers the call (§13.2.2.4)', async () => {
    const { clock, network, ring } = setup();
    network.garble = breakContactOf200('INVITE', 1);
    const { outbound, inbound } = await ring();
    inbound.accept(offer());
    await run(clock, 4 * T1, 100);
    assert.equal((await outbound.outcome).kind, 'answered');
    assert.equal(network.malformed.length, 1);
    assert.equal(network.log.filter(isRequest('ACK')).length, 1);
    assert.equal(network.log.filter(isRequest('BYE')).length, 0);
    assert.equal(outbound.state, 'confirmed');
    assert.equal(inbound.state, 'confirmed');
  });

  it('the answerOffer of the call options answers the callee re-INVITE; without one it is 488', async () => {
    for (const answerOffer of [answerer(), undefined]) {
      const { answered } = setup();
      const { outbound, inbound } = await answered(answerOffer ? { answerOffer } : {});
      const response = inbound.reinvite(offer('sendonly', outbound.remoteSdp));
      await flush();
      if (answerOffer) {
        assert.equal((await response).status, 200);
        assert.equal(direction(outbound.remoteSdp), 'sendonly');
        assert.equal(direction(inbound.remoteSdp), 'recvonly');
      } else {
        assert.equal((await response).status, 488);
      }
      assert.equal(outbound.state, 'confirmed');
      closePairs();
    }
  });
});

describe('RFC 3262: a caller that requires 100rel', () => {
  it('gets no provisional response but 100, is answered 200, and a PRACK in the dialog gets 481', async () => {
    const { network, answered } = setup();
    const { outbound, inbound } = await answered({ headers: [['Require', '100rel']] });
    inbound.progress(180); // the gateway rings every call; this one it may not tell so unreliably
    inbound.progress(183, offer());
    await flush();
    const provisional = network.log.filter(
      (record) => !record.message.isRequest && record.message.status > 100 && record.message.status < 200,
    );
    assert.deepEqual(provisional, [], 'no 180 or 183 (they would have to be reliable)');
    assert.ok(network.log.some(isResponse(200, 'INVITE')));
    // A PRACK matches no reliable provisional response of ours (§3): the INFO made one on the wire.
    network.rewrite = (message) => {
      if (!inDialog('INFO')(message) || !message.isRequest) return;
      message.method = 'PRACK';
      message.set('CSeq', `${message.cseq().seq} PRACK`);
      message.set('RAck', `1 1 INVITE`);
    };
    void outbound.sendInfo('application/dtmf-relay', 'Signal=1\r\nDuration=100\r\n').catch(() => undefined);
    await flush();
    assert.ok(network.log.some(isResponse(481, 'PRACK')), network.describe().join(', '));
    assert.equal(inbound.state, 'confirmed');
  });

  it('with another tag it lacks, gets 420 naming only that tag', async () => {
    const { network, call } = setup();
    const session = call({ headers: [['Require', '100rel, foo']] });
    await flush();
    const outcome = await session.outcome;
    assert.equal(outcome.kind === 'failed' && outcome.status, 420);
    const refused = network.log.find(isResponse(420, 'INVITE'))?.message;
    assert.equal(refused?.get('unsupported'), 'foo');
  });
});
