/**
 * Reliable provisional responses to our INVITE (RFC 3262, UAC side), between two user agents
 * (helpers/session-pair.ts): the callee's 183 is made reliable on the wire (Require: 100rel and
 * an RSeq), and our PRACKs, their CSeqs, the offer's answer and the 421 retry are checked.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Dialog } from '../../src/sip/dialog.js';
import { type SipMessage, SipRequest, type SipResponse } from '../../src/sip/message.js';
import { createResponse } from '../../src/sip/message-ops.js';
import {
  acceptsOnlyWith100rel,
  ReliableProvisionals,
  reliableRSeq,
} from '../../src/sip/reliable-provisionals.js';
import {
  answerer,
  BOB,
  closePairs,
  flush,
  isRequest,
  isResponse,
  offer,
  setup,
} from './helpers/session-pair.js';

afterEach(closePairs);

/** A `rewrite` rule giving the callee's 183s Require: 100rel and the next of `rseqs` as RSeq. */
function reliable183(...rseqs: string[]) {
  const left = [...rseqs];
  return (message: SipMessage): void => {
    if (message.isRequest || message.status !== 183) return;
    const rseq = left.shift();
    if (rseq === undefined) return;
    message.set('Require', '100rel');
    message.set('RSeq', rseq);
  };
}

const pracks = (network: ReturnType<typeof setup>['network']) =>
  network.log.filter(isRequest('PRACK')).map((record) => record.message as SipRequest);

/**
 * A call ringing with a 183 carrying the callee's SDP, and the progress events it reported;
 * with `sessionTimer`, our INVITE asks for session timers (RFC 4028).
 */
async function ringing(rewrite: (message: SipMessage) => void, sessionTimer = false) {
  const pair = setup(sessionTimer ? { uacTimer: { expires: 1800, minSE: 90 } } : {});
  pair.network.rewrite = rewrite;
  const { outbound, inbound } = await pair.ring(sessionTimer ? { sessionTimer } : {});
  const progress: SipResponse[] = [];
  outbound.on('progress', (response) => progress.push(response));
  const answer = answerer()(inbound.remoteSdp ?? '', inbound.invite);
  assert.ok('sdp' in answer);
  inbound.progress(183, answer.sdp);
  await flush();
  return { ...pair, outbound, inbound, progress, answer: answer.sdp };
}

describe('RFC 3262 §4: our PRACK for a reliable provisional response', () => {
  it('PRACKs a reliable 183 in its early dialog: its Contact, reversed Record-Route, To tag, CSeq 2 and RAck: 7 1 INVITE', async () => {
    const { network, progress } = await ringing((message) => {
      reliable183('7')(message);
      if (!message.isRequest && message.status === 183)
        message.set('Record-Route', '<sip:p1.example;lr>, <sip:p2.example;lr>');
    });
    const invite = network.log.find(isRequest('INVITE'))?.message as SipRequest;
    const provisional = network.log.find(isResponse(183, 'INVITE'))?.message as SipResponse;
    assert.equal(invite.cseq().seq, 1);
    const [prack, ...more] = pracks(network);
    assert.ok(prack, network.describe().join(', '));
    assert.equal(more.length, 0);
    assert.equal(prack.get('rack'), '7 1 INVITE');
    assert.equal(prack.get('cseq'), '2 PRACK');
    assert.equal(prack.uri, provisional.get('contact')?.replace(/^<|>$/g, ''));
    assert.equal(prack.toTag(), provisional.toTag());
    assert.equal(prack.fromTag(), invite.fromTag());
    assert.equal(prack.callId(), invite.callId());
    assert.deepEqual(prack.getAll('route'), ['<sip:p2.example;lr>', '<sip:p1.example;lr>']);
    assert.equal(prack.body.length, 0, 'no SDP in the PRACK');
    assert.equal(progress.length, 1);
  });

  it('a retransmitted 183 (same RSeq) gets no second PRACK and is not reported again', async () => {
    const { network, progress } = await ringing(reliable183('7', '7'));
    const provisional = network.log.find(isResponse(183, 'INVITE'));
    assert.ok(provisional);
    network.transmit(provisional.message, provisional.from, provisional.to);
    await flush();
    assert.equal(network.log.filter(isResponse(183, 'INVITE')).length, 2);
    assert.equal(pracks(network).length, 1);
    assert.equal(progress.length, 1);
  });

  it('an RSeq not one above the last acknowledged is discarded; the next in order is PRACKed with CSeq 3', async () => {
    const { network, inbound, progress } = await ringing(reliable183('7', '9', '8'));
    inbound.progress(183);
    await flush();
    assert.deepEqual(
      pracks(network).map((prack) => prack.get('rack')),
      ['7 1 INVITE'],
      '9 after 7 is out of order',
    );
    assert.equal(progress.length, 1);
    inbound.progress(183);
    await flush();
    assert.deepEqual(
      pracks(network).map((prack) => [prack.get('rack'), prack.get('cseq')]),
      [
        ['7 1 INVITE', '2 PRACK'],
        ['8 1 INVITE', '3 PRACK'],
      ],
    );
    assert.equal(progress.length, 2);
  });

  it('an RSeq of 0 or above 2^31-1, or not digits, makes the response unreliable: no PRACK, still progress', async () => {
    const { network, inbound, progress } = await ringing(reliable183('0', '2147483648', '+5'));
    inbound.progress(183);
    inbound.progress(183);
    await flush();
    assert.equal(pracks(network).length, 0);
    assert.equal(progress.length, 3);
  });

  it('each early dialog (fork) has its own RSeq and CSeq: two forks are PRACKed with CSeq 2 each', async () => {
    let forks = 0;
    const { network, inbound } = await ringing((message) => {
      if (message.isRequest || message.status !== 183) return;
      message.set('Require', '100rel');
      message.set('RSeq', '7');
      if (forks++ === 1) message.set('To', `${message.get('to')?.replace(/;tag=.*$/, '')};tag=fork-b`);
    });
    inbound.progress(183);
    await flush();
    assert.deepEqual(
      pracks(network).map((prack) => [prack.toTag() === 'fork-b', prack.get('cseq'), prack.get('rack')]),
      [
        [false, '2 PRACK', '7 1 INVITE'],
        [true, '2 PRACK', '7 1 INVITE'],
      ],
    );
  });
});

describe('RFC 3262 with the call answered', () => {
  it("the BYE after the 200 has a CSeq above the PRACK's (RFC 3261 §12.2.1.1)", async () => {
    const { network, inbound, outbound, answer } = await ringing(reliable183('7'));
    inbound.accept(answer);
    await flush();
    assert.equal((await outbound.outcome).kind, 'answered');
    await outbound.bye();
    const [prack] = pracks(network);
    const bye = network.log.find(isRequest('BYE'))?.message;
    assert.ok(prack && bye);
    assert.equal(prack.cseq().seq, 2);
    assert.equal(bye.cseq().seq, 3);
  });

  it("a 200 without SDP after a reliable 183 with SDP answers the call with the 183's SDP (§5)", async () => {
    const { network, inbound, outbound, answer } = await ringing(reliable183('1'));
    network.rewrite = (message) => {
      if (!message.isRequest && message.status === 200 && message.cseq().method === 'INVITE')
        message.setBody('');
    };
    inbound.accept(answer);
    await flush();
    const outcome = await outbound.outcome;
    assert.equal(outcome.kind, 'answered');
    assert.equal(outcome.response.body.length, 0);
    assert.equal(outbound.remoteSdp, answer);
    assert.equal(outbound.state, 'confirmed');
    assert.equal(pracks(network).length, 1);
  });
});

describe('RFC 3261 §13.2.1: the answer is the first SDP in a reliable response', () => {
  /** `sdp` with its audio port changed: another answer than the one the 183 gave. */
  const movedPort = (sdp: string) => sdp.replace(/^m=audio \d+/m, 'm=audio 40998');

  /** A call ringing with 183s as `rewrite` makes them, answered by a 200 with other SDP. */
  async function answeredWithOtherSdp(rewrite: (message: SipMessage) => void) {
    const call = await ringing(rewrite);
    call.network.rewrite = (message) => {
      if (!message.isRequest && message.status === 200 && message.cseq().method === 'INVITE')
        message.setBody(movedPort(call.answer), 'application/sdp');
    };
    call.inbound.accept(call.answer);
    await flush();
    assert.equal((await call.outbound.outcome).kind, 'answered');
    return call;
  }

  it("a 200 with other SDP after a reliable 183's answer: the 183's answer stands", async () => {
    const { outbound, answer } = await answeredWithOtherSdp(reliable183('1'));
    assert.equal(outbound.remoteSdp, answer);
  });

  it("after an unreliable 183 with SDP, the 200's SDP is the answer", async () => {
    const { outbound, answer } = await answeredWithOtherSdp(() => undefined);
    assert.equal(outbound.remoteSdp, movedPort(answer));
  });

  it('two forks answer in reliable 183s; the 200 without SDP takes the answer of its own fork', async () => {
    let forks = 0;
    const { network, inbound, outbound, answer } = await ringing((message) => {
      if (message.isRequest || message.status !== 183) return;
      message.set('Require', '100rel');
      message.set('RSeq', '1');
      if (forks++ === 1) message.set('To', `${message.get('to')?.replace(/;tag=.*$/, '')};tag=fork-b`);
    });
    inbound.progress(183, movedPort(answer));
    await flush();
    assert.equal(outbound.remoteSdp, movedPort(answer), "fork b's 183 came last");
    network.rewrite = (message) => {
      if (!message.isRequest && message.status === 200 && message.cseq().method === 'INVITE')
        message.setBody('');
    };
    inbound.accept(answer);
    await flush();
    assert.equal((await outbound.outcome).kind, 'answered');
    assert.equal(outbound.remoteSdp, answer);
  });
});

describe('RFC 3262 with the call retried', () => {
  it("a retry after a reliable 183 takes a CSeq above the PRACK's (RFC 3261 §8.1.3.5)", async () => {
    const { network, inbound } = await ringing(reliable183('1'), true);
    inbound.reject(422, [['Min-SE', '3600']]);
    await flush();
    const invites = network.log.filter(isRequest('INVITE')).map((record) => record.message as SipRequest);
    assert.equal(invites.length, 2, network.describe().join(', '));
    assert.deepEqual(
      pracks(network).map((prack) => prack.cseq().seq),
      [2],
    );
    assert.equal(invites[1]?.cseq().seq, 3);
    assert.equal(invites[1]?.get('session-expires')?.split(';')[0], '3600');
  });
});

describe('RFC 3261 §21.4.15: a 421 Extension Required to our INVITE', () => {
  it('our first INVITE supports timer only; a 421 requiring 100rel is retried once supporting it, and a second 421 fails the call', async () => {
    const { network, incoming, call } = setup();
    const session = call();
    await flush();
    incoming[0]?.reject(421, [['Require', '100rel']]);
    await flush();
    const invites = network.log.filter(isRequest('INVITE')).map((record) => record.message as SipRequest);
    assert.equal(invites.length, 2, network.describe().join(', '));
    const [first, retry] = invites as [SipRequest, SipRequest];
    assert.equal(first.get('supported'), 'timer');
    assert.ok(retry.listValues('supported').includes('100rel'));
    assert.ok(retry.listValues('supported').includes('timer'));
    assert.deepEqual(
      [retry.callId(), retry.fromTag(), retry.cseq().seq],
      [first.callId(), first.fromTag(), 2],
    );
    incoming[1]?.reject(421, [['Require', '100rel']]);
    await flush();
    const outcome = await session.outcome;
    assert.equal(outcome.kind === 'failed' && outcome.status, 421);
    assert.equal(network.log.filter(isRequest('INVITE')).length, 2);
  });

  it('a 421 requiring 100rel is retried and the retry can be answered', async () => {
    const { incoming, call } = setup();
    const session = call();
    await flush();
    incoming[0]?.reject(421, [['Require', '100REL']]);
    await flush();
    incoming[1]?.accept(offer());
    await flush();
    assert.equal((await session.outcome).kind, 'answered');
  });

  for (const require of ['foo', '100rel, foo']) {
    it(`a 421 requiring ${require} fails the call at once`, async () => {
      const { network, incoming, call } = setup();
      const session = call();
      await flush();
      incoming[0]?.reject(421, [['Require', require]]);
      await flush();
      const outcome = await session.outcome;
      assert.equal(outcome.kind === 'failed' && outcome.status, 421);
      assert.equal(network.log.filter(isRequest('INVITE')).length, 1);
    });
  }
});

describe('reliable-provisionals.ts', () => {
  /** Our INVITE with CSeq 2 (a retry), and its callee's responses with the To tag callee. */
  const invite = new SipRequest('INVITE', 'sip:bob@127.0.0.1:5070');
  invite.append('Via', 'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1');
  invite.append('From', '<sip:alice@127.0.0.1>;tag=caller');
  invite.append('To', '<sip:bob@127.0.0.1>');
  invite.append('Call-ID', 'call-1');
  invite.append('CSeq', '2 INVITE');
  const provisional = (headers: Array<[string, string]>, status = 183): SipResponse => {
    const message = createResponse(invite, status);
    message.set('To', '<sip:bob@127.0.0.1>;tag=callee');
    message.append('Contact', '<sip:bob@127.0.0.1:5070>');
    for (const [name, value] of headers) message.append(name, value);
    return message;
  };
  /** A reliable 183 (Require: 100rel) with RSeq `rseq`. */
  const reliableWith = (rseq: string) =>
    provisional([
      ['Require', '100rel'],
      ['RSeq', rseq],
    ]);

  it('reliableRSeq: Require lists 100rel (any case, in a list) and RSeq is 1..2^31-1 in digits', () => {
    assert.equal(
      reliableRSeq(
        provisional([
          ['Require', '100rel'],
          ['RSeq', '1'],
        ]),
      ),
      1,
    );
    assert.equal(
      reliableRSeq(
        provisional([
          ['Require', 'timer, 100REL'],
          ['RSeq', '2147483647'],
        ]),
      ),
      2147483647,
    );
    assert.equal(
      reliableRSeq(
        provisional([
          ['Require', 'timer'],
          ['RSeq', '1'],
        ]),
      ),
      undefined,
    );
    assert.equal(reliableRSeq(provisional([['Require', '100rel']])), undefined);
    for (const rseq of ['0', '2147483648', '-1', '+1', '1.5', 'abc', '99999999999999999999'])
      assert.equal(
        reliableRSeq(
          provisional([
            ['Require', '100rel'],
            ['RSeq', rseq],
          ]),
        ),
        undefined,
        rseq,
      );
    assert.equal(
      reliableRSeq(
        provisional(
          [
            ['Require', '100rel'],
            ['RSeq', '1'],
          ],
          100,
        ),
      ),
      undefined,
    );
  });

  it('acceptsOnlyWith100rel: a 421 whose Require lists 100rel and nothing we lack', () => {
    const extensionRequired = (require: string) => provisional([['Require', require]], 421);
    assert.equal(acceptsOnlyWith100rel(extensionRequired('100rel')), true);
    assert.equal(acceptsOnlyWith100rel(extensionRequired('timer, 100Rel')), true);
    assert.equal(acceptsOnlyWith100rel(extensionRequired('timer')), false);
    assert.equal(acceptsOnlyWith100rel(extensionRequired('100rel, foo')), false);
    assert.equal(acceptsOnlyWith100rel(provisional([], 421)), false);
  });

  it('ReliableProvisionals: the confirmed dialog continues above the PRACKs of its early dialog', () => {
    const reliable = new ReliableProvisionals();
    const first = reliable.receive(invite, reliableWith('5'), BOB);
    assert.ok(first.kind === 'acknowledge');
    assert.equal(first.prack.get('cseq'), '3 PRACK');
    assert.equal(first.prack.get('rack'), '5 2 INVITE');
    const second = reliable.receive(invite, reliableWith('6'), BOB);
    assert.ok(second.kind === 'acknowledge');
    assert.equal(second.prack.get('cseq'), '4 PRACK');
    const dialog = Dialog.forUac(invite, provisional([]), BOB);
    assert.equal(dialog.localSeq, 3);
    reliable.continueLocalSeq(dialog);
    assert.equal(dialog.localSeq, 5);
  });

  it('ReliableProvisionals: a retry of the INVITE goes above its CSeq and every PRACK sent', () => {
    const reliable = new ReliableProvisionals();
    assert.equal(reliable.nextLocalSeq(invite), 3);
    reliable.receive(invite, reliableWith('1'), BOB);
    assert.equal(reliable.nextLocalSeq(invite), 4);
  });
});
