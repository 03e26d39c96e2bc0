/**
 * Dialog edge cases where a carrier races us or misbehaves, between two user agents
 * (helpers/session-pair.ts): a CANCEL crossing the 200 (RFC 3261 §9).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import {
  ALICE,
  answerer,
  causeOf,
  closePairs,
  flush,
  isRequest,
  isResponse,
  run,
  setup,
  T1,
} from './helpers/session-pair.js';

afterEach(closePairs);

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
