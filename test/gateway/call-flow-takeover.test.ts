/**
 * A call resumed on another node, in process: a carrier calls node A (the harness's gateway
 * UA), the call's snapshot is read back, node A goes away, and node B (a second user agent on
 * the same in-memory network) resumes it: a re-INVITE in the same dialog with B's Contact and
 * the next CSeq and o= version, the stream continued with the same SSRC, a bot stream with the
 * same callSid marked resumed, and the carrier's later BYE reaching B and ending the call with
 * one record that names the takeover.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { CallController } from '../../src/gateway/call-controller.js';
import type { CallRecord } from '../../src/gateway/call-record.js';
import { resumedCall } from '../../src/gateway/call-resume.js';
import { parseSnapshot, positionOf, snapshotOf } from '../../src/gateway/call-snapshot.js';
import type { SipRequest } from '../../src/sip/message.js';
import { createOffer, negotiateAnswer } from '../../src/sip/sdp.js';
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

it('node B resumes node A’s answered call: re-INVITE in the dialog, same stream, same callSid', async () => {
  harness = new CallHarness();
  const carrier = harness.carrier(CARRIER_A);
  const offers: SipRequest[] = [];
  const outbound = carrier.ua.call({
    requestUri: `sip:${CALLED}@${GATEWAY.address}:${GATEWAY.port}`,
    destination: GATEWAY,
    from: `<sip:+15551230000@${CARRIER_A.address}>`,
    to: `<sip:${CALLED}@${GATEWAY.address}>`,
    sdp: createOffer({ address: CARRIER_A.address, port: CARRIER_RTP_PORT, codecs: ['PCMU'] }),
    answerOffer: (offer, request) => {
      offers.push(request);
      const answer = negotiateAnswer(offer, {
        address: CARRIER_A.address,
        port: CARRIER_RTP_PORT,
        preferences: ['PCMU'],
      });
      return answer.ok ? { sdp: answer.answer } : { status: 488 };
    },
  });
  await flush();
  harness.bots.connected[0]?.open();
  await flush();
  assert.equal((await outbound.outcome).kind, 'answered');
  const original = harness.observed(0).call;
  const view = original.takeoverView();
  assert.ok(view);
  const snapshot = snapshotOf(view, 'node-a');
  assert.ok(snapshot);
  const parsed = parseSnapshot(snapshot, positionOf(view.leg, harness.clock.wallNow()));
  assert.ok(parsed.ok);

  // Node A dies (its UA drops the dialog without a word); node B picks the call up 1 s later.
  harness.gatewayUa.close();
  await run(harness.clock, 1000);
  const nodeB = new SipUserAgent({
    transport: harness.network.bind(NODE_B),
    clock: harness.clock,
    logger: silentLogger,
    onInvite: (session) => session.reject(503),
  });
  const built = resumedCall(
    {
      ua: nodeB,
      clock: harness.clock,
      config: harness.config,
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
  const { call, run: runResumed } = CallController.resumed(harness.ports, built.call);
  const records: Array<CallRecord | undefined> = [];
  call.on('ended', (_end, record) => records.push(record));
  const resumed: Array<{ outcome: string; gapMs: number }> = [];
  call.on('resumed', (outcome) => resumed.push(outcome));
  void runResumed();
  await run(harness.clock, 200);

  assert.equal(call.id, original.id, 'the same callSid');
  const reinvite = offers[0];
  assert.ok(reinvite, 'the carrier got a re-INVITE');
  assert.equal(reinvite.callId(), outbound.callId);
  assert.equal(reinvite.cseq().seq, 1, 'node A had sent nothing in the dialog: its first CSeq');
  assert.match(reinvite.get('contact') ?? '', /127\.0\.0\.9:5060/);
  assert.match(reinvite.body.toString(), /^o=\S+ \S+ 2 IN IP4/m, 'the next o= version');
  assert.match(reinvite.body.toString(), /^c=IN IP4 127\.0\.0\.9/m);
  const resumedBot = harness.bots.connected[1];
  assert.ok(resumedBot);
  assert.equal(resumedBot.call.callSid, original.id);
  assert.equal(resumedBot.call.resumed, true);
  resumedBot.open();
  await flush();
  assert.equal(call.state, 'answered');
  assert.deepEqual(
    resumed.map(({ outcome }) => outcome),
    ['resumed'],
    'told once that the carrier took the re-INVITE',
  );

  // The carrier's BYE follows the refreshed target to node B.
  await outbound.bye();
  await run(harness.clock, 200);
  assert.equal(call.state, 'completed');
  assert.equal(records.length, 1);
  assert.equal(records[0]?.end.cause, 'caller_bye');
  assert.equal(records[0]?.id, original.id);
  assert.deepEqual(
    { ...records[0]?.takeover, gapMs: undefined },
    { node: 'node-b', fromNode: 'node-a', gapMs: undefined },
  );
  assert.equal(resumed[0]?.gapMs, records[0]?.takeover?.gapMs, 'the gap the record keeps');
  nodeB.close();
});
