import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  type DigestChallenge,
  DigestClient,
  DigestVerifier,
  digestResponse,
  parseChallenge,
  parseCredentials,
  pickChallenge,
} from '../../src/sip/digest.js';
import { FakeClock } from '../../src/util/index.js';

const md5 = (text: string | Buffer): string => createHash('md5').update(text).digest('hex');
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The response= value of an Authorization header. */
function responseOf(header: string): string {
  return parseCredentials(header).response;
}

describe('digest responses against published vectors', () => {
  // RFC 2617 §3.5: the WWW-Authenticate and Authorization examples, end to end through the client.
  const rfc2617Challenge =
    'Digest realm="testrealm@host.com", qop="auth,auth-int", ' +
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"';

  test('RFC 2617 §3.5 (MD5, qop=auth)', () => {
    const header = new DigestClient().authorize({
      challenge: parseChallenge(rfc2617Challenge),
      method: 'GET',
      uri: '/dir/index.html',
      username: 'Mufasa',
      password: 'Circle Of Life',
      cnonce: '0a4f113b',
    });
    assert.equal(responseOf(header), '6629fae49393a05397450978507c4ef1');
    assert.deepEqual(parseCredentials(header), {
      username: 'Mufasa',
      realm: 'testrealm@host.com',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      uri: '/dir/index.html',
      response: '6629fae49393a05397450978507c4ef1',
      algorithm: 'MD5',
      qop: 'auth',
      nc: '00000001',
      cnonce: '0a4f113b',
      opaque: '5ccc069c403ebaf9f0171e9517f40e41',
    });
  });

  test('RFC 2617 §3.5 Authorization example parses and its response recomputes', () => {
    const credentials = parseCredentials(
      'Digest username="Mufasa",\r\n realm="testrealm@host.com",\r\n' +
        ' nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\r\n uri="/dir/index.html",\r\n' +
        ' qop=auth,\r\n nc=00000001,\r\n cnonce="0a4f113b",\r\n' +
        ' response="6629fae49393a05397450978507c4ef1",\r\n opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    );
    const recomputed = digestResponse({
      ...credentials,
      qop: credentials.qop,
      nc: credentials.nc ?? '',
      cnonce: credentials.cnonce ?? '',
      password: 'Circle Of Life',
      method: 'GET',
      body: '',
    });
    assert.equal(recomputed, credentials.response);
  });

  test('RFC 2069 §2.4 (no qop; response as corrected by the RFC 2069 errata)', () => {
    const header = new DigestClient().authorize({
      challenge: parseChallenge(
        'Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
          'opaque="5ccc069c403ebaf9f0171e9517f40e41"',
      ),
      method: 'GET',
      uri: '/dir/index.html',
      username: 'Mufasa',
      password: 'CircleOfLife',
    });
    assert.equal(responseOf(header), '1949323746fe6a43ef61f9606e7febea');
    assert.doesNotMatch(header, /qop=|nc=|cnonce=/);
  });

  for (const [algorithm, expected] of [
    ['MD5', '8ca523f5e9506fed4657c9700eebdbec'],
    ['SHA-256', '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1'],
  ] as const) {
    test(`RFC 7616 §3.9.1 (${algorithm})`, () => {
      const challenge = parseChallenge(
        `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${algorithm}, ` +
          'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
      );
      const header = new DigestClient().authorize({
        challenge,
        method: 'GET',
        uri: '/dir/index.html',
        username: 'Mufasa',
        password: 'Circle of Life',
        cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
      });
      assert.match(header, new RegExp(`response="${expected}"`));
      // RFC 7616 §3.4: algorithm, qop and nc are unquoted tokens.
      assert.match(header, new RegExp(`algorithm=${algorithm}(,|$)`));
      assert.match(header, /qop=auth, nc=00000001, cnonce="f2\/wE4q74E6zIJEtWaHKaf5wv\/H5QzzpXusqGemxURZJ"/);
      assert.match(header, /opaque="FQhe\/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"/);
    });
  }
});

describe('SHA-512-256 (RFC 7616 §3.2, RFC 8760)', () => {
  const sha512256 = (text: string): string => createHash('sha512-256').update(text).digest('hex');

  test("the hash is FIPS 180-4's SHA-512/256", () => {
    assert.equal(sha512256('abc'), '53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23');
  });

  test('a challenge offering only SHA-512-256 is answered with it, as the RFC 7616 formulas say', () => {
    const challenge = pickChallenge([
      'Digest realm="carrier.example", nonce="n512", algorithm=SHA-512-256, qop="auth"',
    ]);
    assert.equal(challenge.algorithm, 'SHA-512-256');
    const header = new DigestClient().authorize({
      challenge,
      method: 'REGISTER',
      uri: 'sip:carrier.example',
      username: 'trunk1',
      password: 's3cret',
      cnonce: 'c0ffee',
    });
    const ha1 = sha512256('trunk1:carrier.example:s3cret');
    const ha2 = sha512256('REGISTER:sip:carrier.example');
    assert.equal(responseOf(header), sha512256(`${ha1}:n512:00000001:c0ffee:auth:${ha2}`));
    assert.match(header, /algorithm=SHA-512-256(,|$)/);
  });

  test('of SHA challenges the first listed is taken; MD5 only when nothing else is usable', () => {
    const md5Challenge = 'Digest realm="r", nonce="1", algorithm=MD5, qop="auth"';
    const sha256Challenge = 'Digest realm="r", nonce="2", algorithm=SHA-256, qop="auth"';
    const sha512Challenge = 'Digest realm="r", nonce="3", algorithm=SHA-512-256, qop="auth"';
    assert.equal(pickChallenge([md5Challenge, sha512Challenge, sha256Challenge]).nonce, '3');
    assert.equal(pickChallenge([sha256Challenge, sha512Challenge, md5Challenge]).nonce, '2');
  });

  test('a verifier offering SHA-512-256 checks answers to it', () => {
    const clock = new FakeClock();
    const verifier = new DigestVerifier({
      realm: 'r',
      secret: 's',
      clock,
      algorithms: ['SHA-512-256', 'MD5'],
    });
    const challenges = verifier.challenges();
    assert.deepEqual(
      challenges.map((c) => parseChallenge(c).algorithm),
      ['SHA-512-256', 'MD5'],
    );
    const authorization = new DigestClient().authorize({
      challenge: pickChallenge(challenges),
      method: 'INVITE',
      uri: 'sip:+1555@gw',
      username: 'trunk1',
      password: 's3cret',
    });
    const lookupPassword = (username: string) => (username === 'trunk1' ? 's3cret' : undefined);
    assert.deepEqual(verifier.verify({ authorization, method: 'INVITE', lookupPassword }), {
      ok: true,
      username: 'trunk1',
    });
  });
});

describe('parsing', () => {
  test('challenge: case-insensitive names, tokens, escapes, stale, qop list', () => {
    const challenge = parseChallenge(
      'digest REALM="a \\"quoted\\" realm, with comma",NONCE=abc123 ,  Algorithm=sha-256-SESS, ' +
        'qop="auth,auth-int", opaque="z\\\\", stale=TRUE, domain="sip:x"',
    );
    assert.deepEqual(challenge, {
      realm: 'a "quoted" realm, with comma',
      nonce: 'abc123',
      algorithm: 'SHA-256-sess',
      qop: ['auth', 'auth-int'],
      opaque: 'z\\',
      stale: true,
    });
    assert.equal(parseChallenge('Digest realm="r", nonce="n"').algorithm, 'MD5');
    assert.equal(parseChallenge('Digest realm="r", nonce="n"').stale, false);
  });

  test('garbage, other schemes and unknown algorithms throw a clear Error', () => {
    for (const [value, message] of [
      ['Basic realm="x"', /not a Digest header/],
      ['', /not a Digest header/],
      ['Digest', /not a Digest header/],
      ['Digest realm="x"', /without realm or nonce/],
      ['Digest realm="x", nonce="y", algorithm=SHA-512', /unsupported digest algorithm/],
      ['Digest nonce="y", realm="unterminated', /unterminated/],
      ['Digest realm="x", nonce=', /empty Digest parameter nonce/],
      ['Digest ="x"', /malformed Digest parameter/],
      ['Digest realm', /malformed Digest parameter/],
    ] as const) {
      assert.throws(() => parseChallenge(value), message, value);
    }
  });

  test('credentials: missing fields or qop without nc/cnonce throw', () => {
    assert.throws(() => parseCredentials('Digest username="a", realm="r", nonce="n", uri="u"'), /response/);
    assert.throws(
      () => parseCredentials('Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth'),
      /nc or cnonce/,
    );
  });

  test('pickChallenge prefers SHA-256 and skips challenges it cannot use (RFC 8760 §2.4)', () => {
    const md5Challenge = 'Digest realm="r", nonce="1", algorithm=MD5, qop="auth"';
    const shaChallenge = 'Digest realm="r", nonce="2", algorithm=SHA-256, qop="auth"';
    assert.equal(pickChallenge([md5Challenge, shaChallenge]).algorithm, 'SHA-256');
    assert.equal(pickChallenge([shaChallenge, md5Challenge]).algorithm, 'SHA-256');
    assert.equal(pickChallenge(['Digest realm="r", nonce="3", algorithm=SHA-512', md5Challenge]).nonce, '1');
    assert.throws(() => pickChallenge(['Basic realm="x"']), /no usable Digest challenge/);
    assert.throws(() => pickChallenge([]), /no usable Digest challenge/);
  });

  test('pickChallenge with a realm takes only challenges for it (RFC 3261 §22.2)', () => {
    const other = 'Digest realm="other", nonce="1", algorithm=SHA-256, qop="auth"';
    const ours = 'Digest realm="ours", nonce="2", algorithm=MD5, qop="auth"';
    assert.equal(pickChallenge([other, ours], 'ours').nonce, '2');
    assert.equal(pickChallenge([other, ours]).nonce, '1');
    assert.throws(() => pickChallenge([other], 'ours'), /challenge for realm 'other', configured 'ours'/);
    assert.throws(() => pickChallenge(['Basic realm="ours"'], 'ours'), /no usable Digest challenge/);
  });
});

describe('client', () => {
  const base = { method: 'INVITE', uri: 'sip:bob@example.com', username: 'alice', password: 'pw' };

  test('nc counts per nonce as 8 hex digits; cnonce is random', () => {
    const client = new DigestClient();
    const first = parseChallenge('Digest realm="r", nonce="one", qop="auth"');
    const second = parseChallenge('Digest realm="r", nonce="two", qop="auth"');
    const ncs: Array<string | undefined> = [];
    for (let i = 0; i < 17; i++)
      ncs.push(parseCredentials(client.authorize({ ...base, challenge: first })).nc);
    assert.equal(ncs[0], '00000001');
    assert.equal(ncs[16], '00000011');
    assert.equal(parseCredentials(client.authorize({ ...base, challenge: second })).nc, '00000001');
    assert.equal(parseCredentials(client.authorize({ ...base, challenge: first })).nc, '00000012');
    const cnonces = new Set(
      ncs.map(() => parseCredentials(client.authorize({ ...base, challenge: first })).cnonce),
    );
    assert.equal(cnonces.size, ncs.length);
  });

  test('auth-int only when auth is not offered, hashing the body (RFC 7616 §3.4.3)', () => {
    const body = Buffer.from('v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n');
    const challenge = parseChallenge('Digest realm="r", nonce="n", qop="auth-int"');
    const header = new DigestClient().authorize({ ...base, challenge, body, cnonce: 'c' });
    const ha1 = md5('alice:r:pw');
    const ha2 = md5(`INVITE:sip:bob@example.com:${md5(body)}`);
    assert.match(header, /qop=auth-int,/);
    assert.equal(responseOf(header), md5(`${ha1}:n:00000001:c:auth-int:${ha2}`));
    const both = parseChallenge('Digest realm="r", nonce="n", qop="auth-int,auth"');
    assert.match(new DigestClient().authorize({ ...base, challenge: both, body }), /qop=auth,/);
  });

  test('-sess algorithms hash nonce and cnonce into HA1 (RFC 7616 §3.4.2)', () => {
    for (const [algorithm, h] of [
      ['MD5-sess', md5],
      ['SHA-256-sess', sha256],
    ] as const) {
      const challenge = parseChallenge(`Digest realm="r", nonce="n", qop="auth", algorithm=${algorithm}`);
      const header = new DigestClient().authorize({ ...base, challenge, cnonce: 'c' });
      const ha1 = h(`${h('alice:r:pw')}:n:c`);
      const ha2 = h('INVITE:sip:bob@example.com');
      assert.equal(responseOf(header), h(`${ha1}:n:00000001:c:auth:${ha2}`), algorithm);
      assert.match(header, new RegExp(`algorithm=${algorithm}(,|$)`));
    }
  });

  test('quoted values are escaped and parse back', () => {
    const challenge = parseChallenge('Digest realm="r \\"1\\"", nonce="n", qop="auth"');
    const header = new DigestClient().authorize({ ...base, username: 'a"b\\c', challenge });
    const credentials = parseCredentials(header);
    assert.equal(credentials.username, 'a"b\\c');
    assert.equal(credentials.realm, 'r "1"');
  });

  test('a challenge offering only unknown qops is refused', () => {
    const challenge = parseChallenge('Digest realm="r", nonce="n", qop="auth-conf"');
    assert.throws(() => new DigestClient().authorize({ ...base, challenge }), /no supported qop/);
  });
});

describe('client and verifier', () => {
  const clock = new FakeClock();
  const verifier = new DigestVerifier({ realm: 'carrier', secret: 'x'.repeat(32), clock });
  const lookupPassword = (username: string): string | undefined =>
    username === 'trunk1' ? 's3cret' : undefined;
  const uri = 'sip:+1555@gw';

  function authorize(password: string, challengeIndex = 0, client = new DigestClient()): string {
    return answer(parseChallenge(verifier.challenges()[challengeIndex] ?? ''), client, password);
  }
  /** trunk1's INVITE credentials for `challenge`. */
  function answer(
    challenge: DigestChallenge,
    client = new DigestClient(),
    password = 's3cret',
    target = uri,
  ): string {
    return client.authorize({ challenge, method: 'INVITE', uri: target, username: 'trunk1', password });
  }
  const check = (authorization: string, method = 'INVITE', v = verifier) =>
    v.verify({ authorization, method, uri, lookupPassword });

  test('one challenge per algorithm, SHA-256 first, qop="auth", fresh nonces', () => {
    const challenges = verifier.challenges();
    assert.deepEqual(
      challenges.map((c) => parseChallenge(c).algorithm),
      ['SHA-256', 'MD5'],
    );
    assert.deepEqual(parseChallenge(challenges[0] ?? '').qop, ['auth']);
    assert.notEqual(
      parseChallenge(verifier.challenges()[0] ?? '').nonce,
      parseChallenge(challenges[0] ?? '').nonce,
    );
    assert.equal(pickChallenge([...challenges].reverse()).algorithm, 'SHA-256');
    assert.equal(parseChallenge(verifier.challenges({ stale: true })[0] ?? '').stale, true);
  });

  test('round trip with either algorithm; nc may grow on the same nonce', () => {
    for (const index of [0, 1]) {
      assert.deepEqual(check(authorize('s3cret', index)), { ok: true, username: 'trunk1' });
    }
    const client = new DigestClient();
    const challenge = parseChallenge(verifier.challenges()[0] ?? '');
    for (let i = 0; i < 3; i++) {
      const header = answer(challenge, client);
      assert.equal(check(header).ok, true);
    }
  });

  test('wrong password, wrong method, unknown user, forged nonce', () => {
    assert.deepEqual(check(authorize('nope')), { ok: false, stale: false, reason: 'wrong response' });
    assert.deepEqual(check(authorize('s3cret'), 'BYE'), {
      ok: false,
      stale: false,
      reason: 'wrong response',
    });
    const stranger = authorize('s3cret').replace('username="trunk1"', 'username="mallory"');
    assert.deepEqual(check(stranger), { ok: false, stale: false, reason: 'unknown user' });
    const forged = authorize('s3cret').replace(/nonce="[^"]+"/, 'nonce="bm90LWEtbm9uY2U"');
    assert.deepEqual(check(forged), { ok: false, stale: false, reason: 'forged nonce' });
  });

  test('realm, uri, algorithm and qop must match what was offered', () => {
    const otherRealm = authorize('s3cret').replace('realm="carrier"', 'realm="elsewhere"');
    assert.deepEqual(check(otherRealm), { ok: false, stale: false, reason: 'wrong realm' });
    const header = authorize('s3cret');
    assert.deepEqual(
      verifier.verify({ authorization: header, method: 'INVITE', uri: 'sip:+1555@other-gw', lookupPassword }),
      {
        ok: false,
        stale: false,
        reason: 'uri mismatch: sip:+1555@gw in credentials, sip:+1555@other-gw requested',
      },
    );
    // The same target with another user part (a rewritten Request-URI, or a UA that puts the
    // domain there, as SIPp does) is the same resource (RFC 3261 §22.4).
    const domainOnly = answer(
      parseChallenge(verifier.challenges()[0] ?? ''),
      undefined,
      's3cret',
      'sip:GW:5060',
    );
    assert.equal(
      verifier.verify({ authorization: domainOnly, method: 'INVITE', uri: 'sip:+1555@gw', lookupPassword })
        .ok,
      true,
    );
    const shaOnly = new DigestVerifier({ realm: 'carrier', secret: 'k', clock, algorithms: ['SHA-256'] });
    const md5Answer = new DigestClient().authorize({
      challenge: { ...parseChallenge(shaOnly.challenges()[0] ?? ''), algorithm: 'MD5' },
      method: 'INVITE',
      uri,
      username: 'trunk1',
      password: 's3cret',
    });
    assert.equal(shaOnly.challenges().length, 1);
    assert.deepEqual(check(md5Answer, 'INVITE', shaOnly), {
      ok: false,
      stale: false,
      reason: 'algorithm MD5 not offered',
    });
    // An RFC 2069 answer (no qop) would dodge the nonce-count replay check.
    const noQop = new DigestClient().authorize({
      challenge: { ...parseChallenge(verifier.challenges()[0] ?? ''), qop: [] },
      method: 'INVITE',
      uri,
      username: 'trunk1',
      password: 's3cret',
    });
    assert.deepEqual(check(noQop), { ok: false, stale: false, reason: 'qop (none) not offered' });
  });

  test('a replayed or lower nonce count is refused', () => {
    const client = new DigestClient();
    const challenge = parseChallenge(verifier.challenges()[0] ?? '');
    const first = answer(challenge, client);
    const second = answer(challenge, client);
    assert.equal(check(second).ok, true);
    assert.deepEqual(check(second), { ok: false, stale: false, reason: 'replayed nonce count' });
    assert.deepEqual(check(first), { ok: false, stale: false, reason: 'replayed nonce count' });
  });

  test('an expired nonce with the right password is stale, with the wrong one not (RFC 7616 §3.3)', () => {
    const local = new FakeClock();
    const v = new DigestVerifier({ realm: 'carrier', secret: 's', clock: local, nonceTtlMs: 1000 });
    const challenge = parseChallenge(v.challenges()[0] ?? '');
    const answer = (password: string) =>
      new DigestClient().authorize({ challenge, method: 'INVITE', uri, username: 'trunk1', password });
    local.advance(1000);
    assert.equal(check(answer('s3cret'), 'INVITE', v).ok, true);
    local.advance(1);
    assert.deepEqual(check(answer('s3cret'), 'INVITE', v), {
      ok: false,
      stale: true,
      reason: 'nonce expired',
    });
    assert.deepEqual(check(answer('nope'), 'INVITE', v), {
      ok: false,
      stale: false,
      reason: 'wrong response',
    });
  });

  test("another process's nonce with the right password is stale (restart), not forged", () => {
    const before = new DigestVerifier({ realm: 'carrier', secret: 'old', clock });
    const challenge = parseChallenge(before.challenges()[0] ?? '');
    const header = answer(challenge);
    assert.deepEqual(check(header), { ok: false, stale: true, reason: 'unknown nonce' });
  });

  test('nonce counts are bounded; an evicted nonce is stale rather than replayable', () => {
    const local = new FakeClock();
    const v = new DigestVerifier({ realm: 'carrier', secret: 's', clock: local });
    const oldChallenge = parseChallenge(v.challenges()[0] ?? '');
    const client = new DigestClient();
    const answerOld = () => answer(oldChallenge, client);
    const used = answerOld();
    assert.equal(check(used, 'INVITE', v).ok, true);
    local.advance(1);
    for (let i = 0; i < 10_000; i++) {
      const challenge = parseChallenge(v.challenges()[1] ?? '');
      const header = answer(challenge);
      assert.equal(check(header, 'INVITE', v).ok, true);
    }
    assert.deepEqual(check(used, 'INVITE', v), { ok: false, stale: true, reason: 'nonce forgotten' });
    assert.deepEqual(check(answerOld(), 'INVITE', v), { ok: false, stale: true, reason: 'nonce forgotten' });
    assert.equal(check(authorize('s3cret', 0), 'INVITE', v).ok, false);
    const fresh = parseChallenge(v.challenges()[0] ?? '');
    local.advance(1);
    const header = answer(fresh);
    assert.equal(check(header, 'INVITE', v).ok, true);
  });

  test('malformed headers never throw out of verify', () => {
    const good = authorize('s3cret');
    const nonce = /nonce="([^"]+)"/.exec(good)?.[1] ?? '';
    for (const authorization of [
      '',
      'Basic abc',
      'Digest',
      'Digest username="a", nonce=',
      'Digest ="x"',
      'Digest a="unterminated',
      '\u0000\uffff',
      good.replace(/nc=\w+/, 'nc=zz'),
      good.replace(/nc=\w+/, 'nc=1'),
      good.replace(/, cnonce="[^"]+"/, ''),
      good.replace(/algorithm=[\w-]+/, 'algorithm=SHA-512-256'),
      // Same character count as a SHA-256 response but more bytes: timingSafeEqual would throw.
      good.replace(/response="[^"]+"/, `response="${'é'.repeat(64)}"`),
      good.replace(/nonce="[^"]+"/, `nonce="${'é'.repeat(nonce.length)}"`),
      good.replace(/nonce="[^"]+"/, 'nonce="::::"'),
      good.replace(/uri="[^"]+"/, 'uri=""'),
    ]) {
      let result: ReturnType<typeof check> | undefined;
      assert.doesNotThrow(() => {
        result = check(authorization);
      }, authorization);
      assert.equal(result?.ok, false, authorization);
    }
  });
});
