/**
 * Outbound digest in-process: a carrier challenges the gateway's INVITE (RFC 3261 §22.2) and
 * the trunk's `outbound.auth` answers. A challenge after our credentials is answered again only
 * when it says `stale=true` (RFC 7616 §3.3: the nonce was stale, the password right), and only
 * a bounded number of times; any other second challenge ends the attempt.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { InboundSession } from '../../src/sip/call-legs.js';
import { DigestVerifier, parseCredentials } from '../../src/sip/digest.js';
import { answerWith, CARRIER_A, CallHarness, flush } from './helpers/call-harness.js';

let harness: CallHarness | undefined;
afterEach(() => {
  harness?.close();
  harness = undefined;
});

const AUTH = { username: 'patchbay', password: 's3cret', realm: 'carrier.example' };

function setup(): CallHarness {
  harness = new CallHarness({
    trunk: {
      outbound: {
        gateways: [{ name: 'a', host: CARRIER_A.address, port: CARRIER_A.port, priority: 1 }],
        auth: AUTH,
      },
    },
  });
  return harness;
}

/** A carrier's digest check; `restart()` gives it a new key, as a restarted carrier has. */
function carrierVerifier(clock: CallHarness['clock']) {
  let verifier: DigestVerifier;
  const restart = () => {
    verifier = new DigestVerifier({ realm: AUTH.realm, secret: `key-${Math.random()}`, clock });
  };
  restart();
  return {
    restart,
    /** 'ok' when the INVITE's credentials verify; else 401 with challenges (stale=true after a stale nonce) or 403. */
    check(session: InboundSession): 'ok' | 'challenged' | 'refused' {
      const authorization = session.invite.get('authorization');
      const result =
        authorization === undefined
          ? undefined
          : verifier.verify({
              authorization,
              method: 'INVITE',
              uri: session.invite.uri,
              lookupPassword: (user) => (user === AUTH.username ? AUTH.password : undefined),
            });
      if (result?.ok) return 'ok';
      if (result && !result.stale) {
        session.reject(403);
        return 'refused';
      }
      const challenges = verifier.challenges({ stale: result?.stale === true });
      session.reject(
        401,
        challenges.map((value) => ['WWW-Authenticate', value]),
      );
      return 'challenged';
    },
  };
}

describe('outbound digest (RFC 3261 §22.2, RFC 7616 §3.3)', () => {
  it('a second 401 with stale=true is answered with its new nonce, and the call connects', async () => {
    const h = setup();
    const verifier = carrierVerifier(h.clock);
    const answer = answerWith('PCMU');
    const carrier = h.carrier(CARRIER_A, (session) => {
      // Restarted between its challenge and our answer: the nonce it issued is stale now.
      if (carrier.incoming.length === 2) verifier.restart();
      if (verifier.check(session) === 'ok') answer(session);
    });
    const { observed, run } = h.originate();
    await run;
    await flush();
    const invites = carrier.incoming.map((session) => session.invite.get('authorization'));
    assert.equal(invites.length, 3, 'no credentials, the stale nonce, the new nonce');
    const nonces = invites.map((value) => (value === undefined ? undefined : parseCredentials(value).nonce));
    assert.equal(nonces[0], undefined);
    assert.ok(nonces[1] && nonces[2] && nonces[1] !== nonces[2], 'the retry answers the new nonce');
    assert.equal(observed.call.state, 'answered');
    assert.deepEqual(
      observed.events.filter((event) => event.startsWith('attempt')),
      ['attempt:200'],
    );
  });

  for (const [stale, invites, what] of [
    [
      false,
      2,
      'a second 401 without stale=true (our credentials are wrong) ends the attempt: no third INVITE',
    ],
    [true, 4, 'a carrier that says stale=true every time is answered twice at most: no loop'],
  ] as const) {
    it(what, async () => {
      const h = setup();
      const carrier = h.carrier(CARRIER_A, (session) => {
        const challenge = `Digest realm="${AUTH.realm}", nonce="n${carrier.incoming.length}"`;
        session.reject(401, [['WWW-Authenticate', stale ? `${challenge}, stale=true` : challenge]]);
      });
      const { observed, run } = h.originate();
      await run;
      await flush();
      assert.equal(carrier.incoming.length, invites, 'without credentials, then the answers');
      assert.deepEqual(
        observed.events.filter((event) => event.startsWith('attempt')),
        ['attempt:401'],
      );
    });
  }
});
