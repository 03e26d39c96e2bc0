/**
 * The outbound Authorizer of DigestSupport: 401/407 challenges answered with the trunk's
 * credentials, and with `outbound.auth.realm` only those for that realm (RFC 3261 §22.2).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DigestSupport } from '../../src/gateway/digest-support.js';
import { parseCredentials } from '../../src/sip/digest.js';
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
    const [header, value] = authorize(challenge(401, 'anything.example'), invite) ?? [];
    assert.equal(header, 'Authorization');
    assert.equal(parseCredentials(value ?? '').realm, 'anything.example');
  });

  it('answers only the configured realm, also when it is not the first challenge', () => {
    const authorize = digest.authorizer({ username: 'u', password: 'p', realm: 'carrier.example' });
    const [header, value] = authorize(challenge(407, 'proxy.other', 'carrier.example'), invite) ?? [];
    assert.equal(header, 'Proxy-Authorization');
    const credentials = parseCredentials(value ?? '');
    assert.equal(credentials.realm, 'carrier.example');
    assert.equal(credentials.nonce, 'n1');
  });

  it('does not offer the password to another realm', () => {
    const authorize = digest.authorizer({ username: 'u', password: 'p', realm: 'carrier.example' });
    assert.equal(authorize(challenge(401, 'attacker.example'), invite), undefined);
  });
});
