/**
 * Inbound call flows end to end in-process: a carrier SipUserAgent calls the gateway-side
 * user agent, whose INVITE handler runs a CallController on fake media legs and bots, the
 * real trunk limiters and matcher, all on one FakeClock (see helpers/call-harness.ts). Last,
 * dialog edge cases on the answered call: a re-INVITE without an offer, a carrier that lost it.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ClusterSlot } from '../../src/cluster/index.js';
import type { OutboundSession } from '../../src/sip/call-legs.js';
import type { SipResponse } from '../../src/sip/message.js';
import { newSdesOffer } from '../../src/sip/sdes.js';
import { negotiateAnswer } from '../../src/sip/sdp.js';
import { answerAs } from '../sip/helpers/session-pair.js';
import {
  CALLED,
  CARRIER_A,
  CARRIER_RTP_PORT,
  CallHarness,
  flush,
  GATEWAY,
  type HarnessOptions,
  run,
} from './helpers/call-harness.js';

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

/** The final response the carrier's INVITE got. */
async function finalStatus(session: OutboundSession): Promise<number> {
  const outcome = await session.outcome;
  return outcome.kind === 'answered' ? outcome.response.status : outcome.status;
}

function retryAfter(responses: SipResponse[], status: number): string | undefined {
  return responses.find((response) => response.status === status)?.get('retry-after');
}

describe('inbound call flows (carrier UA → gateway UA → CallController)', () => {
  it('hands a SIP INFO digit (application/dtmf-relay) to the bot with its duration, an event code as its digit', async () => {
    const { harness, carrier } = setup();
    const session = carrier.call();
    await flush();
    assert.equal((await session.outcome).kind, 'answered');
    const answered = await Promise.all([
      session.sendInfo('application/dtmf-relay', 'Signal=10\r\nDuration=160\r\n'),
      session.sendInfo('application/dtmf-relay', 'Signal=#\r\n'),
    ]);
    assert.deepEqual(
      answered.map((response) => response.status),
      [200, 200],
    );
    assert.deepEqual(harness.bots.connected[0]?.infoDigits, [
      ['*', 160],
      ['#', undefined],
    ]);
  });

  it('answers with 180 then 200, starts media on the negotiated codec, and ends once on the carrier BYE (bot closed before media)', async () => {
    const { harness, carrier } = setup();
    harness.bots.behaviour = 'pending';
    const provisional: number[] = [];
    const outbound = carrier.call({ codecs: ['PCMA'] });
    outbound.on('progress', (response) => provisional.push(response.status));
    await flush();

    const observed = harness.observed(0);
    assert.deepEqual(provisional, [180], 'ringing while the bot connects');
    assert.equal(observed.call.state, 'ringing');
    const bot = harness.bots.connected[0];
    assert.ok(bot);
    assert.deepEqual(bot.call, {
      callSid: observed.call.id,
      from: '+15551230000',
      to: CALLED,
      direction: 'inbound',
      callerIdentity: { sipFrom: '<sip:+15551230000@127.0.0.1>' },
    });
    assert.equal(harness.legs[0]?.started.length, 0, 'no media before the bot is there');

    bot.open();
    await flush();
    assert.equal((await outbound.outcome).kind, 'answered');
    assert.deepEqual(
      harness.inviteResponses(CARRIER_A).map((record) => record.message.status),
      [180, 200],
    );
    assert.ok(observed.events.includes('answered'));
    const leg = harness.legs[0];
    assert.ok(leg);
    assert.equal(leg.started.length, 1);
    assert.equal(leg.started[0]?.codec.name, 'PCMA');
    assert.equal(leg.started[0]?.codec.payloadType, 8);
    assert.equal(leg.started[0]?.remotePort, CARRIER_RTP_PORT);
    assert.match(outbound.remoteSdp ?? '', new RegExp(`^m=audio ${leg.localPort} RTP/AVP 8`, 'm'));

    await outbound.bye();
    await flush();
    assert.equal(observed.ends.length, 1, 'exactly one end');
    const [{ end, record } = assert.fail('ended')] = observed.ends;
    assert.equal(end.cause, 'caller_bye');
    assert.ok(record, 'an admitted call has a record');
    assert.equal(record.codec, 'PCMA');
    assert.equal(record.hangupBy, 'caller');
    assert.equal(record.trunk, 'carrier');
    assert.equal(record.stream, 'ws://bot.test/stream');
    assert.deepEqual(
      harness.journal,
      ['bot.close', 'media.close'],
      'stop to the bot while the media still runs',
    );
    assert.deepEqual(bot.closeReasons, ['caller_bye']);
    assert.equal(leg.closeCount, 1);
    assert.equal(harness.concurrency.inUse('carrier'), 0, 'slot given back');
    assert.equal(harness.registry.size, 0);
    assert.equal(harness.gatewayUa.sessionCount, 0);
  });

  for (const failure of ['refused', 'timed out'] as const) {
    it(`answers 503 with cause bot_unreachable when the bot connect is ${failure}, and closes the media leg`, async () => {
      const { harness, carrier } = setup();
      harness.bots.behaviour = failure === 'refused' ? 'refuse' : 'pending';
      const outbound = carrier.call();
      await flush();
      if (failure === 'timed out') harness.bots.connected[0]?.refuse('connect timeout after 5000 ms');
      await flush();

      assert.equal(await finalStatus(outbound), 503);
      const observed = harness.observed(0);
      const [{ end, record } = assert.fail('ended')] = observed.ends;
      assert.equal(end.cause, 'bot_unreachable');
      assert.equal(end.sipStatus, 503);
      assert.match(end.detail ?? '', failure === 'refused' ? /connection refused/ : /connect timeout/);
      assert.ok(record, 'the call was admitted, so it has a record');
      assert.equal(record.answeredAt, undefined);
      assert.equal(harness.legs[0]?.closed, true, 'media leg closed');
      assert.equal(harness.legs[0]?.started.length, 0);
      assert.equal(harness.concurrency.inUse('carrier'), 0);
      assert.ok(!observed.events.includes('answered'));
    });
  }

  it('refuses the second of two INVITEs in the same instant with 503 + Retry-After when the trunk CPS is 1/1 (rejected_cps, with a record)', async () => {
    const { harness, carrier } = setup({ trunk: { cps: { rate: 1, burst: 1 } } });
    const first = carrier.call();
    const second = carrier.call();
    await flush();
    await flush();

    assert.equal(harness.clock.now(), 0, 'both in one virtual instant');
    assert.equal((await first.outcome).kind, 'answered');
    assert.equal(await finalStatus(second), 503);
    const refusal = harness.inviteResponses(CARRIER_A).find((r) => r.message.status === 503);
    assert.ok(refusal);
    assert.equal(refusal.message.callId(), second.callId);
    const seconds = Number(retryAfter([refusal.message], 503));
    assert.ok(Number.isInteger(seconds) && seconds >= 1, `Retry-After is whole seconds (got ${seconds})`);

    const refused = harness.calls.find((observed) => observed.call.sipCallId === second.callId);
    assert.ok(refused);
    const [{ end, record } = assert.fail('ended')] = refused.ends;
    assert.equal(end.cause, 'rejected_cps');
    assert.equal(end.sipStatus, 503);
    assert.deepEqual(refused.events.slice(0, 1), ['admitted'], 'admitted, then refused');
    assert.ok(record, 'admitted calls get a record even when CPS refuses them');
    assert.equal(record.end.cause, 'rejected_cps');
    assert.equal(harness.concurrency.inUse('carrier'), 1, 'only the answered call holds a slot');
    const rejected = (await harness.metrics.cpsRejectedTotal.get()).values;
    assert.deepEqual(
      rejected.map(({ labels, value }) => [labels.key, value]),
      [['trunk:carrier', 1]],
    );
    await first.bye();
    await flush();
  });

  it('a call cancelled while queued for CPS leaves the queue without a token: the next call takes its place', async () => {
    const queue = { action: 'queue' as const, queueTimeoutMs: 5000, maxQueued: 1 };
    const { harness, carrier } = setup({ trunk: { cps: { rate: 1, burst: 1, overflow: queue } } });
    const first = carrier.call();
    await flush();
    assert.equal((await first.outcome).kind, 'answered');
    const cancelled = carrier.call();
    await flush();
    assert.equal(harness.cps.queueLength, 1);
    cancelled.cancel();
    await run(harness.clock, 300); // the CANCEL goes once 100 Trying is in (after 200 ms)
    assert.equal(await finalStatus(cancelled), 487);
    assert.equal(harness.cps.queueLength, 0, 'the cancelled call left the queue');
    const refused = (await harness.metrics.cpsRejectedTotal.get()).values;
    assert.equal(refused.length, 0, 'a cancelled call is no CPS refusal');

    const next = carrier.call();
    await flush();
    assert.equal(harness.cps.queueLength, 1, 'queued, not refused as queue_full');
    await run(harness.clock, 700);
    assert.equal((await next.outcome).kind, 'answered', 'the token went to the call still waiting');
    assert.equal(harness.legs.length, 2, 'no media leg for the cancelled call');
    await first.bye();
    await next.bye();
    await flush();
  });

  it('counts a refusal by a per-number CPS bucket under its trunk, not the number', async () => {
    const { harness, carrier } = setup({
      trunk: { cps: { rate: 10, burst: 10, perNumber: { rate: 1, burst: 1 } } },
    });
    const first = carrier.call();
    const second = carrier.call();
    await flush();
    await flush();
    assert.equal((await first.outcome).kind, 'answered');
    assert.equal(await finalStatus(second), 503);
    const rejected = (await harness.metrics.cpsRejectedTotal.get()).values;
    assert.deepEqual(
      rejected.map(({ labels, value }) => [labels.key, value]),
      [['number:carrier', 1]],
    );
    await first.bye();
    await flush();
  });

  it('refuses a call beyond maxConcurrentCalls with 503 + Retry-After (rejected_concurrency, no record)', async () => {
    const { harness, carrier } = setup({ trunk: { maxConcurrentCalls: 1 } });
    const first = carrier.call();
    await flush();
    assert.equal((await first.outcome).kind, 'answered');

    const second = carrier.call();
    await flush();
    assert.equal(await finalStatus(second), 503);
    const responses = harness.inviteResponses(CARRIER_A).map((r) => r.message);
    assert.equal(retryAfter(responses, 503), '5');
    const refused = harness.observed(1);
    const [{ end, record } = { end: undefined, record: undefined }] = refused.ends;
    assert.equal(end?.cause, 'rejected_concurrency');
    assert.equal(record, undefined, 'never admitted, so no record');
    assert.ok(!refused.events.includes('admitted'));
    assert.equal(harness.legs.length, 1, 'no media leg opened for the refused call');
    assert.equal(harness.registry.size, 1);
    // Refusals are one log line per 5 s, however many INVITEs a flooder sends.
    for (let i = 0; i < 5; i++) carrier.call();
    await flush();
    assert.deepEqual(
      harness.refusalLines.map((line) => ({ ...line, callId: undefined })),
      [
        {
          callId: undefined,
          trunk: 'carrier',
          cause: 'rejected_concurrency',
          detail: undefined,
          suppressed: 0,
        },
      ],
    );
    await first.bye();
    await flush();
  });

  it('refuses a new INVITE while the node is overloaded with 503 + the configured Retry-After (rejected_overload, no leg, no record), and takes calls again after', async () => {
    let overloadRetryAfterSec: number | undefined = 9;
    const { harness, carrier } = setup({ overloadRetryAfterSec: () => overloadRetryAfterSec });
    const refused = carrier.call();
    await flush();
    assert.equal(await finalStatus(refused), 503);
    assert.equal(
      retryAfter(
        harness.inviteResponses(CARRIER_A).map((r) => r.message),
        503,
      ),
      '9',
    );
    const [{ end, record } = { end: undefined, record: undefined }] = harness.observed(0).ends;
    assert.deepEqual(end, { cause: 'rejected_overload', sipStatus: 503 });
    assert.equal(record, undefined, 'never admitted, so no record');
    assert.equal(harness.legs.length, 0, 'no media leg, no bot: a refusal costs no media');
    assert.equal(harness.bots.connected.length, 0);
    const calls = await harness.metrics.callsTotal.get();
    assert.deepEqual(
      calls.values.map((value) => [value.labels.outcome, value.value]),
      [['rejected_overload', 1]],
    );

    overloadRetryAfterSec = undefined;
    const taken = carrier.call();
    await flush();
    assert.equal((await taken.outcome).kind, 'answered');
    await taken.bye();
    await flush();
  });

  it('a call ended while its cluster lease is pending is never admitted; the lease granted late is given straight back', async () => {
    let grant: ((slot: ClusterSlot) => void) | undefined;
    let released = 0;
    const { harness, carrier } = setup({
      leases: { acquire: () => new Promise<ClusterSlot>((resolve) => (grant = resolve)) },
    });
    const outbound = carrier.call();
    await flush();
    assert.ok(grant, 'the lease was asked for');
    const observed = harness.observed(0);
    observed.call.hangup('shutdown');
    await flush();
    const [{ end, record } = assert.fail('ended')] = observed.ends;
    assert.equal(end.cause, 'shutdown');
    assert.equal(record, undefined, 'never admitted: no call record');
    grant({ ok: true, release: () => released++ });
    await flush();
    assert.equal(released, 1, 'the late lease is released at once');
    assert.equal(harness.registry.size, 0);
    assert.equal(harness.legs.length, 0, 'no media leg for a call that never got its slot');
    assert.ok((await finalStatus(outbound)) >= 500, 'the caller got a final error response');
  });

  it('a carrier CANCEL while the bot connects ends caller_cancel with 487 and leaks nothing', async () => {
    const { harness, carrier } = setup({ trunk: { maxConcurrentCalls: 1 } });
    harness.bots.behaviour = 'pending';
    const outbound = carrier.call();
    await flush();
    assert.equal(outbound.state, 'early', 'the 180 arrived, so CANCEL can go out');

    outbound.cancel();
    await flush();
    assert.equal(await finalStatus(outbound), 487);
    const observed = harness.observed(0);
    const [{ end, record } = assert.fail('ended')] = observed.ends;
    assert.equal(end.cause, 'caller_cancel');
    assert.equal(record?.hangupBy, 'caller');
    const leg = harness.legs[0];
    const bot = harness.bots.connected[0];
    assert.ok(leg && bot);
    assert.equal(leg.closed, true);
    assert.equal(bot.closed, true);
    assert.equal(harness.concurrency.inUse('carrier'), 0);
    assert.equal(harness.gatewayUa.sessionCount, 0);

    // The bot opening late must not revive the call.
    bot.open();
    await flush();
    assert.equal(leg.started.length, 0);
    assert.equal(observed.ends.length, 1);
    assert.ok(!harness.inviteResponses(CARRIER_A).some((r) => r.message.status === 200));

    // The slot is free: the next call takes it.
    harness.bots.behaviour = 'open';
    const next = carrier.call();
    await flush();
    assert.equal((await next.outcome).kind, 'answered');
    await next.bye();
    await flush();
  });

  it('while draining, a new INVITE gets 503 and the call in progress finishes normally', async () => {
    const { harness, carrier } = setup();
    const inProgress = carrier.call();
    await flush();
    assert.equal((await inProgress.outcome).kind, 'answered');

    harness.admission.drain();
    let empty = false;
    harness.registry.whenEmpty(() => {
      empty = true;
    });
    const refused = carrier.call();
    await flush();
    assert.equal(await finalStatus(refused), 503);
    assert.equal(harness.calls.length, 1, 'no controller for the refused INVITE');
    assert.equal(harness.observed(0).call.state, 'answered', 'the call in progress goes on');
    assert.equal(empty, false);

    await inProgress.bye();
    await flush();
    assert.equal(harness.observed(0).ends[0]?.end.cause, 'caller_bye');
    assert.equal(empty, true, 'drain completes when the last call ends');
  });
});

/** A call from `carrier` the gateway answered. */
async function answeredCall(carrier: ReturnType<typeof setup>['carrier'], srtp = false) {
  const session = carrier.call(srtp ? { srtp: newSdesOffer('required') } : {});
  await flush();
  assert.equal((await session.outcome).kind, 'answered');
  return session;
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
    const session = await answeredCall(carrier);
    const ourAnswer = session.remoteSdp;
    const offer = await offerlessReinvite(carrier, session, (ours) => answerOn(31000, ours));
    assert.equal(offer, ourAnswer, 'the 200 offers the SDP we answered the INVITE with');
    const leg = harness.legs[0] ?? assert.fail('a leg');
    assert.equal(leg.updates.length, 1, 'the media leg took the answer');
    assert.equal(leg.updates[0]?.remotePort, 31000);
    await run(harness.clock, 5000);
    assert.equal(harness.observed(0).call.state, 'answered', 'no BYE');
    await session.bye();
    await flush();
  });

  it('over SRTP the answer keeps our key and brings the carrier’s', async () => {
    const { harness, carrier } = setup({ trunk: { media: { encryption: 'required' } } });
    const session = await answeredCall(carrier, true);
    const started = harness.legs[0]?.started[0]?.srtp ?? assert.fail('SRTP leg');
    let answerKey = '';
    await offerlessReinvite(carrier, session, (ours) => {
      const answer = answerOn(31002, ours, 'required');
      answerKey = /inline:([A-Za-z0-9+/]{40})/.exec(answer)?.[1] ?? '';
      return answer;
    });
    const updated = harness.legs[0]?.updates[0]?.srtp ?? assert.fail('re-keyed');
    const base64 = (key: { bytes: Buffer }) => key.bytes.toString('base64');
    assert.equal(base64(updated.sendKey), base64(started.sendKey), 'ours is kept');
    assert.equal(base64(updated.receiveKey), answerKey, 'theirs from the ACK');
    await session.bye();
    await flush();
  });

  it('an answer in the ACK the gateway cannot use ends the call with BYE, no_common_codec', async () => {
    const { harness, carrier } = setup();
    const session = await answeredCall(carrier);
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

describe('a carrier that lost the call without a BYE (RFC 5057 §5.1)', () => {
  for (const status of [481, 404]) {
    it(`answers the bot's transfer (REFER) ${status}: the call ends session_expired with BYE, not at the RTP timeout`, async () => {
      const { harness, carrier } = setup();
      const session = await answeredCall(carrier);
      // A carrier restart: the dialog is gone there (481), or no longer routed to (404).
      if (status === 481) session.terminate({ by: 'local', reason: 'shutdown' });
      else harness.network.garble = answerAs('REFER', ['404 Not Found']);
      const bot = harness.bots.connected[0] ?? assert.fail('a bot');
      bot.hooks.transfer('sip:agent@example.com');
      await run(harness.clock, 1000);
      assert.ok(harness.network.log.some((r) => r.message.isRequest && r.message.method === 'BYE'));
      const [{ end } = assert.fail('ended')] = harness.observed(0).ends;
      assert.deepEqual([end.cause, end.detail], ['session_expired', `dialog gone: REFER answered ${status}`]);
    });
  }
});
