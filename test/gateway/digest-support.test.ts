/**
 * DigestSupport: the inbound check of a trunk's INVITEs (401 with challenges, stale=true for a
 * stale nonce, 403 for wrong credentials, no nonce answered twice), and the outbound Authorizer:
 * 401/407 challenges answered with the trunk's credentials, and with `outbound.auth.realm` only
 * those for that realm (RFC 3261 §22.2).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type TrunkConfig, trunkSchema } from '../../src/config/index.js';
import { DigestSupport } from '../../src/gateway/digest-support.js';
import { DigestClient, parseChallenge, parseCredentials } from '../../src/sip/digest.js';
import { SipRequest, SipResponse } from '../../src/sip/message.js';
import { FakeClock } from '../../src/util/clock.js';

const invite = new SipRequest('INVITE', 'sip:+15551230000@carrier.example');

function challenge(status: 401 | 407, ...realms: string[]): SipResponse {
  const response = new SipResponse(status, status === 401 ? 'Unauthorized' : 'Proxy Authentication Required');
  const header = status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate';
  for (const [index, realm] of realms.entries())
    response.append(header, `Digest realm="${realm}", nonce="n${index}", algorithm=MD5, qop="auth"`);
  return response;
}

describe('DigestSupport.authorizer', () => {
  const digest = new DigestSupport(new FakeClock());

  it('answers any realm when the trunk names none', () => {
    const authorize = digest.authorizer({ username: 'u', password: 'p' });
    const [header, value] = authorize(challenge(401, 'anything.example'), invite)?.header ?? [];
    assert.equal(header, 'Authorization');
    assert.equal(parseCredentials(value ?? '').realm, 'anything.example');
  });

  it('answers only the configured realm, also when it is not the first challenge', () => {
    const authorize = digest.authorizer({ username: 'u', password: 'p', realm: 'carrier.example' });
    const [header, value] = authorize(challenge(407, 'proxy.other', 'carrier.example'), invite)?.header ?? [];
    assert.equal(header, 'Proxy-Authorization');
    const credentials = parseCredentials(value ?? '');
    assert.equal(credentials.realm, 'carrier.example');
    assert.equal(credentials.nonce, 'n1');
  });

  it('says whether the challenge it answered had stale=true (RFC 7616 §3.3)', () => {
    const authorize = digest.authorizer({ username: 'u', password: 'p' });
    const stale = challenge(401, 'carrier.example');
    assert.equal(authorize(stale, invite)?.stale, false);
    stale.set('WWW-Authenticate', `${stale.get('www-authenticate')}, stale=true`);
    assert.equal(authorize(stale, invite)?.stale, true);
  });

  it('does not offer the password to another realm', () => {
    const authorize = digest.authorizer({ username: 'u', password: 'p', realm: 'carrier.example' });
    assert.equal(authorize(challenge(401, 'attacker.example'), invite), undefined);
  });
});

describe('DigestSupport.challengeInbound', () => {
  const requestUri = 'sip:+15551230000@gateway.example';
  function trunk(name: string, algorithms = ['SHA-256', 'MD5']): TrunkConfig {
    return trunkSchema.parse({
      name,
      inbound: {
        allowedCidrs: ['192.0.2.0/24'],
        auth: { username: 'carrier', password: 's3cret', realm: 'patchbay', algorithms },
      },
    });
  }
  function inbound(authorization?: string): SipRequest {
    const request = new SipRequest('INVITE', requestUri);
    if (authorization !== undefined) request.append('Authorization', authorization);
    return request;
  }
  /** The carrier's answer to the first challenge of a 401. */
  function answer(challenges: Array<[string, string]> | undefined, password = 's3cret'): string {
    const challenge = parseChallenge(challenges?.[0]?.[1] ?? '');
    return new DigestClient().authorize({
      challenge,
      method: 'INVITE',
      uri: requestUri,
      username: 'carrier',
      password,
    });
  }

  it('challenges, lets the right answer in and refuses a wrong one with 403', () => {
    const digest = new DigestSupport(new FakeClock());
    const carrier = trunk('carrier');
    const challenge = digest.challengeInbound(carrier, inbound());
    assert.equal(challenge?.status, 401);
    assert.equal(parseChallenge(challenge?.headers[0]?.[1] ?? '').stale, false);
    assert.equal(digest.challengeInbound(carrier, inbound(answer(challenge?.headers))), undefined);
    const wrong = digest.challengeInbound(carrier, inbound(answer(challenge?.headers, 'nope')));
    assert.deepEqual([wrong?.status, wrong?.reason], [403, 'wrong response']);
  });

  it('offers SHA-512-256 when the trunk lists it (RFC 8760)', () => {
    const digest = new DigestSupport(new FakeClock());
    const carrier = trunk('carrier', ['SHA-512-256', 'SHA-256']);
    const challenge = digest.challengeInbound(carrier, inbound());
    assert.deepEqual(
      challenge?.headers.map(([, value]) => parseChallenge(value).algorithm),
      ['SHA-512-256', 'SHA-256'],
    );
    assert.equal(digest.challengeInbound(carrier, inbound(answer(challenge?.headers))), undefined);
  });

  it('answers a stale nonce with the right password by challenges with stale=true (RFC 7616 §3.3)', () => {
    const clock = new FakeClock();
    const digest = new DigestSupport(clock);
    const carrier = trunk('carrier');
    const credentials = answer(digest.challengeInbound(carrier, inbound())?.headers);
    clock.advance(300_001);
    const again = digest.challengeInbound(carrier, inbound(credentials));
    assert.equal(again?.status, 401);
    assert.deepEqual(
      again?.headers.map(([, value]) => parseChallenge(value).stale),
      [true, true],
      'without stale=true the caller takes its credentials as wrong and gives up (RFC 3261 §22.2)',
    );
  });

  it('never lets the same credentials in twice: not at another trunk, nor after a reload', () => {
    const digest = new DigestSupport(new FakeClock());
    const before = trunk('carrier');
    const credentials = answer(digest.challengeInbound(before, inbound())?.headers);
    assert.equal(digest.challengeInbound(before, inbound(credentials)), undefined);
    assert.equal(digest.challengeInbound(before, inbound(credentials))?.status, 403, 'replayed');
    // Another trunk with the same realm and credentials, the trunk after a reload that
    // reordered its algorithms, and after a reload back: each a new verifier, which must not take
    // the used nonce afresh.
    for (const other of [trunk('other-carrier'), trunk('carrier', ['MD5', 'SHA-256']), trunk('carrier')]) {
      const replayed = digest.challengeInbound(other, inbound(credentials));
      assert.equal(replayed?.status, 401, `${other.name}: the replayed INVITE was let in`);
      assert.ok(replayed?.headers.every(([, value]) => parseChallenge(value).stale));
    }
  });
});
