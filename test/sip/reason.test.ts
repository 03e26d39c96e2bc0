/** The Reason header (RFC 3326 §2, RFC 6432): read from a carrier's message, written into ours. */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { SipRequest } from '../../src/sip/message.js';
import { q850Reason, signalledReason } from '../../src/sip/reason.js';
import { earlyRequest, fromTo } from './helpers/early-requests.js';
import { causeOf, closePairs, flush, isRequest, isResponse, setup } from './helpers/session-pair.js';

afterEach(closePairs);

function byeWith(...reasons: string[]): SipRequest {
  const bye = new SipRequest('BYE', 'sip:gateway@127.0.0.1');
  for (const reason of reasons) bye.append('Reason', reason);
  return bye;
}

describe('signalledReason (RFC 3326 §2)', () => {
  it('reads a Q.850 cause and its text', () => {
    assert.deepEqual(signalledReason(byeWith('Q.850;cause=16;text="Normal call clearing"')), {
      protocol: 'Q.850',
      cause: 16,
      text: 'Normal call clearing',
    });
  });

  it('prefers the Q.850 value to the SIP one, in one header or two, any case and spacing', () => {
    const expected = { protocol: 'Q.850', cause: 31 };
    assert.deepEqual(
      signalledReason(byeWith('SIP ;cause=200 ;text="Call completed elsewhere", q.850 ; cause = 31')),
      expected,
    );
    assert.deepEqual(signalledReason(byeWith('SIP;cause=480', 'Q.850;cause=31')), expected);
    assert.deepEqual(signalledReason(byeWith('SIP;cause=200;text="Call completed elsewhere"')), {
      protocol: 'SIP',
      cause: 200,
      text: 'Call completed elsewhere',
    });
  });

  it('a value without a usable cause counts as none, and other protocols are skipped', () => {
    for (const value of [
      'Q.850',
      'Q.850;cause=0',
      'Q.850;cause=128',
      'Q.850;cause=abc',
      'SIP;cause=99',
      'SIP;cause=700',
      'Q.850;cause=1234',
    ])
      assert.equal(signalledReason(byeWith(value)), undefined, value);
    assert.equal(signalledReason(byeWith('X-Vendor;cause=5')), undefined);
    assert.deepEqual(signalledReason(byeWith('X-Vendor;cause=5, Q.850;cause=17')), {
      protocol: 'Q.850',
      cause: 17,
    });
    assert.equal(signalledReason(byeWith()), undefined);
  });

  it('a header that does not parse is none, never a throw; the text is printable and bounded', () => {
    assert.equal(signalledReason(byeWith('Q.850;cause=16;text="unterminated')), undefined);
    const long = signalledReason(byeWith(`Q.850;cause=16;text="${'x'.repeat(300)}\u0007é"`));
    assert.equal(long?.text?.length, 100);
    assert.deepEqual(signalledReason(byeWith('Q.850;cause=16;text="\u0007é"')), {
      protocol: 'Q.850',
      cause: 16,
    });
  });
});

describe('q850Reason', () => {
  it('writes a Q.850 value whose text cannot end its quoted string', () => {
    assert.equal(q850Reason(16, 'bot_hangup'), 'Q.850;cause=16;text="bot_hangup"');
    assert.equal(q850Reason(41, 'a "quoted" \\ text'), 'Q.850;cause=41;text="a quoted  text"');
    assert.deepEqual(signalledReason(byeWith(q850Reason(102, 'rtp_timeout'))), {
      protocol: 'Q.850',
      cause: 102,
      text: 'rtp_timeout',
    });
  });
});

describe('a session ended with a Reason', () => {
  it("our BYE carries the Reason we give; the peer's session ends with it", async () => {
    const { network, answered } = setup();
    const { outbound, inbound } = await answered();
    const ended = causeOf(inbound);
    await outbound.bye('hangup', undefined, [['Reason', q850Reason(16, 'bot_hangup')]]);
    await flush();
    assert.equal(
      network.log.find(isRequest('BYE'))?.message.get('reason'),
      'Q.850;cause=16;text="bot_hangup"',
    );
    assert.deepEqual(await ended, {
      by: 'remote',
      reason: 'bye',
      signalled: { protocol: 'Q.850', cause: 16, text: 'bot_hangup' },
    });
  });

  it("a caller's CANCEL with a Reason: the callee's session ends with it", async () => {
    const { network, ring } = setup();
    network.rewrite = (message) => {
      if (message.isRequest && message.method === 'CANCEL') message.set('Reason', 'Q.850;cause=31');
    };
    const { outbound, inbound } = await ring();
    inbound.progress(180);
    await flush();
    const ended = causeOf(inbound);
    outbound.cancel();
    await flush();
    assert.deepEqual((await ended).signalled, { protocol: 'Q.850', cause: 31 });
  });

  it("a caller's BYE on the early dialog (RFC 3261 §15) with a Reason: the callee's session ends with it", async () => {
    const { network, ring } = setup();
    const { inbound } = await ring();
    inbound.progress(180);
    await flush();
    const ringing = network.log.find(isResponse(180, 'INVITE'))?.message ?? assert.fail('no 180');
    const ended = causeOf(inbound);
    const bye = earlyRequest(ringing, 'BYE', { cseq: 2, fromCaller: true, branch: 'eb1' });
    bye.set('Reason', 'Q.850;cause=16');
    network.transmit(bye, ...fromTo(true));
    await flush();
    assert.deepEqual(await ended, {
      by: 'remote',
      reason: 'cancel',
      status: 487,
      signalled: { protocol: 'Q.850', cause: 16 },
    });
  });
});
