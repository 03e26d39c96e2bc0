/**
 * SDES in offer/answer (RFC 4568) under a trunk's encryption policy, and the RFC 5939
 * capability offer for optional SRTP. Key bytes are compared through `.bytes`: SecretBytes
 * keeps them private, where deepEqual does not look.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newSdesOffer, parseCrypto } from '../../src/sip/sdes.js';
import {
  type AnswerOptions,
  createOffer,
  negotiateAnswer,
  parseAnswer,
  sameDescription,
} from '../../src/sip/sdp.js';

const sdp = (...lines: string[]): string => `${lines.join('\r\n')}\r\n`;
const LOCAL: AnswerOptions = { address: '203.0.113.5', port: 20000, preferences: ['PCMU', 'PCMA'] };
const KEY_80 = 'cJQlVzwenvvUqKmN9Pj8O+triQ51A/6dXxoO702I';
const KEY_32 = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk';
/** 46 bytes: an AES-256 master key and salt (RFC 6188 §6). */
const KEY_256 = Buffer.alloc(46, 0x5a).toString('base64');

/** baresip 1.0 with `mediaenc srtp-mand`, as it offers. */
function baresipOffer(...crypto: string[]): string {
  return sdp(
    'v=0',
    'o=- 949137735 1020324010 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=audio 36002 RTP/SAVP 0 8 101',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    'a=sendrecv',
    ...(crypto.length > 0 ? crypto : [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_80}`]),
    'a=ptime:20',
  );
}

const plainOffer = (...extra: string[]) =>
  baresipOffer()
    .replace('RTP/SAVP', 'RTP/AVP')
    .replace(/a=crypto:[^\r]*\r\n/, extra.map((l) => `${l}\r\n`).join(''));

const cryptoLines = (text: string) => text.split('\r\n').filter((line) => line.startsWith('a=crypto:'));

describe('answering SDES offers', () => {
  test('baresip srtp-mand: RTP/SAVP answered with the same tag and suite and our own fresh key', () => {
    const result = negotiateAnswer(baresipOffer(), { ...LOCAL, encryption: 'required' });
    assert.ok(result.ok);
    assert.match(result.answer, /m=audio 20000 RTP\/SAVP 0 101/);
    const [line, ...more] = cryptoLines(result.answer);
    assert.equal(more.length, 0);
    assert.match(line ?? '', /^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{40}$/);
    assert.ok(!line?.includes(KEY_80), 'not the offerer’s key');
    assert.equal(result.remote.crypto?.key.bytes.toString('base64'), KEY_80);
    assert.equal(result.local.crypto?.key.bytes.toString('base64'), line?.slice(-40));
    const again = negotiateAnswer(baresipOffer(), { ...LOCAL, encryption: 'required' });
    assert.ok(
      again.ok && !again.local.crypto?.key.equals(result.local.crypto?.key as never),
      'fresh per call',
    );
  });

  test('the first offered suite we run wins, in the offer’s order', () => {
    const result = negotiateAnswer(
      baresipOffer(
        `a=crypto:1 AES_192_CM_HMAC_SHA1_80 inline:${KEY_80}`,
        `a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${KEY_32}`,
        `a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${KEY_80}`,
      ),
      { ...LOCAL, encryption: 'optional' },
    );
    assert.ok(result.ok);
    assert.match(cryptoLines(result.answer)[0] ?? '', /^a=crypto:2 AES_CM_128_HMAC_SHA1_32 /);
    assert.equal(result.remote.crypto?.suite, 'AES_CM_128_HMAC_SHA1_32');
    assert.equal(result.remote.crypto?.key.bytes.toString('base64'), KEY_32);
  });

  test('an AES-256 suite offered first is answered with a 46-byte key of our own (RFC 6188)', () => {
    const result = negotiateAnswer(
      baresipOffer(
        `a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:${KEY_256}`,
        `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${KEY_80}`,
      ),
      { ...LOCAL, encryption: 'required' },
    );
    assert.ok(result.ok);
    const [line, ...more] = cryptoLines(result.answer);
    assert.equal(more.length, 0);
    assert.match(line ?? '', /^a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{62}==$/);
    assert.equal(result.remote.crypto?.key.bytes.toString('base64'), KEY_256);
    assert.equal(result.local.crypto?.key.bytes.length, 46);
    assert.equal(result.local.crypto?.key.bytes.toString('base64'), line?.slice(-64));
  });

  test('lines we cannot honour are skipped: MKI, several keys, session parameters, bad keys', () => {
    const result = negotiateAnswer(
      baresipOffer(
        `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_80}|2^20|1:4`,
        `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${KEY_80};inline:${KEY_32}`,
        `a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${KEY_80} KDR=1`,
        `a=crypto:4 AES_CM_128_HMAC_SHA1_80 inline:${KEY_80.slice(4)}`,
        `a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:${KEY_32}|2^20`,
      ),
      { ...LOCAL, encryption: 'required' },
    );
    assert.ok(result.ok);
    assert.equal(result.remote.crypto?.tag, 5);
    assert.equal(result.remote.crypto?.lifetime, 2 ** 20);
  });

  test('nothing usable: 488 as an encryption mismatch, the reason naming no key', () => {
    const result = negotiateAnswer(
      baresipOffer(
        `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_80}|1:4`,
        `a=crypto:2 F8_128_HMAC_SHA1_80 inline:${KEY_32}`,
      ),
      { ...LOCAL, encryption: 'required' },
    );
    assert.ok(!result.ok);
    assert.equal(result.status, 488);
    assert.equal(result.encryptionMismatch, true);
    assert.equal(result.reason, 'no usable a=crypto (crypto MKI is not supported)');
    assert.doesNotMatch(result.reason, new RegExp(`${KEY_80.slice(0, 8)}|${KEY_32.slice(0, 8)}`));
  });

  test('a session refresh keeps our key, so an unchanged offer gets the same answer', () => {
    const first = negotiateAnswer(baresipOffer(), { ...LOCAL, encryption: 'required', sessionId: 9 });
    assert.ok(first.ok);
    const refresh = negotiateAnswer(baresipOffer(), {
      ...LOCAL,
      encryption: 'required',
      sessionId: 9,
      previousSdp: first.answer,
    });
    assert.ok(refresh.ok);
    assert.ok(sameDescription(first.answer, refresh.answer));
    assert.ok(refresh.local.crypto?.key.equals(first.local.crypto?.key as never));
  });
});

describe('the trunk policy (media.encryption)', () => {
  const cases: Array<[string, AnswerOptions['encryption'], string, 'SAVP' | 'AVP' | 488]> = [
    ['required refuses plain RTP', 'required', plainOffer(), 488],
    ['required answers SRTP', 'required', baresipOffer(), 'SAVP'],
    ['optional answers plain RTP plainly', 'optional', plainOffer(), 'AVP'],
    [
      'optional ignores a=crypto on RTP/AVP (best-effort SRTP)',
      'optional',
      plainOffer(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_80}`),
      'AVP',
    ],
    ['optional answers SRTP', 'optional', baresipOffer(), 'SAVP'],
    ['none refuses an SRTP-only offer', 'none', baresipOffer(), 488],
    ['none by default', undefined, baresipOffer(), 488],
    ['none answers plain RTP', 'none', plainOffer(), 'AVP'],
  ];
  for (const [name, encryption, offer, expected] of cases) {
    test(name, () => {
      const result = negotiateAnswer(offer, { ...LOCAL, ...(encryption ? { encryption } : {}) });
      if (expected === 488) {
        assert.ok(!result.ok && result.status === 488 && result.encryptionMismatch === true);
        return;
      }
      assert.ok(result.ok);
      assert.match(result.answer, new RegExp(`m=audio 20000 RTP/${expected} `));
      assert.equal(cryptoLines(result.answer).length, expected === 'SAVP' ? 1 : 0);
      assert.equal(result.remote.crypto === undefined, expected === 'AVP');
    });
  }

  test('an offer with an RTP/SAVP and an RTP/AVP stream: the first acceptable one is answered', () => {
    const both = `${baresipOffer()}${plainOffer().slice(plainOffer().indexOf('m=audio')).replace('36002', '36004')}`;
    const none = negotiateAnswer(both, LOCAL);
    assert.ok(none.ok);
    assert.match(none.answer, /m=audio 0 RTP\/SAVP[\s\S]*m=audio 20000 RTP\/AVP/);
    const required = negotiateAnswer(both, { ...LOCAL, encryption: 'required' });
    assert.ok(required.ok);
    assert.match(required.answer, /m=audio 20000 RTP\/SAVP[\s\S]*m=audio 0 RTP\/AVP/);
  });
});

describe("a trunk's srtpSuites", () => {
  test('our offer names its suites in its order, each with a key of its length', () => {
    const offer = newSdesOffer('required', ['AES_256_CM_HMAC_SHA1_32', 'AES_CM_128_HMAC_SHA1_80']);
    assert.deepEqual(
      offer.crypto.map((crypto) => [crypto.tag, crypto.suite, crypto.key.bytes.length]),
      [
        [1, 'AES_256_CM_HMAC_SHA1_32', 46],
        [2, 'AES_CM_128_HMAC_SHA1_80', 30],
      ],
    );
  });

  test("an answer takes the offer's first line whose suite the trunk lists; none listed is a mismatch", () => {
    const offer = baresipOffer(
      `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_80}`,
      `a=crypto:2 AES_256_CM_HMAC_SHA1_80 inline:${KEY_256}`,
    );
    const only256 = {
      ...LOCAL,
      encryption: 'required' as const,
      srtpSuites: ['AES_256_CM_HMAC_SHA1_80'] as const,
    };
    const result = negotiateAnswer(offer, only256);
    assert.ok(result.ok);
    assert.match(cryptoLines(result.answer)[0] ?? '', /^a=crypto:2 AES_256_CM_HMAC_SHA1_80 /);
    const refused = negotiateAnswer(offer, { ...only256, srtpSuites: ['AES_CM_128_HMAC_SHA1_32'] });
    assert.ok(!refused.ok);
    assert.equal(refused.status, 488);
    assert.equal(refused.encryptionMismatch, true);
    assert.match(refused.reason, /crypto suite not taken on this trunk/);
  });
});

describe('our offers and their answers', () => {
  const offerOf = (mode: 'required' | 'optional') => {
    const srtp = newSdesOffer(mode);
    return { srtp, sdp: createOffer({ address: '192.0.2.1', port: 30000, codecs: ['PCMU'], srtp }) };
  };

  test('required: RTP/SAVP with one a=crypto per suite, each its own key', () => {
    const { srtp, sdp: offer } = offerOf('required');
    assert.match(offer, /m=audio 30000 RTP\/SAVP /);
    const lines = cryptoLines(offer);
    assert.deepEqual(
      lines.map((line) => line.split(' ').slice(0, 2).join(' ')),
      ['a=crypto:1 AES_CM_128_HMAC_SHA1_80', 'a=crypto:2 AES_CM_128_HMAC_SHA1_32'],
    );
    assert.equal(lines[0]?.slice(-40), srtp.crypto[0]?.key.bytes.toString('base64'));
    assert.ok(!srtp.crypto[0]?.key.equals(srtp.crypto[1]?.key as never));
  });

  test('required round trip: each side sends with its own key and receives with the other’s', () => {
    const { srtp, sdp: offer } = offerOf('required');
    const answered = negotiateAnswer(offer, { ...LOCAL, encryption: 'required' });
    assert.ok(answered.ok);
    const parsed = parseAnswer(answered.answer, ['PCMU'], srtp);
    assert.ok(parsed.ok);
    assert.equal(parsed.localCrypto?.tag, 1);
    assert.ok(parsed.localCrypto?.key.equals(answered.remote.crypto?.key as never));
    assert.ok(parsed.remote.crypto?.key.equals(answered.local.crypto?.key as never));
  });

  test('optional: RTP/AVP with SRTP as RFC 5939 transport and attribute capabilities', () => {
    const { srtp, sdp: offer } = offerOf('optional');
    assert.match(offer, /m=audio 30000 RTP\/AVP /);
    assert.equal(cryptoLines(offer).length, 0, 'no a=crypto on RTP/AVP');
    const key = (i: number) => srtp.crypto[i]?.key.bytes.toString('base64');
    for (const line of [
      'a=tcap:1 RTP/SAVP',
      `a=acap:1 crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key(0)}`,
      `a=acap:2 crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${key(1)}`,
      'a=pcfg:1 t=1 a=1',
      'a=pcfg:2 t=1 a=2',
    ])
      assert.ok(offer.includes(`${line}\r\n`), line);
  });

  test('optional: a plain answer (from a peer without RFC 5939) is plain RTP', () => {
    const { srtp, sdp: offer } = offerOf('optional');
    const answered = negotiateAnswer(offer, { ...LOCAL, encryption: 'optional' });
    assert.ok(answered.ok);
    const parsed = parseAnswer(answered.answer, ['PCMU'], srtp);
    assert.ok(parsed.ok && parsed.localCrypto === undefined && parsed.remote.crypto === undefined);
  });

  test('optional: an answer taking potential configuration 2 uses our second key', () => {
    const { srtp } = offerOf('optional');
    const answer = sdp(
      'v=0',
      'o=- 1 1 IN IP4 198.51.100.7',
      's=-',
      'c=IN IP4 198.51.100.7',
      't=0 0',
      'm=audio 40000 RTP/SAVP 0',
      `a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${KEY_32}`,
      'a=acfg:2 t=1 a=2',
    );
    const parsed = parseAnswer(answer, ['PCMU'], srtp);
    assert.ok(parsed.ok);
    assert.ok(parsed.localCrypto?.key.equals(srtp.crypto[1]?.key as never));
    assert.equal(parsed.remote.crypto?.key.bytes.toString('base64'), KEY_32);
    // A later re-INVITE from the callee keeps our key for that suite, found in our offer's acap.
    const offer = createOffer({ address: '192.0.2.1', port: 30000, codecs: ['PCMU'], srtp });
    const reinvite = answer.replace('a=acfg:2 t=1 a=2\r\n', '');
    const reanswer = negotiateAnswer(reinvite, { ...LOCAL, encryption: 'optional', previousSdp: offer });
    assert.ok(reanswer.ok && reanswer.local.crypto?.key.equals(srtp.crypto[1]?.key as never));
  });

  test('answers we cannot use', () => {
    const { srtp, sdp: offer } = offerOf('required');
    const good = negotiateAnswer(offer, { ...LOCAL, encryption: 'required' });
    assert.ok(good.ok);
    const refusals: Array<[string, string]> = [
      [
        'plain answer to required',
        good.answer.replace('RTP/SAVP', 'RTP/AVP').replace(/a=crypto[^\r]*\r\n/, ''),
      ],
      ['unknown tag', good.answer.replace('a=crypto:1 ', 'a=crypto:7 ')],
      [
        'suite not the tag’s',
        good.answer.replace('a=crypto:1 AES_CM_128_HMAC_SHA1_80', 'a=crypto:1 AES_CM_128_HMAC_SHA1_32'),
      ],
      ['two keys', good.answer.replace(/(a=crypto[^\r]*\r\n)/, '$1$1')],
      ['no key', good.answer.replace(/a=crypto[^\r]*\r\n/, '')],
    ];
    for (const [name, answer] of refusals) {
      const parsed = parseAnswer(answer, ['PCMU'], srtp);
      assert.ok(!parsed.ok && parsed.encryptionMismatch === true, name);
    }
    const toPlain = parseAnswer(good.answer, ['PCMU']);
    assert.ok(!toPlain.ok && /RTP\/SAVP/.test(toPlain.reason), 'SRTP answer to a plain offer');
  });
});

describe('a=crypto parameters (RFC 4568 §9.1)', () => {
  const line = (
    config: string,
    extra: { id?: number | string; suite?: string; sessionConfig?: string } = {},
  ) => parseCrypto({ id: 1, suite: 'AES_CM_128_HMAC_SHA1_80', config, ...extra } as never);
  test('lifetimes', () => {
    assert.equal((line(`inline:${KEY_80}|2^31`) as { lifetime: number }).lifetime, 2 ** 31);
    assert.equal((line(`inline:${KEY_80}|1048576`) as { lifetime: number }).lifetime, 1048576);
    assert.equal(line(`inline:${KEY_80}|2^49`), 'bad crypto key lifetime');
    assert.equal(line(`inline:${KEY_80}|0`), 'bad crypto key lifetime');
    assert.equal(line(`inline:${KEY_80}|x`), 'bad crypto key lifetime');
  });
  test('tags, keys and methods', () => {
    assert.equal(line(`inline:${KEY_80}`, { id: '' }), 'bad crypto tag');
    assert.equal(line(`uri:${KEY_80}`), 'crypto key is not one inline 30-byte key');
    assert.equal(line(`inline:${KEY_80}==`), 'crypto key is not one inline 30-byte key');
    assert.equal(
      line(`inline:${KEY_80}`, { sessionConfig: 'WSH=64' }),
      'crypto session parameters are not supported',
    );
    assert.equal(line(`inline:${KEY_80}`, { suite: 'AES_192_CM_HMAC_SHA1_80' }), 'unsupported crypto suite');
    // Each suite takes its own key length: 30 bytes for AES-128, 46 for AES-256.
    assert.equal(line(`inline:${KEY_256}`), 'crypto key is not one inline 30-byte key');
    // AES-GCM's salt is 96 bits (RFC 7714 §12): 28 and 44 bytes.
    const gcm128 = Buffer.alloc(28, 1).toString('base64');
    const gcm256 = Buffer.alloc(44, 2).toString('base64');
    assert.equal(
      (line(`inline:${gcm128}`, { suite: 'AEAD_AES_128_GCM' }) as { suite: string }).suite,
      'AEAD_AES_128_GCM',
    );
    assert.equal(
      (line(`inline:${gcm256}`, { suite: 'AEAD_AES_256_GCM' }) as { suite: string }).suite,
      'AEAD_AES_256_GCM',
    );
    assert.equal(
      line(`inline:${KEY_80}`, { suite: 'AEAD_AES_128_GCM' }),
      'crypto key is not one inline 28-byte key',
    );
    const aes256 = { suite: 'AES_256_CM_HMAC_SHA1_32' };
    assert.equal(line(`inline:${KEY_80}`, aes256), 'crypto key is not one inline 46-byte key');
    assert.equal((line(`inline:${KEY_256}|2^20`, aes256) as { lifetime: number }).lifetime, 2 ** 20);
  });
});
