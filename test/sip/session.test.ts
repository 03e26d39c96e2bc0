/**
 * Session-level tests between two user agents (helpers/session-pair.ts). Covers call setup
 * and BYE, 2xx retransmission until ACK (RFC 3261 §13.3.1.4), hold/unhold re-INVITEs
 * (RFC 3264 §8.4), UPDATE (RFC 3311) and CANCEL (§9); session timers are in session-timers.test.ts.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { OutboundOutcome } from '../../src/sip/call-legs.js';
import type { SipRequest } from '../../src/sip/message.js';
import { parseMessage, serializeMessage } from '../../src/sip/parser.js';
import type { WireRecord } from './helpers/memory-transport.js';
import {
  ALICE,
  answerer,
  BOB,
  causeOf,
  closePairs,
  direction,
  dropFirst,
  flush,
  inDialog,
  isRequest,
  isResponse,
  offer,
  originVersion,
  run,
  setup,
  T1,
  T2,
} from './helpers/session-pair.js';

afterEach(closePairs);

describe('SIP sessions between two user agents (FakeClock, in-memory UDP)', () => {
  it('1. basic call: INVITE, 180, 200 with SDP, ACK reaches the UAS', async () => {
    const { clock, network, ring } = setup();
    const { outbound, inbound } = await ring();
    assert.equal(inbound.state, 'initial');
    assert.equal(originVersion(inbound.remoteSdp), 1);
    const progress: number[] = [];
    outbound.on('progress', (response) => progress.push(response.status));

    inbound.progress(180);
    await flush();
    assert.deepEqual(progress, [180]);
    assert.equal(outbound.state, 'early');

    const answer = answerer()(inbound.remoteSdp ?? '', inbound.invite);
    assert.ok('sdp' in answer);
    inbound.accept(answer.sdp);
    await flush();
    const outcome: OutboundOutcome = await outbound.outcome;
    assert.equal(outcome.kind, 'answered');
    assert.equal(outbound.state, 'confirmed');
    assert.equal(inbound.state, 'confirmed');
    assert.equal(outbound.remoteSdp, answer.sdp);
    assert.deepEqual(network.describe(), ['INVITE', '180 INVITE', '200 INVITE', 'ACK']);
    const ack = network.log.find(isRequest('ACK'));
    assert.deepEqual(ack?.to, BOB);
    assert.equal(ack?.message.cseq().seq, 1);
    assert.equal(outbound.dialog?.key.split('|')[0], inbound.dialog?.key.split('|')[0]);
    // The ACK reached the UAS session: its 2xx retransmission timer stopped (§13.3.1.4).
    await run(clock, 10 * T1);
    assert.equal(network.log.filter(isResponse(200, 'INVITE')).length, 1);
  });

  for (const side of ['uac', 'uas'] as const) {
    it(`1. BYE from the ${side} ends both sessions`, async () => {
      const { clock, network, uac, uas, answered } = setup();
      const { outbound, inbound } = await answered();
      const [local, remote] = side === 'uac' ? [outbound, inbound] : [inbound, outbound];
      const localEnded = causeOf(local);
      const remoteEnded = causeOf(remote);
      const bye = local.bye();
      await flush();
      await bye;
      assert.deepEqual(await localEnded, { by: 'local', reason: 'hangup' });
      assert.deepEqual(await remoteEnded, { by: 'remote', reason: 'bye' });
      assert.deepEqual(network.describe().slice(-2), ['BYE', '200 BYE']);
      assert.deepEqual(network.log.find(isRequest('BYE'))?.from, side === 'uac' ? ALICE : BOB);
      assert.equal(uac.sessionCount, 0);
      assert.equal(uas.sessionCount, 0);
      // Nothing is retransmitted afterwards (the 2xx was ACKed, the BYE answered).
      const sent = network.log.length;
      await run(clock, 64 * T1, 100);
      assert.equal(network.log.length, sent);
    });
  }

  it('1. a 2xx from a second fork is ACKed on its own dialog and ended with BYE (§13.2.2.4)', async () => {
    const { clock, network, answered } = setup();
    const { outbound, inbound } = await answered();
    const first = network.log.find(isResponse(200, 'INVITE'));
    assert.ok(first);
    const firstTag = first.message.isRequest ? '' : (first.message.toTag() ?? '');
    // What a forking proxy would pass on from another branch: the same 200 with a new To tag.
    const forked = parseMessage(
      Buffer.from(serializeMessage(first.message).toString().replace(`tag=${firstTag}`, 'tag=fork2')),
    );
    network.transmit(forked, BOB, ALICE);
    network.transmit(forked, BOB, ALICE); // and its retransmission
    await run(clock, 4 * T1);
    const toFork = (method: string) =>
      network.log.filter((r) => isRequest(method)(r) && r.message.toTag() === 'fork2').length;
    assert.equal(toFork('ACK'), 2, 'each copy of the forked 2xx is ACKed');
    assert.equal(toFork('BYE'), 1, 'the extra dialog is ended once');
    assert.equal(outbound.state, 'confirmed', 'the first dialog is untouched');
    assert.equal(inbound.state, 'confirmed');
  });

  describe('2. 2xx retransmission until ACK (RFC 3261 §13.3.1.4)', () => {
    it('the UAS resends 200 at T1 after a lost ACK; the re-sent ACK stops it', async () => {
      const { clock, network, answered } = setup();
      network.drop = dropFirst((message) => message.isRequest && message.method === 'ACK');
      const { outbound, inbound } = await answered();
      await run(clock, 20 * T1);
      const oks = network.log.filter(isResponse(200, 'INVITE'));
      assert.deepEqual(
        oks.map((record) => record.at),
        [0, T1],
      );
      const sentAcks = network.log.filter(isRequest('ACK'));
      assert.deepEqual(
        sentAcks.map(({ at, dropped }) => ({ at, dropped })),
        [
          { at: 0, dropped: true },
          { at: T1, dropped: false },
        ],
      );
      assert.equal(inbound.state, 'confirmed');
      assert.equal(outbound.state, 'confirmed');
    });

    it('the re-sent ACK is the same ACK: one Via, same branch and CSeq (§13.2.2.4)', async () => {
      const { clock, network, answered } = setup();
      network.drop = dropFirst((message) => message.isRequest && message.method === 'ACK');
      await answered();
      await run(clock, 2 * T1);
      const [first, second] = network.log.filter(isRequest('ACK')).map((record) => record.message);
      assert.ok(first && second);
      assert.equal(second.getAll('via').length, 1, second.getAll('via').join(' / '));
      assert.deepEqual(second.getAll('via'), first.getAll('via'));
      assert.equal(second.cseq().seq, first.cseq().seq);
    });

    it('without any ACK the UAS retransmits T1, 2T1 … T2 and gives up with BYE after 64*T1', async () => {
      const { clock, network, answered } = setup();
      network.drop = (message) => message.isRequest && message.method === 'ACK';
      const { outbound, inbound } = await answered();
      const inboundEnded = causeOf(inbound);
      const outboundEnded = causeOf(outbound);
      await run(clock, 64 * T1 + 2 * T2, 100);
      const times = network.log.filter(isResponse(200, 'INVITE')).map((record) => record.at);
      // 0, then T1, 2T1, 4T1 … capped at T2.
      assert.deepEqual(times.slice(0, 6), [0, 500, 1500, 3500, 7500, 11500]);
      assert.ok(times.every((at) => at < 64 * T1));
      const bye = network.log.find(isRequest('BYE'));
      assert.ok(bye, 'the UAS sent BYE');
      assert.deepEqual(bye.from, BOB);
      // RFC 3261 §13.3.1.4: the BYE goes out at 64*T1 exactly.
      assert.equal(bye.at, 64 * T1);
      assert.deepEqual(await inboundEnded, { by: 'local', reason: 'no_ack' });
      assert.deepEqual(await outboundEnded, { by: 'remote', reason: 'bye' });
    });

    it('over TCP the 2xx goes once, and without an ACK the UAS still gives up with BYE at 64*T1', async () => {
      const { clock, network, answered } = setup({ transport: 'tcp' });
      network.drop = (message) => message.isRequest && message.method === 'ACK';
      const { outbound, inbound } = await answered();
      const inboundEnded = causeOf(inbound);
      const outboundEnded = causeOf(outbound);
      await run(clock, 64 * T1 - 100, 100);
      assert.equal(inbound.state, 'confirmed', 'up until 64*T1');
      await run(clock, 200, 100);
      assert.deepEqual(
        network.log.filter(isResponse(200, 'INVITE')).map((record) => record.at),
        [0],
        'the transport carries the 2xx: no retransmission',
      );
      assert.equal(network.log.find(isRequest('BYE'))?.at, 64 * T1);
      assert.deepEqual(await inboundEnded, { by: 'local', reason: 'no_ack' });
      assert.deepEqual(await outboundEnded, { by: 'remote', reason: 'bye' });
    });

    it('an ACK over TCP cancels the give-up: the session stays up', async () => {
      const { clock, answered } = setup({ transport: 'tcp' });
      const { inbound } = await answered();
      await run(clock, 64 * T1 + T2, 500);
      assert.equal(inbound.state, 'confirmed');
    });

    it('a lost ACK for a re-INVITE 2xx is re-sent when the 2xx is retransmitted', async () => {
      const { clock, network, answered } = setup();
      const { outbound, inbound } = await answered();
      network.drop = dropFirst((message) => inDialog('ACK')(message) && message.cseq().seq === 2);
      const response = outbound.reinvite(offer('sendonly', offer()));
      await flush();
      assert.equal((await response).status, 200);
      await run(clock, 64 * T1 + 2 * T2, 100);
      const acks = network.log.filter(
        (record) => isRequest('ACK')(record) && record.message.cseq().seq === 2,
      );
      assert.ok(acks.length >= 2, `re-INVITE ACKs sent: ${acks.length}`);
      assert.equal(network.log.filter(isRequest('BYE')).length, 0);
      assert.equal(inbound.state, 'confirmed');
    });
  });

  it('a lost ACK, then the next re-INVITE at once: both 2xx are ACKed in the end and the call stays up', async () => {
    const { clock, network, answered } = setup();
    const { outbound, inbound } = await answered();
    network.drop = dropFirst((message) => inDialog('ACK')(message) && message.cseq().seq === 2);
    const first = outbound.reinvite(offer('sendonly', offer()));
    await flush();
    assert.equal((await first).status, 200);
    const second = outbound.reinvite(offer('sendrecv', offer('sendonly', offer())));
    await flush();
    assert.equal((await second).status, 200);
    await run(clock, 64 * T1 + 2 * T2, 100);
    assert.equal(network.log.filter(isRequest('BYE')).length, 0, 'no BYE for the ACK that was only late');
    assert.equal(inbound.state, 'confirmed');
  });

  it('the callee hanging up before the ACK of its 200 arrived sends BYE only after it (RFC 3261 §15)', async () => {
    const { clock, network, ring } = setup();
    const { outbound, inbound } = await ring();
    network.drop = dropFirst((message) => message.isRequest && message.method === 'ACK');
    const answer = answerer()(inbound.remoteSdp ?? '', inbound.invite);
    assert.ok('sdp' in answer);
    inbound.accept(answer.sdp);
    await flush();
    void inbound.bye();
    await run(clock, 4 * T1, 50);
    const order = network.describe();
    const [delivered, bye] = [order.indexOf('ACK'), order.indexOf('BYE')];
    assert.ok(delivered !== -1 && bye > delivered, `the BYE after a delivered ACK: ${order.join(', ')}`);
    assert.equal(outbound.state, 'terminated');
  });

  it('3. re-INVITE hold and unhold (RFC 3264 §8.4)', async () => {
    const { network, answered } = setup();
    const { outbound, inbound } = await answered();
    const initialAnswer = outbound.remoteSdp;
    assert.equal(direction(initialAnswer), 'sendrecv');
    const answerVersion = originVersion(initialAnswer);

    const reinvite = async (sdp: string) => {
      const response = outbound.reinvite(sdp);
      await flush();
      return response;
    };
    const hold = offer('sendonly', offer());
    const held = await reinvite(hold);
    assert.equal(held.status, 200);
    assert.equal(direction(inbound.remoteSdp), 'sendonly');
    assert.equal(originVersion(inbound.remoteSdp), 2);
    assert.equal(direction(outbound.remoteSdp), 'recvonly');
    assert.equal(originVersion(outbound.remoteSdp), answerVersion + 1);

    // The same offer again (e.g. a session refresh): unchanged answer, unchanged version.
    const again = await reinvite(hold);
    assert.equal(again.status, 200);
    assert.equal(direction(outbound.remoteSdp), 'recvonly');
    assert.equal(originVersion(outbound.remoteSdp), answerVersion + 1);

    const unheld = await reinvite(offer('sendrecv', hold));
    assert.equal(unheld.status, 200);
    assert.equal(direction(inbound.remoteSdp), 'sendrecv');
    assert.equal(direction(outbound.remoteSdp), 'sendrecv');
    assert.equal(originVersion(outbound.remoteSdp), answerVersion + 2);

    // Each re-INVITE was ACKed with its own CSeq (§13.2.2.4).
    const acks = network.log.filter(isRequest('ACK')).map((record) => record.message.cseq().seq);
    assert.deepEqual(acks, [1, 2, 3, 4]);
    assert.equal(inbound.state, 'confirmed');
  });

  it('glare: re-INVITEs that cross are each answered 491, and a later one goes through (RFC 3261 §14)', async () => {
    const { answered } = setup();
    const { outbound, inbound } = await answered();
    const fromCaller = outbound.reinvite(offer('sendonly', offer()));
    const fromCallee = inbound.reinvite(offer());
    await assert.rejects(outbound.reinvite(offer()), /already in progress/, 'one re-INVITE at a time');
    await flush();
    assert.deepEqual([(await fromCaller).status, (await fromCallee).status], [491, 491]);
    const retried = outbound.reinvite(offer('sendonly', offer()));
    await flush();
    assert.equal((await retried).status, 200);
    assert.equal(direction(inbound.remoteSdp), 'sendonly');
  });

  it("a caller's BYE on the early dialog gets 200, and its INVITE 487 (RFC 3261 §15)", async () => {
    const { network, ring } = setup();
    const { outbound, inbound } = await ring();
    const ended = causeOf(inbound);
    inbound.progress(180);
    await flush();
    const ringing = network.log.find(isResponse(180, 'INVITE'))?.message ?? assert.fail('no 180');
    const bye = [
      'BYE sip:bob@127.0.0.1:5070 SIP/2.0',
      'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-early-bye',
      'Max-Forwards: 70',
      `From: ${ringing.get('from')}`,
      `To: ${ringing.get('to')}`,
      `Call-ID: ${ringing.callId()}`,
      'CSeq: 2 BYE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    network.transmit(Buffer.from(bye), ALICE, BOB);
    await flush();
    assert.ok(network.log.some(isResponse(200, 'BYE')), network.describe().join(', '));
    assert.ok(network.log.some(isResponse(487, 'INVITE')), network.describe().join(', '));
    assert.deepEqual(await ended, { by: 'remote', reason: 'cancel', status: 487 });
    assert.equal((await outbound.outcome).kind, 'failed');
  });

  it('a BYE matching no dialog gets 481 and leaves a ringing call of another Call-ID ringing (§15)', async () => {
    const { network, ring } = setup();
    const { inbound } = await ring();
    inbound.progress(180);
    await flush();
    const ringing = network.log.find(isResponse(180, 'INVITE'))?.message ?? assert.fail('no 180');
    const stray = (callId: string, toTag: string) =>
      [
        'BYE sip:bob@127.0.0.1:5070 SIP/2.0',
        `Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-stray-${callId.length}-${toTag}`,
        'Max-Forwards: 70',
        `From: ${ringing.get('from')}`,
        `To: <sip:bob@127.0.0.1>;tag=${toTag}`,
        `Call-ID: ${callId}`,
        'CSeq: 2 BYE',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
    // Another Call-ID, then the ringing call's own Call-ID with a To tag it never had.
    network.transmit(Buffer.from(stray(`other-${ringing.callId()}`, 'x1')), ALICE, BOB);
    network.transmit(Buffer.from(stray(ringing.callId(), 'x2')), ALICE, BOB);
    await flush();
    assert.equal(network.log.filter(isResponse(481, 'BYE')).length, 2, network.describe().join(', '));
    assert.equal(inbound.state, 'early');
    assert.ok(!network.log.some(isResponse(487, 'INVITE')));
  });

  it('a 180 that makes an early dialog carries our Contact (RFC 3261 §12.1.1)', async () => {
    const { network, ring } = setup();
    const { inbound } = await ring();
    inbound.progress(180);
    await flush();
    const ringing = network.log.find(isResponse(180, 'INVITE'))?.message;
    assert.match(ringing?.get('contact') ?? '', /^<sip:[^>]+>/);
    assert.ok(ringing?.toTag(), 'with a To tag');
  });

  it('in a dialog: a request requiring an extension we lack gets 420, a REFER 405 with Allow', async () => {
    const { network, answered } = setup();
    const { outbound, inbound } = await answered();
    network.rewrite = (message) => {
      if (inDialog('INVITE')(message)) message.set('Require', 'foo');
    };
    const refresh = outbound.reinvite(offer());
    await flush();
    const refused = await refresh;
    assert.deepEqual([refused.status, refused.get('unsupported')], [420, 'foo']);
    network.rewrite = undefined;
    const transfer = inbound.refer('sip:agent@example.com');
    await flush();
    const answer = await transfer;
    assert.equal(answer.status, 405);
    assert.doesNotMatch(answer.get('allow') ?? '', /REFER/);
    assert.equal(inbound.state, 'confirmed');
  });

  it('REFER: a target that could end the header is refused, and one transfer at a time', async () => {
    const { network, answered } = setup();
    const { outbound } = await answered();
    await assert.rejects(
      outbound.refer('sip:a@example.com>\r\nX-Injected: yes'),
      /not a SIP, SIPS or tel URI/,
    );
    await assert.rejects(outbound.refer('http://example.com/'), /not a SIP, SIPS or tel URI/);
    const first = outbound.refer('sip:agent@example.com').catch(() => undefined);
    await assert.rejects(outbound.refer('sip:agent@example.com'), /already in progress/);
    await flush();
    await first;
    const refers = network.log.filter(isRequest('REFER'));
    assert.equal(refers.length, 1);
    assert.equal(refers[0]?.message.get('refer-to'), '<sip:agent@example.com>');
    assert.equal(refers[0]?.message.get('x-injected'), undefined);
  });

  it('3. a re-INVITE the UAS cannot answer gets 488 and leaves the call up', async () => {
    const { answered } = setup();
    const { outbound, inbound } = await answered({}, () => undefined);
    const response = outbound.reinvite(offer('sendonly', offer()));
    await flush();
    assert.equal((await response).status, 488);
    assert.equal(outbound.state, 'confirmed');
    assert.equal(inbound.state, 'confirmed');
  });

  // Session has no method to *send* UPDATE (session.ts offers bye/reinvite/sendInfo/refer),
  // so only the receiving side is covered: an UPDATE built on the UAC's dialog.
  it('4. UPDATE (RFC 3311) is answered in the same transaction, without ACK', async () => {
    const { uac, network, answered } = setup();
    const { outbound, inbound } = await answered();
    const dialog = outbound.dialog;
    assert.ok(dialog);
    const update: SipRequest = dialog.createRequest('UPDATE');
    update.append('Contact', uac.contactHeader('udp'));
    update.setBody(offer('sendonly', offer()), 'application/sdp');
    const response = uac.request(update, dialog.destination());
    await flush();
    const ok = await response;
    assert.equal(ok.status, 200);
    assert.equal(direction(ok.body.toString()), 'recvonly');
    assert.equal(direction(inbound.remoteSdp), 'sendonly');
    assert.deepEqual(network.describe().slice(-2), ['UPDATE', '200 UPDATE']);
  });

  describe('6. CANCEL before the answer (RFC 3261 §9)', () => {
    const CANCELLED_AFTER_RINGING = ['INVITE', '180 INVITE', 'CANCEL', '200 CANCEL', '487 INVITE', 'ACK'];

    it('CANCEL after 180: 200 to CANCEL, 487 to INVITE, ACK, outcome 487', async () => {
      const { clock, network, uac, uas, ring } = setup();
      const { outbound, inbound } = await ring();
      const inboundEnded = causeOf(inbound);
      inbound.progress(180);
      await flush();
      outbound.cancel();
      await flush();
      assert.deepEqual(network.describe(), CANCELLED_AFTER_RINGING);
      const outcome = await outbound.outcome;
      assert.equal(outcome.kind, 'failed');
      assert.equal(outcome.kind === 'failed' && outcome.status, 487);
      assert.deepEqual(await inboundEnded, { by: 'remote', reason: 'cancel', status: 487 });
      assert.equal(inbound.cancelled, true);
      assert.equal(outbound.state, 'terminated');
      // The ACK for the 487 shares the INVITE's branch (§17.1.1.3).
      const branch = (record?: WireRecord) => /branch=([^;,\s]+)/.exec(record?.message.get('via') ?? '')?.[1];
      assert.equal(branch(network.log.find(isRequest('ACK'))), branch(network.log.find(isRequest('INVITE'))));
      const sent = network.log.length;
      await run(clock, 64 * T1, 100);
      assert.equal(network.log.length, sent, 'nothing retransmitted after the ACK');
      assert.equal(uac.sessionCount, 0);
      assert.equal(uas.sessionCount, 0);
    });

    it('cancel() before any provisional waits for the 180 before sending CANCEL (§9.1)', async () => {
      const { network, ring } = setup();
      const { outbound, inbound } = await ring();
      outbound.cancel();
      await flush();
      assert.deepEqual(network.describe(), ['INVITE']);
      inbound.progress(180);
      await flush();
      assert.deepEqual(network.describe(), CANCELLED_AFTER_RINGING);
      const outcome = await outbound.outcome;
      assert.equal(outcome.kind === 'failed' && outcome.status, 487);
    });

    it('100 Trying is a provisional response too: the CANCEL goes at once, and only once (§9.1)', async () => {
      const { clock, network, ring } = setup();
      const { outbound, inbound } = await ring();
      outbound.cancel();
      await run(clock, 300); // the UAS's transaction sends 100 Trying after 200 ms of silence
      assert.deepEqual(network.describe(), [
        'INVITE',
        '100 INVITE',
        'CANCEL',
        '200 CANCEL',
        '487 INVITE',
        'ACK',
      ]);
      inbound.progress(180);
      await flush();
      assert.equal(network.log.filter(isRequest('CANCEL')).length, 1);
      const outcome = await outbound.outcome;
      assert.equal(outcome.kind === 'failed' && outcome.status, 487);
    });
  });
});
