/**
 * Outbound call flows in-process: the CallController dials through the gateway-side user
 * agent, carrier user agents on two addresses answer with scripted responses, and the real
 * OutboundRouter walks the trunk's failover plan. Also checks that free text from a carrier
 * (its Reason-Phrase) stays in `end.detail` and never reaches a metric label.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CALL_END_CAUSES, type CallEndCause } from '../../src/gateway/call-end.js';
import { OutboundRefusal } from '../../src/gateway/ports.js';
import type { SipMessage, SipRequest } from '../../src/sip/message.js';
import { createOffer } from '../../src/sip/sdp.js';
import { FakeDns } from '../trunks/helpers/fake-dns.js';
import {
  answerWith,
  CARRIER_A,
  CARRIER_B,
  CARRIER_RTP_PORT,
  flush,
  harnessPerTest,
  progressWith,
  run as runFor,
} from './helpers/call-harness.js';

const setup = harnessPerTest();

const ASCII = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?()[]{}<>"=/\\';

/**
 * A deterministic 200-character Reason-Phrase: printable ASCII, with spaces and UTF-8 mixed
 * in after the first 20 characters (the part the test looks for).
 */
function randomPhrase(seed: number): string {
  let state = seed;
  let phrase = '';
  while (phrase.length < 200) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const alphabet = phrase.length < 20 ? ASCII.replace(' ', '') : `${ASCII}é✓ß`;
    phrase += alphabet[(state >>> 8) % alphabet.length];
  }
  return phrase;
}

describe('outbound call flows (CallController → gateway UA → carrier UAs)', () => {
  it('fails over from a gateway answering 503 to the next one, which answers; the record lists both attempts', async () => {
    const h = setup();
    const first = h.carrier(CARRIER_A, (session) => session.reject(503));
    const second = h.carrier(CARRIER_B, answerWith('PCMU'));
    const { observed, run } = h.originate();
    await run;
    await flush();
    await flush();

    assert.equal(first.incoming.length, 1);
    assert.equal(second.incoming.length, 1);
    assert.equal(observed.call.state, 'answered');
    assert.deepEqual(
      observed.events.filter((event) => event.startsWith('attempt') || event === 'answered'),
      ['attempt:503', 'attempt:200', 'answered'],
    );
    assert.equal(h.legs[0]?.started[0]?.codec.name, 'PCMU');
    assert.equal(h.legs[0]?.started[0]?.remoteAddress, '127.0.0.2', 'media goes to the answering carrier');
    assert.equal(h.bots.connected.length, 1, 'the bot is connected once answered');

    const callee = second.incoming[0] ?? assert.fail('carrier B session');
    await callee.bye();
    await flush();
    const [{ end, record } = assert.fail('ended')] = observed.ends;
    assert.equal(end.cause, 'callee_bye');
    assert.ok(record);
    assert.deepEqual(
      record.attempts.map(({ gateway, outcome, reason }) => ({ gateway, outcome, reason })),
      [
        { gateway: 'carrier/a', outcome: '503', reason: '503 is a failover code' },
        { gateway: 'carrier/b', outcome: '200', reason: 'answered' },
      ],
    );
    assert.equal(record.codec, 'PCMU');
    assert.deepEqual(h.journal, ['bot.close', 'media.close']);
    assert.equal(h.concurrency.inUse('carrier'), 0);
  });

  it("a carrier answering in a reliable 183 (RFC 3262 §5) and sending its 200 without SDP: the call takes the 183's answer", async () => {
    const h = setup();
    h.answerReliablyIn183();
    h.carrier(CARRIER_A, progressWith('PCMU', { accept: true }));
    const { observed, run } = h.originate();
    await run;
    await flush();
    assert.equal(observed.call.state, 'answered');
    assert.equal(
      h.network.log.filter((record) => record.message.isRequest && record.message.method === 'PRACK').length,
      1,
    );
    assert.equal(h.legs[0]?.started[0]?.codec.name, 'PCMU');
    assert.equal(h.legs[0]?.started[0]?.remoteAddress, '127.0.0.2');
  });

  it('a carrier offering anew in an early UPDATE after its reliable 183 (RFC 3311 §5.2): the call runs on that offer, in the codec our answer chose', async () => {
    const h = setup({ trunk: { codecs: ['PCMU', 'PCMA'] } });
    h.answerReliablyIn183();
    const carrier = h.carrier(CARRIER_A, progressWith('PCMU'));
    const { observed, run } = h.originate();
    await flush();
    // The carrier's new offer prefers PCMA and moves its media: we answer in PCMU, our preference.
    const offer = createOffer({ address: '127.0.0.3', port: CARRIER_RTP_PORT + 2, codecs: ['PCMA', 'PCMU'] });
    const answered = await h.earlyUpdateFromCarrier(offer);
    assert.equal(answered.status, 200);
    assert.match(answered.body.toString(), /^m=audio \d+ RTP\/AVP 0 /m);
    const callee = carrier.incoming[0] ?? assert.fail('carrier A session');
    callee.accept(callee.lastLocalSdp ?? '');
    await run;
    await flush();
    assert.equal(observed.call.state, 'answered');
    const started = h.legs[0]?.started[0];
    assert.equal(started?.codec.name, 'PCMU');
    assert.equal(started?.remoteAddress, '127.0.0.3');
    assert.equal(started?.remotePort, CARRIER_RTP_PORT + 2);
  });

  it('a callee BYE while the media leg is still starting ends the call for good: it is not marked answered afterwards', async () => {
    const h = setup();
    h.holdMediaStart = true;
    const callee = h.carrier(CARRIER_A, answerWith('PCMU'));
    const { observed, run } = h.originate();
    await run;
    await flush();
    const session = callee.incoming[0] ?? assert.fail('carrier A session');
    assert.equal(session.state, 'confirmed');
    await session.bye();
    await flush();
    assert.equal(observed.ends[0]?.end.cause, 'callee_bye');

    const leg = h.legs[0] ?? assert.fail('media leg');
    leg.releaseStart();
    await flush();
    assert.equal(observed.call.state, 'completed');
    assert.equal(observed.call.summary().answeredAt, undefined);
    assert.equal(h.bots.connected.length, 0, 'no bot for an ended call');
  });

  it('an API hangup while the carrier rings cancels the INVITE; the record keeps that attempt as cancelled', async () => {
    const h = setup();
    const ringing = h.carrier(CARRIER_A, (session) => session.progress(180));
    const { observed, run } = h.originate();
    await run;
    await flush();
    assert.equal(observed.call.state, 'ringing');
    const carrierSide = ringing.incoming[0] ?? assert.fail('carrier A session');

    observed.call.hangup('api_hangup');
    await flush();
    assert.equal(carrierSide.state, 'terminated', 'the carrier got CANCEL');
    const [{ end, record } = assert.fail('ended')] = observed.ends;
    assert.equal(end.cause, 'api_hangup');
    assert.ok(record);
    assert.deepEqual(
      record.attempts.map(({ gateway, outcome, reason }) => ({ gateway, outcome, reason })),
      [{ gateway: 'carrier/a', outcome: 'cancelled', reason: 'call ended: api_hangup' }],
    );
    assert.equal(h.concurrency.inUse('carrier'), 0);
  });

  it('an outbound call the admission refuses while draining ends draining, not rejected_concurrency', async () => {
    const h = setup();
    const carrier = h.carrier(CARRIER_A, answerWith('PCMU'));
    h.admission.drain();
    const { observed, run } = h.originate();
    await assert.rejects(
      run,
      (error: Error) => error instanceof OutboundRefusal && /draining/.test(error.message),
    );
    const [{ end, record } = assert.fail('ended')] = observed.ends;
    assert.equal(end.cause, 'draining');
    assert.equal(end.sipStatus, 503);
    assert.equal(record, undefined, 'never admitted');
    assert.equal(carrier.incoming.length, 0, 'nothing dialled');
    const calls = await h.metrics.callsTotal.get();
    assert.deepEqual(
      calls.values.map((value) => value.labels.outcome),
      ['draining'],
    );
  });

  it('a gateway that never answers fails over at the attempt timeout, not at Timer B', async () => {
    const h = setup({
      trunk: {
        outbound: {
          gateways: [
            { name: 'a', host: CARRIER_A.address, port: CARRIER_A.port, priority: 1 },
            { name: 'b', host: CARRIER_B.address, port: CARRIER_B.port, priority: 2 },
          ],
          attemptTimeoutMs: 2000,
        },
      },
    });
    // Carrier A is mute: not even its 100 Trying reaches the gateway, so no CANCEL may go (§9.1).
    h.network.drop = (message, from) => !message.isRequest && from.address === CARRIER_A.address;
    const silent = h.carrier(CARRIER_A);
    const answering = h.carrier(CARRIER_B, answerWith('PCMU'));
    const { observed, run } = h.originate();
    await run;
    await flush();
    await runFor(h.clock, 2000);
    await flush();
    assert.equal(silent.incoming.length, 1);
    assert.equal(answering.incoming.length, 1);
    assert.equal(observed.call.state, 'answered');
    assert.equal(observed.call.summary().answeredAt !== undefined, true);
    assert.deepEqual(
      observed.events.filter((event) => event.startsWith('attempt')),
      ['attempt:408', 'attempt:200'],
    );
    assert.ok(!h.network.log.some((r) => r.message.isRequest && r.message.method === 'CANCEL'));
  });

  it('a gateway given by DNS name: its first SRV target never answers, the call fails over on the attempt timeout to the second', async () => {
    const dns = new FakeDns();
    dns.addService('carrier.test', [
      { host: 'a.carrier.test', port: CARRIER_A.port, priority: 10, weight: 1, address: CARRIER_A.address },
      { host: 'b.carrier.test', port: CARRIER_B.port, priority: 20, weight: 1, address: CARRIER_B.address },
    ]);
    const h = setup({
      dns,
      trunk: { outbound: { gateways: [{ name: 'srv', host: 'carrier.test' }], attemptTimeoutMs: 2000 } },
    });
    const silent = h.carrier(CARRIER_A);
    const answering = h.carrier(CARRIER_B, answerWith('PCMU'));
    const { observed, run } = h.originate();
    await run;
    await flush();
    await runFor(h.clock, 2500);

    assert.equal(silent.incoming.length, 1);
    assert.equal(answering.incoming.length, 1);
    assert.equal(observed.call.state, 'answered');
    const invites = h.network.log
      .filter((r) => r.message.isRequest && r.message.method === 'INVITE')
      .map((r) => `${r.to.address} ${(r.message as SipRequest).uri}`);
    assert.deepEqual(
      [...new Set(invites)],
      [
        `${CARRIER_A.address} sip:+15559876543@carrier.test`,
        `${CARRIER_B.address} sip:+15559876543@carrier.test`,
      ],
      'the Request-URI keeps the name (RFC 3263); only the destination is resolved',
    );
    const first = 'carrier/srv/a.carrier.test:5070';
    const second = 'carrier/srv/b.carrier.test:5070';
    assert.equal(h.health.get(first)?.snapshot().metrics.ccr.value, 0, 'the timeout counts against a');
    assert.equal(h.health.get(second)?.snapshot().metrics.asr.value, 1);

    await (answering.incoming[0] ?? assert.fail('b session')).bye();
    await flush();
    const record = observed.ends[0]?.record ?? assert.fail('record');
    assert.deepEqual(
      record.attempts.map(({ gateway, outcome, durationMs }) => ({ gateway, outcome, durationMs })),
      [
        { gateway: first, outcome: 'timeout', durationMs: 2000 },
        { gateway: second, outcome: '200', durationMs: 0 },
      ],
    );
  });

  it('a gateway whose name does not resolve is a dns_failure attempt: nothing is sent, the next gateway answers; alone, the call ends dns_failure', async () => {
    const h = setup({
      trunk: {
        outbound: {
          gateways: [
            { name: 'gone', host: 'gone.test', priority: 1 },
            { name: 'a', host: CARRIER_A.address, port: CARRIER_A.port, priority: 2 },
          ],
        },
      },
    });
    h.carrier(CARRIER_A, answerWith('PCMU'));
    const answered = h.originate();
    await answered.run;
    await flush();
    assert.equal(answered.observed.call.state, 'answered');
    assert.deepEqual(
      answered.observed.events.filter((e) => e.startsWith('attempt')),
      ['attempt:dns_failure', 'attempt:200'],
    );
    answered.observed.call.hangup('api_hangup');
    await flush();
    const kept = answered.observed.ends[0]?.record?.attempts[0];
    assert.deepEqual(
      [kept?.gateway, kept?.outcome, kept?.reason],
      ['carrier/gone/gone.test:5060', 'dns_failure', 'dns_failure (A/AAAA gone.test: ENOTFOUND): failover'],
    );
    h.close();

    const alone = setup({ trunk: { outbound: { gateways: [{ name: 'gone', host: 'gone.test' }] } } });
    const failed = alone.originate();
    await failed.run;
    await flush();
    const [{ end, record } = assert.fail('ended')] = failed.observed.ends;
    assert.deepEqual(end, { cause: 'dns_failure', detail: 'A/AAAA gone.test: ENOTFOUND' });
    assert.match(record?.attempts[0]?.reason ?? '', /; no attempts left$/);
    assert.equal(alone.network.log.length, 0, 'no SIP message sent');
    // The record names the target DNS gave (gone.test:5060); the label, the configured gateway.
    const attempts = await alone.metrics.callAttemptsTotal.get();
    assert.deepEqual(
      attempts.values.map((value) => value.labels),
      [{ trunk: 'carrier', gateway: 'gone', status: 'dns_failure' }],
    );
    const calls = await alone.metrics.callsTotal.get();
    assert.deepEqual(
      calls.values.map((value) => value.labels.outcome),
      ['dns_failure'],
    );
  });

  const failures: Array<{ status: number; cause: CallEndCause }> = [
    { status: 500, cause: 'failover_exhausted' },
    { status: 486, cause: 'busy' },
    { status: 603, cause: 'declined' },
  ];
  for (const { status, cause } of failures) {
    it(`a ${status} with a 200-character random Reason-Phrase ends ${cause}; the phrase is only in end.detail, never in a label`, async () => {
      const h = setup({
        trunk: { outbound: { gateways: [{ name: 'a', host: CARRIER_A.address, port: CARRIER_A.port }] } },
      });
      const phrase = randomPhrase(status);
      assert.equal(phrase.length, 200);
      h.carrier(CARRIER_A, (session) => session.reject(status));
      h.network.rewrite = (message: SipMessage) => {
        if (!message.isRequest && message.status === status) message.reason = phrase;
      };
      // An answered inbound call and a refused one on the same metrics, for more label values.
      const caller = h.carrier(CARRIER_B);
      const answered = caller.call();
      await flush();
      assert.equal((await answered.outcome).kind, 'answered');
      await answered.bye();
      h.bots.behaviour = 'refuse';
      caller.call();
      await flush();

      const { observed, run } = h.originate();
      await run;
      await flush();
      await flush();
      const [{ end, record } = assert.fail('ended')] = observed.ends;
      assert.ok((CALL_END_CAUSES as readonly string[]).includes(end.cause));
      assert.equal(end.cause, cause);
      assert.equal(end.sipStatus, status);
      assert.ok(end.detail !== undefined && end.detail.length <= 160, 'detail is bounded');
      const probe = phrase.slice(0, 20);
      assert.ok(end.detail.startsWith(probe), 'the phrase (its start, at least) is in the detail');
      assert.ok(record);
      const withoutDetail = JSON.stringify({ ...record, end: { ...record.end, detail: undefined } });
      assert.ok(!withoutDetail.includes(probe), 'the phrase is nowhere else in the record');
      assert.deepEqual(
        record.attempts.map((attempt) => attempt.outcome),
        [String(status)],
      );

      const exposition = await h.metrics.registry.metrics();
      assert.ok(!exposition.includes(probe), 'the phrase is in no metric');
      const allowed = new Set<string>([...CALL_END_CAUSES, 'answered']);
      const calls = await h.metrics.callsTotal.get();
      const outcomes = calls.values.map((value) => String(value.labels.outcome));
      assert.deepEqual(new Set(outcomes), new Set(['answered', 'bot_unreachable', cause]));
      for (const outcome of outcomes) assert.ok(allowed.has(outcome), `outcome label ${outcome}`);
      for (const value of calls.values) {
        assert.equal(value.labels.trunk, 'carrier');
        assert.ok(value.labels.direction === 'inbound' || value.labels.direction === 'outbound');
      }
      const attempts = await h.metrics.callAttemptsTotal.get();
      assert.deepEqual(
        attempts.values.map((value) => value.labels),
        [{ trunk: 'carrier', gateway: 'a', status: String(status) }],
      );
    });
  }
});
