/**
 * Outbound calls answered by a redirect (RFC 3261 §8.1.3.4) in call flows
 * (helpers/call-harness.ts): a 3xx is followed to the number its Contact names, through the
 * same gateway, at most twice per attempt; a Contact naming no number it may dial is not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SipRequest } from '../../src/sip/message.js';
import { isRequest } from '../sip/helpers/session-pair.js';
import { answerWith, CARRIER_A, flush, harnessPerTest, run as runFor } from './helpers/call-harness.js';

const setup = harnessPerTest();

/**
 * Carrier A redirects each INVITE to the Contact of `contacts` in turn, and answers the next
 * (or, `silent`, leaves it at 100 Trying).
 */
function redirectingCarrier(h: ReturnType<typeof setup>, contacts: string[], silent = false) {
  let invite = 0;
  const answer = answerWith('PCMU');
  return h.carrier(CARRIER_A, (session) => {
    const contact = contacts[invite++];
    if (contact !== undefined) session.reject(302, [['Contact', contact]]);
    else if (!silent) answer(session);
  });
}

const invitesTo = (h: ReturnType<typeof setup>) =>
  h.network.log
    .filter(isRequest('INVITE'))
    .map((record) => ({ uri: (record.message as SipRequest).uri, to: record.to }));

describe('RFC 3261 §8.1.3.4: a carrier redirecting our INVITE', () => {
  it('a 302 is followed to the number its Contact names, through the same gateway, not the host it names', async () => {
    const h = setup();
    redirectingCarrier(h, ['<sip:+15550199@203.0.113.9:5060>;q=0.5, <tel:+15550111>;q=0.9']);
    const { observed, run } = h.originate();
    await run;
    await flush();
    assert.equal(observed.call.state, 'answered');
    const invites = invitesTo(h);
    assert.deepEqual(
      invites.map((invite) => invite.uri),
      ['sip:+15559876543@127.0.0.1:5070', 'sip:+15550111@127.0.0.1:5070'],
      'the Contact of the highest q, dialled through gateway a',
    );
    assert.ok(
      invites.every((invite) => invite.to.address === CARRIER_A.address && invite.to.port === CARRIER_A.port),
    );
    observed.call.hangup('api_hangup');
    await flush();
    const record = observed.ends[0]?.record ?? assert.fail('no record');
    assert.deepEqual(
      record.attempts.map(({ gateway, outcome, redirectedTo }) => ({ gateway, outcome, redirectedTo })),
      [{ gateway: 'carrier/a', outcome: '200', redirectedTo: '+15550111' }],
    );
  });

  it('at most two redirects per attempt: the third 302 ends the call with it', async () => {
    const h = setup();
    const contact = '<sip:+15550199@127.0.0.1>';
    redirectingCarrier(h, [contact, contact, contact]);
    const { observed, run } = h.originate();
    await run;
    await flush();
    assert.equal(invitesTo(h).length, 3);
    const [{ end } = assert.fail('ended')] = observed.ends;
    assert.equal(end.sipStatus, 302);
  });

  it('an attempt redirected and then timed out keeps the number it was redirected to in its record', async () => {
    const gateways = [{ name: 'a', host: CARRIER_A.address, port: CARRIER_A.port }];
    const h = setup({ trunk: { outbound: { gateways, attemptTimeoutMs: 2000 } } });
    redirectingCarrier(h, ['<sip:+15550111@127.0.0.1>'], true);
    const { observed, run } = h.originate();
    await run;
    await flush();
    await runFor(h.clock, 2500);
    const record = observed.ends[0]?.record ?? assert.fail('no record');
    assert.deepEqual(
      record.attempts.map(({ gateway, outcome, redirectedTo }) => ({ gateway, outcome, redirectedTo })),
      [{ gateway: 'carrier/a', outcome: 'timeout', redirectedTo: '+15550111' }],
    );
  });

  for (const contact of ['<sip:%23123@127.0.0.1>', '<sip:127.0.0.1>', 'not a contact <']) {
    it(`a Contact naming no number to dial (${contact}) is not followed`, async () => {
      const h = setup();
      redirectingCarrier(h, [contact]);
      const { observed, run } = h.originate();
      await run;
      await flush();
      assert.equal(invitesTo(h).length, 1);
      assert.equal(observed.ends[0]?.end.sipStatus, 302);
    });
  }
});
