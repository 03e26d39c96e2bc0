import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DigestClient,
  DigestVerifier,
  digestResponse,
  parseChallenge,
  pickChallenge,
} from '../../src/sip/digest.js';
import { FakeClock } from '../../src/util/index.js';

describe('digest responses against published vectors', () => {
  test('RFC 2617 §3.5 (MD5, qop=auth)', () => {
    const response = digestResponse({
      algorithm: 'MD5',
      username: 'Mufasa',
      password: 'Circle Of Life',
      realm: 'testrealm@host.com',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      cnonce: '0a4f113b',
      nc: '00000001',
      qop: 'auth',
      method: 'GET',
      uri: '/dir/index.html',
      body: '',
    });
    assert.equal(response, '6629fae49393a05397450978507c4ef1');
  });

  for (const [algorithm, expected] of [
    ['MD5', '8ca523f5e9506fed4657c9700eebdbec'],
    ['SHA-256', '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1'],
  ] as const) {
    test(`RFC 7616 §3.9.1 (${algorithm})`, () => {
      const client = new DigestClient();
      const challenge = parseChallenge(
        `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${algorithm}, ` +
          'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
      );
      const header = client.authorize({
        challenge,
        method: 'GET',
        uri: '/dir/index.html',
        username: 'Mufasa',
        password: 'Circle of Life',
        cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
      });
      assert.match(header, new RegExp(`response="${expected}"`));
      assert.match(header, /qop=auth, nc=00000001, cnonce="f2\/wE4q74E6zIJEtWaHKaf5wv\/H5QzzpXusqGemxURZJ"/);
      assert.match(header, /opaque="FQhe\/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"/);
    });
  }
});

describe('client and verifier', () => {
  const clock = new FakeClock();
  const verifier = new DigestVerifier({ realm: 'carrier', secret: 'x'.repeat(32), clock });
  const lookupPassword = (username: string): string | undefined =>
    username === 'trunk1' ? 's3cret' : undefined;

  function authorize(password: string, challengeIndex = 0): string {
    const challenge = parseChallenge(verifier.challenges()[challengeIndex] ?? '');
    return new DigestClient().authorize({
      challenge,
      method: 'INVITE',
      uri: 'sip:+1555@gw',
      username: 'trunk1',
      password,
    });
  }

  test('RFC 8760: SHA-256 and MD5 challenges, the client prefers SHA-256', () => {
    const challenges = verifier.challenges();
    assert.equal(challenges.length, 2);
    assert.equal(pickChallenge([...challenges].reverse()).algorithm, 'SHA-256');
  });

  test('round trip with either algorithm', () => {
    for (const index of [0, 1]) {
      const result = verifier.verify({
        authorization: authorize('s3cret', index),
        method: 'INVITE',
        lookupPassword,
      });
      assert.deepEqual(result, { ok: true, username: 'trunk1' });
    }
  });

  test('wrong password, wrong method, unknown user, forged nonce', () => {
    assert.equal(
      verifier.verify({ authorization: authorize('nope'), method: 'INVITE', lookupPassword }).ok,
      false,
    );
    assert.equal(
      verifier.verify({ authorization: authorize('s3cret'), method: 'BYE', lookupPassword }).ok,
      false,
    );
    const forged = authorize('s3cret').replace(/nonce="[^"]+"/, 'nonce="bm90LWEtbm9uY2U"');
    assert.deepEqual(verifier.verify({ authorization: forged, method: 'INVITE', lookupPassword }), {
      ok: false,
      stale: false,
      reason: 'forged nonce',
    });
  });

  test('a replayed nonce count is refused', () => {
    const header = authorize('s3cret');
    assert.equal(verifier.verify({ authorization: header, method: 'INVITE', lookupPassword }).ok, true);
    const replay = verifier.verify({ authorization: header, method: 'INVITE', lookupPassword });
    assert.deepEqual(replay, { ok: false, stale: false, reason: 'replayed nonce count' });
  });

  test('an expired nonce with the right password is stale (RFC 7616 §3.3)', () => {
    const header = authorize('s3cret');
    clock.advance(301_000);
    assert.deepEqual(verifier.verify({ authorization: header, method: 'INVITE', lookupPassword }), {
      ok: false,
      stale: true,
      reason: 'nonce expired',
    });
  });

  test('garbage never throws', () => {
    for (const authorization of [
      '',
      'Basic abc',
      'Digest',
      'Digest username="a", nonce=',
      'Digest ="x"',
      'Digest a="unterminated',
    ]) {
      assert.equal(verifier.verify({ authorization, method: 'INVITE', lookupPassword }).ok, false);
    }
    assert.throws(() => pickChallenge(['Basic realm="x"']));
  });
});
