/**
 * A call resumed on another node, in process: a carrier calls node A (the harness's gateway
 * UA), or node A calls a callee, the call's snapshot is read back, node A goes away, and node
 * B (a second user agent on the same in-memory network) resumes it: a re-INVITE in the same
 * dialog with B's Contact and the next CSeq and o= version, the stream continued with the same
 * SSRC, a bot stream with the same callSid marked resumed, and the far end's later BYE reaching
 * B and ending the call with one record that names the takeover. An SRTP call goes on with the
 * keys its sealed snapshot carries and the rollover counters of its position.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { CallController } from '../../src/gateway/call-controller.js';
import type { CallRecord } from '../../src/gateway/call-record.js';
import { resumedCall } from '../../src/gateway/call-resume.js';
import { parseSnapshot, positionOf, snapshotOf } from '../../src/gateway/call-snapshot.js';
import { SnapshotSeal } from '../../src/gateway/snapshot-seal.js';
import type { SipRequest } from '../../src/sip/message.js';
import { newSdesOffer } from '../../src/sip/sdes.js';
import { createOffer, negotiateAnswer } from '../../src/sip/sdp.js';
import type { OfferAnswer, OfferAnswerer } from '../../src/sip/session.js';
import type { TransportAddress } from '../../src/sip/types.js';
import { SipUserAgent } from '../../src/sip/user-agent.js';
import { silentLogger } from '../../src/util/index.js';
import {
  CALLED,
  CARRIER_A,
  CARRIER_RTP_PORT,
  CallHarness,
  flush,
  GATEWAY,
  run,
} from './helpers/call-harness.js';

const NODE_B: TransportAddress = { transport: 'udp', address: '127.0.0.9', port: 5060 };
let harness: CallHarness | undefined;
afterEach(() => {
  harness?.close();
  harness = undefined;
});

/** The carrier's (or callee's) answer to an offer from the gateway. */
function carrierAnswer(offer: string): OfferAnswer {
  const answer = negotiateAnswer(offer, {
    address: CARRIER_A.address,
    port: CARRIER_RTP_PORT,
    preferences: ['PCMU'],
  });
  return answer.ok ? { sdp: answer.answer } : { status: 488 };
}

/** Answers offers as carrierAnswer does, keeping each request that carried one. */
function answeringOffers(offers: SipRequest[]): OfferAnswerer {
  return (offer, request) => {
    offers.push(request);
    return carrierAnswer(offer);
  };
}

/**
 * Node A goes away without a word 1 s after `original`'s snapshot was read; node B (a second
 * user agent on the same in-memory network) resumes the call from it.
 */
async function resumeOnNodeB(
  h: CallHarness,
  original: CallController,
  bot: 'open' | 'refuse' = 'open',
  seal?: SnapshotSeal,
) {
  const view = original.takeoverView();
  assert.ok(view);
  const snapshot = snapshotOf(view, 'node-a', seal);
  assert.ok(snapshot);
  const parsed = parseSnapshot(snapshot, positionOf(view.leg, h.clock.wallNow()), seal);
  assert.ok(parsed.ok);
  h.gatewayUa.close();
  await run(h.clock, 1000);
  const nodeB = new SipUserAgent({
    transport: h.network.bind(NODE_B),
    clock: h.clock,
    logger: silentLogger,
    onInvite: (session) => session.reject(503),
  });
  const built = resumedCall(
    {
      ua: nodeB,
      clock: h.clock,
      config: h.config,
      mediaAddress: NODE_B.address,
      frameMs: 20,
      nodeId: 'node-b',
    },
    parsed.snapshot,
    parsed.position,
  );
  assert.ok(built.ok);
  assert.equal(built.call.position.ssrc, 1, 'the same SSRC');
  assert.ok(built.call.position.sequenceNumber >= 50, 'the sequence moved on by the second since');
  const { call, run: runResumed } = CallController.resumed(h.ports, built.call);
  const records: Array<CallRecord | undefined> = [];
  call.on('ended', (_end, record) => records.push(record));
  const resumed: Array<{ outcome: string; gapMs: number }> = [];
  call.on('resumed', (outcome) => resumed.push(outcome));
  // A bot to refuse waits until the carrier has answered the re-INVITE.
  if (bot === 'refuse') h.bots.behaviour = 'pending';
  void runResumed();
  await run(h.clock, 200);
  assert.equal(call.id, original.id, 'the same callSid');
  const resumedBot = h.bots.connected.at(-1);
  assert.ok(resumedBot && resumedBot !== h.bots.connected[0], 'a new bot stream');
  assert.equal(resumedBot.call.callSid, original.id);
  assert.equal(resumedBot.call.resumed, true);
  if (bot === 'refuse') resumedBot.refuse('connection refused');
  else resumedBot.open();
  await run(h.clock, 200);
  assert.equal(call.state, bot === 'open' ? 'answered' : 'completed');
  assert.deepEqual(
    resumed.map(({ outcome }) => outcome),
    ['resumed'],
    'told once that the far end took the re-INVITE',
  );
  return { call, nodeB, records, resumed };
}

/** The re-INVITE node B sent: in the dialog, its Contact, the next o= version, its media address. */
function assertTakeoverReinvite(reinvite: SipRequest | undefined, callId: string, cseq: number): void {
  assert.ok(reinvite, 'the far end got a re-INVITE');
  assert.equal(reinvite.callId(), callId);
  assert.equal(reinvite.cseq().seq, cseq);
  assert.match(reinvite.get('contact') ?? '', /127\.0\.0\.9:5060/);
  assert.match(reinvite.body.toString(), /^o=\S+ \S+ 2 IN IP4/m, 'the next o= version');
  assert.match(reinvite.body.toString(), /^c=IN IP4 127\.0\.0\.9/m);
}

/** The one record names the takeover and keeps the gap the event reported. */
function assertTakeoverRecord(
  records: Array<CallRecord | undefined>,
  resumed: Array<{ gapMs: number }>,
  id: string,
  cause: string,
): void {
  assert.equal(records.length, 1);
  assert.equal(records[0]?.end.cause, cause);
  assert.equal(records[0]?.id, id);
  assert.deepEqual(
    { ...records[0]?.takeover, gapMs: undefined },
    { node: 'node-b', fromNode: 'node-a', gapMs: undefined },
  );
  assert.equal(resumed[0]?.gapMs, records[0]?.takeover?.gapMs, 'the gap the record keeps');
}

/**
 * A carrier's call into the gateway (node A), answered; `offers` keeps the re-offers it gets.
 * With `sdp` (an SRTP offer), later offers are answered keeping the carrier's key.
 */
async function answeredInbound(h: CallHarness, offers: SipRequest[], sdp?: string) {
  const outbound = h.carrier(CARRIER_A).ua.call({
    requestUri: `sip:${CALLED}@${GATEWAY.address}:${GATEWAY.port}`,
    destination: GATEWAY,
    from: `<sip:+15551230000@${CARRIER_A.address}>`,
    to: `<sip:${CALLED}@${GATEWAY.address}>`,
    sdp: sdp ?? createOffer({ address: CARRIER_A.address, port: CARRIER_RTP_PORT, codecs: ['PCMU'] }),
    answerOffer: sdp
      ? (offer, request) => {
          offers.push(request);
          const answer = negotiateAnswer(offer, {
            address: CARRIER_A.address,
            port: CARRIER_RTP_PORT,
            preferences: ['PCMU'],
            encryption: 'required',
            previousSdp: sdp,
          });
          return answer.ok ? { sdp: answer.answer } : { status: 488 };
        }
      : answeringOffers(offers),
  });
  await flush();
  h.bots.connected[0]?.open();
  await flush();
  assert.equal((await outbound.outcome).kind, 'answered');
  return outbound;
}

it('node B resumes node A’s answered call: re-INVITE in the dialog, same stream, same callSid', async () => {
  harness = new CallHarness();
  const offers: SipRequest[] = [];
  const outbound = await answeredInbound(harness, offers);
  const original = harness.observed(0).call;
  const { call, nodeB, records, resumed } = await resumeOnNodeB(harness, original);
  // Node A had sent nothing in the dialog: node B's re-INVITE is its first CSeq.
  assertTakeoverReinvite(offers[0], outbound.callId, 1);

  // The carrier's BYE follows the refreshed target to node B.
  await outbound.bye();
  await run(harness.clock, 200);
  assert.equal(call.state, 'completed');
  assertTakeoverRecord(records, resumed, original.id, 'caller_bye');
  nodeB.close();
});

it('a resumed call whose bot cannot be reached counts as resumed by the carrier, and ends with its own cause', async () => {
  harness = new CallHarness();
  await answeredInbound(harness, []);
  const { records, nodeB } = await resumeOnNodeB(harness, harness.observed(0).call, 'refuse');
  assert.equal(records[0]?.end.cause, 'bot_unreachable');
  nodeB.close();
});

it('node B resumes node A’s answered outbound call: the callee gets the re-INVITE, and its BYE ends the call on node B', async () => {
  harness = new CallHarness();
  const offers: SipRequest[] = [];
  const callee = harness.carrier(CARRIER_A, (session) => {
    const answer = carrierAnswer(session.remoteSdp ?? '');
    assert.ok('sdp' in answer && answer.sdp);
    session.accept(answer.sdp, answeringOffers(offers));
  });
  const { observed, run: placed } = harness.originate();
  await placed;
  await flush();
  harness.bots.connected[0]?.open();
  await flush();
  assert.equal(observed.call.state, 'answered');
  const calleeSession = callee.incoming[0] ?? assert.fail('the callee got the INVITE');
  const { call, nodeB, records, resumed } = await resumeOnNodeB(harness, observed.call);
  // Node A's INVITE was CSeq 1 (its ACK shares it): the re-INVITE takes the next.
  assertTakeoverReinvite(offers[0], calleeSession.callId, 2);

  await calleeSession.bye();
  await run(harness.clock, 200);
  assert.equal(call.state, 'completed');
  assertTakeoverRecord(records, resumed, observed.call.id, 'callee_bye');
  nodeB.close();
});

/** The base64 keys of an SDP body's a=crypto lines, in order. */
const sdpKeys = (sdp: string | undefined) =>
  [...(sdp ?? '').matchAll(/inline:([A-Za-z0-9+/]{40})/g)].map((m) => m[1]);

it('node B resumes node A’s SRTP call from its sealed snapshot: the same keys, the rollover counters carried on', async () => {
  harness = new CallHarness({ trunk: { media: { encryption: 'required' } } });
  const offers: SipRequest[] = [];
  const srtp = newSdesOffer('required');
  const offer = createOffer({ address: CARRIER_A.address, port: CARRIER_RTP_PORT, codecs: ['PCMU'], srtp });
  const outbound = await answeredInbound(harness, offers, offer);
  const [nodeAKey] = sdpKeys(outbound.remoteSdp);
  assert.ok(nodeAKey, 'node A answered with its key');
  const seal = new SnapshotSeal('the cluster secret, 32 characters or more');
  const { nodeB } = await resumeOnNodeB(harness, harness.observed(0).call, 'open', seal);
  // The re-INVITE offers node A's key again: the carrier's crypto context for our stream goes on.
  assert.match(offers[0]?.body.toString() ?? '', /m=audio \d+ RTP\/SAVP /);
  assert.deepEqual(sdpKeys(offers[0]?.body.toString()), [nodeAKey]);
  const leg = harness.legs.at(-1) ?? assert.fail('node B opened a leg');
  const keys = leg.started[0]?.srtp ?? assert.fail('node B keyed its leg');
  assert.equal(keys.sendKey.bytes.toString('base64'), nodeAKey);
  assert.equal(keys.receiveKey.bytes.toString('base64'), srtp.crypto[0]?.key.bytes.toString('base64'));
  // From node A's position: its rollover counter (no wrap in the second since) and the far end's state.
  assert.equal(leg.continuedFrom?.srtp?.rolloverCount, 3);
  assert.ok((leg.continuedFrom?.srtp?.srtcpIndex ?? 0) > 12, 'SRTCP goes on past node A’s index');
  assert.deepEqual(leg.continuedFrom?.srtp?.received, {
    ssrc: 77,
    rolloverCount: 1,
    highestSeq: 500,
    srtcpIndex: 31,
  });
  nodeB.close();
});
