/**
 * RFC 4028 session timers between two user agents (helpers/session-pair.ts): the
 * Session-Expires header, refreshes by re-INVITE or UPDATE, the refresher, 422 and Min-SE, and
 * the BYE when a refresh does not come.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { parseSessionExpires, type SessionTimerConfig } from '../../src/sip/session.js';
import { glareRetryDelayMs } from '../../src/sip/session-timer.js';
import {
  ALICE,
  answerAs,
  answerer,
  BOB,
  breakContactOf200,
  causeOf,
  closePairs,
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
  withoutUpdateInAllow,
} from './helpers/session-pair.js';

afterEach(closePairs);

describe('parseSessionExpires (RFC 4028 §4)', () => {
  it('reads delta-seconds and the refresher among generic parameters', () => {
    assert.deepEqual(parseSessionExpires('1800'), { interval: 1800, refresher: undefined });
    assert.deepEqual(parseSessionExpires(' 90 ;foo=bar; Refresher = UAS'), {
      interval: 90,
      refresher: 'uas',
    });
    assert.deepEqual(parseSessionExpires('120;refresher=uac;x'), { interval: 120, refresher: 'uac' });
    assert.deepEqual(parseSessionExpires('120;refresher=proxy'), { interval: 120, refresher: undefined });
  });

  it('caps an interval at what a timer holds and refuses what is not delta-seconds', () => {
    assert.equal(parseSessionExpires('4294967295')?.interval, 2147483);
    for (const bad of [undefined, '', 'soon', '-5', '90abc', '1.5', '12345678901', ';refresher=uac']) {
      assert.equal(parseSessionExpires(bad), undefined, String(bad));
    }
  });
});

describe('glareRetryDelayMs (RFC 3261 §14.1)', () => {
  it('waits 2.1-4 s for the side that made the Call-ID, 0-2 s for the other, in units of 10 ms', () => {
    for (const [owns, low, high] of [
      [true, 2100, 4000],
      [false, 0, 2000],
    ] as const) {
      const waits = Array.from({ length: 2000 }, () => glareRetryDelayMs(owns));
      assert.ok(
        waits.every((wait) => wait >= low && wait <= high && wait % 10 === 0),
        String(waits.find((wait) => wait < low || wait > high || wait % 10 !== 0)),
      );
      assert.ok(new Set(waits).size > 100, 'spread over the range');
    }
  });
});

describe('SIP session timers between two user agents (FakeClock, in-memory UDP)', () => {
  describe('5. RFC 4028 session timers', () => {
    const timer90: SessionTimerConfig = { expires: 90, minSE: 90 };

    it('a re-INVITE asking for a Session-Expires below our Min-SE gets 422 with Min-SE, and the call stays up', async () => {
      const { clock, network, answered } = setup({ uacTimer: timer90, uasTimer: timer90 });
      const { outbound, inbound } = await answered({ sessionTimer: true });
      network.rewrite = (message) => {
        if (inDialog('INVITE')(message)) message.set('Session-Expires', '1;refresher=uac');
      };
      const refused = outbound.reinvite(offer());
      await flush();
      const answer = await refused;
      assert.equal(answer.status, 422);
      assert.equal(answer.get('min-se'), '90');
      network.rewrite = undefined;
      await run(clock, 30_000, 100);
      assert.equal(inbound.state, 'confirmed', 'the refused refresh did not arm a 1 s timer');
      assert.equal(network.log.filter(isRequest('BYE')).length, 0);
    });

    for (const method of ['UPDATE', 'INVITE'] as const) {
      it(`refresher=uac refreshes every SE/2 by ${method} and the call survives several intervals`, async () => {
        const { clock, network, answered } = setup({ uacTimer: timer90, uasTimer: timer90 });
        // A peer whose Allow lacks UPDATE is refreshed by re-INVITE (RFC 4028 §9).
        if (method === 'INVITE') network.rewrite = withoutUpdateInAllow;
        const { outbound, inbound } = await answered({ sessionTimer: true });
        const ok = network.log.find(isResponse(200, 'INVITE'))?.message;
        assert.match(ok?.get('session-expires') ?? '', /^90;refresher=uac$/);
        assert.equal(ok?.get('require'), 'timer');

        await run(clock, 4 * 90_000, 100);
        const refreshes = network.log.filter((record) => inDialog(method)(record.message));
        assert.deepEqual(
          refreshes.map((record) => record.at),
          [1, 2, 3, 4, 5, 6, 7, 8].map((k) => k * 45_000),
        );
        for (const { message } of refreshes)
          assert.match(message.get('session-expires') ?? '', /^90;refresher=uac/);
        assert.equal(network.log.filter(isRequest('BYE')).length, 0);
        assert.equal(outbound.state, 'confirmed');
        assert.equal(inbound.state, 'confirmed');
        if (method === 'UPDATE') {
          // No offer, so no answer: the 200s to the UPDATEs carry no SDP (RFC 3311 §5.2).
          const answers = network.log.filter(isResponse(200, 'UPDATE'));
          assert.equal(answers.length, 8);
          assert.ok(answers.every(({ message }) => message.body.length === 0));
        } else {
          // A refresh repeats the offer, so the answer's o= version stays put (RFC 3264 §8).
          assert.equal(originVersion(outbound.remoteSdp), 1);
        }
      });
    }

    for (const method of ['UPDATE', 'INVITE'] as const) {
      it(`a refresh's 2xx to ${method} whose Contact does not parse is dropped; its retransmission keeps the call`, async () => {
        const { clock, network, answered } = setup({ uacTimer: timer90, uasTimer: timer90 });
        if (method === 'INVITE') network.rewrite = withoutUpdateInAllow;
        const { outbound, inbound } = await answered({ sessionTimer: true });
        network.garble = breakContactOf200(method, 1);
        await run(clock, 100_000, 100);
        assert.equal(network.malformed.length, 1);
        assert.equal(network.log.filter(isRequest('BYE')).length, 0);
        assert.equal(outbound.state, 'confirmed');
        assert.equal(inbound.state, 'confirmed');
      });
    }

    for (const refresher of ['uac', 'uas'] as const) {
      it(`a 2xx with Session-Expires: 0;refresher=${refresher} is held to our Min-SE, not to 0 (§9)`, async () => {
        const { clock, network, answered } = setup({ uacTimer: timer90, uasTimer: timer90 });
        network.rewrite = (message) => {
          if (!message.isRequest && message.status === 200 && message.cseq().method === 'INVITE')
            message.set('Session-Expires', `0;refresher=${refresher}`);
        };
        const { outbound } = await answered({ sessionTimer: true });
        await run(clock, 44_000, 100);
        const refreshes = () =>
          network.log.filter(
            (record) => inDialog('UPDATE')(record.message) || inDialog('INVITE')(record.message),
          );
        assert.equal(refreshes().length, 0, 'no refresh before SE/2 of our Min-SE');
        assert.equal(network.log.filter(isRequest('BYE')).length, 0);
        assert.equal(outbound.state, 'confirmed');
        if (refresher === 'uac') {
          await run(clock, 2_000, 100);
          assert.deepEqual(
            refreshes().map((record) => [record.at, record.message.get('session-expires')]),
            [[45_000, '90;refresher=uac']],
          );
        } else {
          // The peer refreshes: we wait out Min-SE - min(32, Min-SE/3) for it.
          await run(clock, 15_000, 100);
          assert.equal(outbound.state, 'confirmed');
        }
      });
    }

    it('when refreshes are lost the non-refresher sends BYE at SE - min(32, SE/3)', async () => {
      const { clock, network, answered } = setup({ uacTimer: timer90, uasTimer: timer90 });
      network.drop = (message) => inDialog('INVITE')(message) || inDialog('UPDATE')(message);
      const { outbound, inbound } = await answered({ sessionTimer: true });
      const inboundEnded = causeOf(inbound);
      const outboundEnded = causeOf(outbound);
      await run(clock, 90_000, 100);
      const bye = network.log.find(isRequest('BYE'));
      assert.ok(bye);
      assert.deepEqual(bye.from, BOB);
      assert.equal(bye.at, (90 - 30) * 1000);
      assert.deepEqual(await inboundEnded, { by: 'local', reason: 'session_expired' });
      assert.deepEqual(await outboundEnded, { by: 'remote', reason: 'bye' });
    });

    it('a refresh answered 481 ends the call with BYE; one answered 491 is tried again', async () => {
      const { clock, network, answered } = setup({ uacTimer: timer90, uasTimer: timer90 });
      network.rewrite = withoutUpdateInAllow; // refreshes by re-INVITE, which the offer handler answers
      let refusals = [491];
      const { outbound } = await answered({ sessionTimer: true }, (answer) => (sdp, request) => {
        const status = refusals.shift();
        return status === undefined ? answer(sdp, request) : { status };
      });
      // 491 at 45 s: glare (RFC 3261 §14.1). We made the Call-ID, so the retry waits 2.1-4 s,
      // well before the peer's expiry BYE at 60 s.
      await run(clock, 80_000, 10);
      const refreshes = network.log.filter((record) => inDialog('INVITE')(record.message));
      assert.equal(refreshes.length, 2);
      assert.equal(refreshes[0]?.at, 45_000);
      const wait = (refreshes[1]?.at ?? 0) - 45_000;
      assert.ok(wait >= 2100 && wait <= 4000, `retried after ${wait} ms`);
      assert.equal(network.log.filter(isRequest('BYE')).length, 0);
      assert.equal(outbound.state, 'confirmed');

      refusals = [481];
      const outboundEnded = causeOf(outbound);
      await run(clock, 60_000, 250);
      const bye = network.log.find(isRequest('BYE'));
      assert.ok(bye, 'the refresher sends BYE (RFC 3261 §14.1, RFC 4028 §10)');
      assert.deepEqual(bye.from, ALICE);
      assert.deepEqual(await outboundEnded, {
        by: 'local',
        reason: 'refresh_failed',
        detail: 'INVITE answered 481',
      });
    });

    it('a refresh answered 488 only fails itself and is tried again; one answered 404 ends the call with BYE (RFC 5057 §5.1)', async () => {
      const { clock, network, answered } = setup({ uacTimer: timer90, uasTimer: timer90 });
      network.garble = answerAs('UPDATE', ['488 Not Acceptable Here', '404 Not Found']);
      const { outbound } = await answered({ sessionTimer: true });
      const outboundEnded = causeOf(outbound);
      await run(clock, 50_000, 100);
      assert.equal(network.log.filter(isResponse(488, 'UPDATE')).length, 1);
      assert.equal(network.log.filter(isRequest('BYE')).length, 0, 'a 488 ends the refresh only');
      assert.equal(outbound.state, 'confirmed');
      // Tried again an eighth of the interval later (56.25 s): 404, the dialog is gone.
      await run(clock, 10_000, 100);
      assert.equal(network.log.filter(isResponse(404, 'UPDATE')).length, 1);
      const bye = network.log.find(isRequest('BYE'));
      assert.ok(bye, network.describe().join(', '));
      assert.deepEqual(bye.from, ALICE);
      assert.deepEqual(await outboundEnded, {
        by: 'local',
        reason: 'refresh_failed',
        detail: 'UPDATE answered 404',
      });
    });

    it('a refresh from the side that did not make the Call-ID is retried 0-2 s after a 491 (RFC 3261 §14.1)', async () => {
      const { clock, network, answered } = setup({ uacTimer: timer90, uasTimer: timer90 });
      network.rewrite = withoutUpdateInAllow; // the callee refreshes by re-INVITE
      let refusals = [491];
      const answerOffer = answerer();
      const { inbound } = await answered({
        headers: [['Session-Expires', '90;refresher=uas']],
        answerOffer: (sdp, request) => {
          const status = refusals.shift();
          return status === undefined ? answerOffer(sdp, request) : { status };
        },
      });
      await run(clock, 50_000, 10);
      const refreshes = network.log.filter((record) => inDialog('INVITE')(record.message));
      assert.equal(refreshes.length, 2);
      assert.deepEqual(refreshes[0]?.from, BOB);
      const wait = (refreshes[1]?.at ?? 0) - 45_000;
      assert.ok(wait >= 0 && wait <= 2000, `retried after ${wait} ms`);
      refusals = [];
      assert.equal(inbound.state, 'confirmed');
    });

    it('a refresh answered 422 is sent again at once, its Session-Expires raised to the Min-SE of the 422 (RFC 4028 §7.3, §6)', async () => {
      const uasTimer = { expires: 90, minSE: 90 };
      const { clock, network, answered } = setup({ uacTimer: timer90, uasTimer });
      const { outbound, inbound } = await answered({ sessionTimer: true });
      uasTimer.minSE = 120; // the far end now holds refreshes to 120 s
      await run(clock, 200_000, 100);
      const refreshes = network.log.filter((record) => inDialog('UPDATE')(record.message));
      assert.deepEqual(
        refreshes
          .slice(0, 3)
          .map(({ at, message }) => [at, message.get('session-expires'), message.get('min-se')]),
        [
          [45_000, '90;refresher=uac', undefined],
          [45_000, '120;refresher=uac', '120'],
          [105_000, '120;refresher=uac', '120'],
        ],
      );
      assert.deepEqual(
        network.log.filter(isResponse(422, 'UPDATE')).map((record) => record.at),
        [45_000],
      );
      assert.equal(network.log.filter(isRequest('BYE')).length, 0);
      assert.equal(outbound.state, 'confirmed');
      assert.equal(inbound.state, 'confirmed');
    });

    it('a refresh due while our own re-INVITE is in progress waits for it: no BYE, the re-INVITE was the refresh', async () => {
      const { clock, network, answered } = setup({ uacTimer: timer90, uasTimer: timer90 });
      network.rewrite = withoutUpdateInAllow; // refreshes by re-INVITE: one at a time (§14.1)
      const { outbound, inbound } = await answered({ sessionTimer: true });
      await run(clock, 44_800, 100);
      // A hold whose first 200 is lost: its retransmission comes T1 later, after the refresh was due.
      network.drop = dropFirst(
        (message) => !message.isRequest && message.status === 200 && message.cseq().seq === 2,
      );
      let held: number | undefined;
      void outbound.reinvite(offer('sendonly', offer())).then((response) => {
        held = response.status;
      });
      await run(clock, 1000, 10);
      assert.equal(network.log.filter(isRequest('BYE')).length, 0);
      assert.equal(held, 200);
      await run(clock, 30_000, 100);
      assert.equal(network.log.filter(isRequest('BYE')).length, 0);
      assert.equal(outbound.state, 'confirmed');
      assert.equal(inbound.state, 'confirmed');
      // Each re-INVITE once, by its CSeq (the hold's INVITE was retransmitted while its 200 was lost).
      const reinvites = () =>
        new Set(
          network.log.filter((record) => inDialog('INVITE')(record.message)).map((r) => r.message.cseq().seq),
        );
      assert.deepEqual([...reinvites()], [2], 'the hold re-INVITE refreshed the session: no second one');
      await run(clock, 20_000, 100);
      assert.deepEqual([...reinvites()], [2, 3], 'the next refresh, SE/2 after the hold');
    });

    it('a refresh without Session-Expires from the refresher is answered with one we refresh (RFC 4028 §9): no BYE at the old expiry', async () => {
      const { clock, network, answered } = setup({ uacTimer: timer90, uasTimer: timer90 });
      const { outbound, inbound } = await answered({ sessionTimer: true });
      network.rewrite = (message) => {
        if (inDialog('UPDATE')(message)) message.remove('session-expires');
      };
      await run(clock, 200_000, 100);
      const ok = network.log.find(isResponse(200, 'UPDATE'))?.message;
      assert.ok(ok);
      // Without one in the 2xx the timer would be off (§7.2); the UAS may ask for one (§9), and
      // keeps the one it had, refreshing it itself: nobody waits for a refresh that will not come.
      assert.match(ok.get('session-expires') ?? '', /^90;refresher=uas$/);
      assert.equal(ok.get('require'), undefined);
      assert.equal(network.log.filter(isRequest('BYE')).length, 0);
      assert.equal(outbound.state, 'confirmed');
      assert.equal(inbound.state, 'confirmed');
    });

    it('a refresh with Session-Expires but without Supported: timer (a proxy put it there) is answered refresher=uas, no Require (§9)', async () => {
      const { clock, network, answered } = setup({ uacTimer: timer90, uasTimer: timer90 });
      const { outbound, inbound } = await answered({ sessionTimer: true });
      network.rewrite = (message) => {
        if (!inDialog('UPDATE')(message)) return;
        message.remove('supported');
        message.set('Session-Expires', '90');
      };
      await run(clock, 46_000, 100);
      const ok = network.log.find(isResponse(200, 'UPDATE'))?.message;
      assert.equal(ok?.get('session-expires'), '90;refresher=uas');
      assert.equal(ok?.get('require'), undefined);
      network.rewrite = undefined;
      await run(clock, 150_000, 100);
      assert.equal(network.log.filter(isRequest('BYE')).length, 0);
      assert.equal(outbound.state, 'confirmed');
      assert.equal(inbound.state, 'confirmed');
    });

    it('a 2xx without Session-Expires to our INVITE that asked for one: no timer, no refresh, no BYE (RFC 4028 §7.2)', async () => {
      const { clock, network, answered } = setup({ uacTimer: timer90, uasTimer: timer90 });
      // A callee without timers behind a proxy that passed the header on, or dropped it.
      network.rewrite = (message) => {
        if (message.isRequest && message.method === 'INVITE') message.remove('session-expires');
      };
      const { outbound, inbound } = await answered({ sessionTimer: true });
      assert.equal(outbound.invite.get('session-expires'), '90', 'we asked for a timer');
      assert.equal(network.log.find(isResponse(200, 'INVITE'))?.message.get('session-expires'), undefined);
      await run(clock, 300_000, 500);
      const inDialogRequests = network.log.filter(
        (record) => record.message.isRequest && record.message.toTag(),
      );
      assert.deepEqual(
        inDialogRequests.map((record) => record.message.isRequest && record.message.method),
        ['ACK'],
      );
      assert.equal(outbound.state, 'confirmed');
      assert.equal(inbound.state, 'confirmed');
    });

    it('a Session-Expires below the UAS Min-SE gets 422 with Min-SE (§8.1)', async () => {
      const { clock, network, call, incoming } = setup({
        uacTimer: timer90,
        uasTimer: { expires: 1800, minSE: 120 },
      });
      call({ sessionTimer: true });
      await run(clock, 5 * T1);
      const rejected = network.log.find(isResponse(422, 'INVITE'));
      assert.ok(rejected);
      assert.equal(rejected.message.get('min-se'), '120');
      // Only the UAC's retry with the larger interval (next test) reaches the application.
      assert.equal(incoming.length, 1);
      assert.equal(incoming[0]?.invite.cseq().seq, 2);
      // The 422 was ACKed by the client transaction, so it is not retransmitted.
      assert.equal(network.log.filter(isResponse(422, 'INVITE')).length, 1);
      assert.ok(network.log.some((record) => isRequest('ACK')(record) && record.message.cseq().seq === 1));
    });

    it('the UAC retries a 422 with Session-Expires raised to the Min-SE (§6)', async () => {
      const { clock, network, call } = setup({ uacTimer: timer90, uasTimer: { expires: 1800, minSE: 120 } });
      call({ sessionTimer: true });
      await run(clock, 5 * T1);
      const invites = network.log.filter((record) => isRequest('INVITE')(record) && !record.dropped);
      assert.equal(invites.length, 2, 'a second INVITE after the 422');
      const retry = invites[1]?.message;
      assert.match(retry?.get('session-expires') ?? '', /^120\b/);
      assert.equal(retry?.get('min-se'), '120');
      assert.equal(retry?.cseq().seq, 2);
      assert.equal(retry?.callId(), invites[0]?.message.callId());
    });
  });
});
