/**
 * A 3xx to our INVITE (RFC 3261 §8.1.3.4), between two user agents (helpers/session-pair.ts):
 * followed to the Request-URI the `redirect` option gives, in the same Call-ID, From tag and To
 * with a higher CSeq; without the option, or when it gives none, the call fails with the 3xx.
 * A call we cancelled is sent again for nothing: not a 3xx, a challenge or a 421.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { closePairs, flush, isRequest, offer, setup } from './helpers/session-pair.js';

afterEach(closePairs);

const invites = (network: ReturnType<typeof setup>['network']) =>
  network.log.filter(isRequest('INVITE')).map((record) => record.message as SipRequest);

describe('RFC 3261 §8.1.3.4: a 3xx to our INVITE', () => {
  it('is followed to the Request-URI the redirect option gives: same Call-ID, From tag and To, CSeq 2', async () => {
    const { network, incoming, call } = setup();
    const seen: SipResponse[] = [];
    const session = call({
      redirect: (response) => {
        seen.push(response);
        return 'sip:+15550199@127.0.0.1:5070';
      },
    });
    await flush();
    incoming[0]?.reject(302, [['Contact', '<sip:+15550199@elsewhere.example>']]);
    await flush();
    assert.equal(seen[0]?.status, 302);
    const [first, second] = invites(network);
    assert.ok(first && second, network.describe().join(', '));
    assert.equal(second.uri, 'sip:+15550199@127.0.0.1:5070');
    assert.deepEqual(
      [second.callId(), second.fromTag(), second.get('to'), second.cseq().seq],
      [first.callId(), first.fromTag(), first.get('to'), 2],
    );
    incoming[1]?.accept(offer());
    await flush();
    assert.equal((await session.outcome).kind, 'answered');
  });

  it('without the option, or when it gives no URI, the call fails with the 3xx', async () => {
    for (const redirect of [undefined, () => undefined]) {
      const { network, incoming, call } = setup();
      const session = call(redirect ? { redirect } : {});
      await flush();
      incoming[0]?.reject(302, [['Contact', '<sip:+15550199@127.0.0.1:5070>']]);
      await flush();
      const outcome = await session.outcome;
      assert.equal(outcome.kind === 'failed' && outcome.status, 302);
      assert.equal(invites(network).length, 1);
    }
  });

  it('a call we cancelled is not redirected: the 3xx ends it', async () => {
    const { network, incoming, call } = setup();
    const session = call({ redirect: () => 'sip:+15550199@127.0.0.1:5070' });
    await flush();
    session.cancel();
    incoming[0]?.reject(302, [['Contact', '<sip:+15550199@127.0.0.1:5070>']]);
    await flush();
    assert.equal(invites(network).length, 1);
    const outcome = await session.outcome;
    assert.equal(outcome.kind === 'failed' && outcome.status, 302);
  });

  for (const [status, header] of [
    [401, ['WWW-Authenticate', 'Digest realm="carrier", nonce="n1"']],
    [421, ['Require', '100rel']],
  ] as const) {
    it(`nor is a call we cancelled sent again for a ${status}: it ends with it`, async () => {
      const { network, incoming, call } = setup();
      const session = call({
        authorize: () => ({ header: ['Authorization', 'Digest username="u"'], stale: false }),
      });
      await flush();
      session.cancel();
      incoming[0]?.reject(status, [[header[0], header[1]]]);
      await flush();
      assert.equal(invites(network).length, 1);
      const outcome = await session.outcome;
      assert.equal(outcome.kind === 'failed' && outcome.status, status);
    });
  }
});
