/**
 * STIR/SHAKEN on an inbound INVITE: the verification verdict (verstat, 3GPP TS 24.229
 * §7.2A.20) wherever carriers put it, and the attestation of the Identity header's SHAKEN
 * PASSporT (RFC 8224 §4, RFC 8588); anything outside the standard values is left out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readCallerIdentity } from '../../src/sip/caller-id.js';
import { parseMessage } from '../../src/sip/parser.js';
import { readShakenAttestation, readVerstat } from '../../src/sip/stir-shaken.js';
import { SeededRandom } from '../../src/util/index.js';

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

const SHAKEN_HEADER = {
  alg: 'ES256',
  ppt: 'shaken',
  typ: 'passport',
  x5u: 'https://cert.example.org/passport.cer',
};

/** RFC 8588 §5's example claims with the given attestation. */
function shakenClaims(attest: unknown) {
  return {
    attest,
    dest: { tn: ['12155551213'] },
    iat: 1471375418,
    orig: { tn: '12155551212' },
    origid: '123e4567-e89b-12d3-a456-426655440000',
  };
}

/** An Identity header value (RFC 8224 §4.1) in full form; the signature is not checked, so any will do. */
function identity(header: unknown, claims: unknown): string {
  return `${base64url(header)}.${base64url(claims)}.c2lnbmF0dXJl;info=<https://cert.example.org/passport.cer>;alg=ES256;ppt="shaken"`;
}

describe('readVerstat', () => {
  it('reads the verdict in a tel URI, in the user part of a SIP URI, or among its parameters', () => {
    assert.equal(readVerstat(['<tel:+12155551212;verstat=TN-Validation-Passed>']), 'TN-Validation-Passed');
    assert.equal(
      readVerstat(['<sip:+12155551212;verstat=TN-Validation-Failed@carrier.example;user=phone>']),
      'TN-Validation-Failed',
    );
    assert.equal(
      readVerstat(['"Bob" <sip:+12155551212@carrier.example;user=phone;verstat=No-TN-Validation>;tag=1']),
      'No-TN-Validation',
    );
  });

  it('answers the standard spelling whatever the case, and nothing for another value', () => {
    assert.equal(readVerstat(['<tel:+12155551212;VERSTAT=tn-validation-passed>']), 'TN-Validation-Passed');
    assert.equal(readVerstat(['<tel:+12155551212;verstat=TN-Validation-Maybe>']), undefined);
    assert.equal(readVerstat(['<tel:+12155551212;verstat>']), undefined);
  });

  it('takes the first identity that has a verdict; a display name or a broken URI gives none', () => {
    assert.equal(
      readVerstat([
        '<sip:+12155551212@carrier.example;user=phone>',
        '<tel:+12155551212;verstat=TN-Validation-Passed>',
        '<sip:+12155551212;verstat=TN-Validation-Failed@carrier.example;user=phone>',
      ]),
      'TN-Validation-Passed',
    );
    assert.equal(
      readVerstat(['"x;verstat=TN-Validation-Passed" <sip:+12155551212@carrier.example>']),
      undefined,
    );
    assert.equal(readVerstat(['<sip:@@;verstat=TN-Validation-Passed>', 'not a uri']), undefined);
    assert.equal(readVerstat([]), undefined);
  });
});

describe('readShakenAttestation', () => {
  it('reads A, B or C from a SHAKEN PASSporT in full form', () => {
    for (const level of ['A', 'B', 'C'])
      assert.equal(readShakenAttestation([identity(SHAKEN_HEADER, shakenClaims(level))]), level);
  });

  it('skips an Identity header of another extension and takes the SHAKEN one after it', () => {
    const diversion = identity({ ...SHAKEN_HEADER, ppt: 'div' }, { ...shakenClaims('A'), div: { tn: '1' } });
    assert.equal(readShakenAttestation([diversion, identity(SHAKEN_HEADER, shakenClaims('B'))]), 'B');
    assert.equal(readShakenAttestation([diversion]), undefined);
  });

  it('gives nothing for the compact form, another level, or anything that is not a PASSporT', () => {
    const [header, , signature] = identity(SHAKEN_HEADER, shakenClaims('A')).split(';')[0]?.split('.') ?? [];
    for (const value of [
      `${header}..${signature};info=<https://cert.example.org/passport.cer>`, // compact: no claims
      identity(SHAKEN_HEADER, shakenClaims('D')),
      identity(SHAKEN_HEADER, shakenClaims(1)),
      identity(SHAKEN_HEADER, { orig: { tn: '1' } }),
      identity({ alg: 'ES256' }, shakenClaims('A')), // no ppt in the protected header
      `${header}.bm90IGpzb24.${signature}`, // the claims are not JSON
      `${header}.${base64url('A')}.${signature}`, // JSON, not an object
      `${header}.e30=.${signature}`, // not base64url (padding)
      'not a passport;info=<https://cert.example.org/passport.cer>',
      `${identity(SHAKEN_HEADER, shakenClaims('A'))};x=${'y'.repeat(4096)}`, // far too long to be one
    ])
      assert.equal(readShakenAttestation([value]), undefined, value.slice(0, 80));
  });
});

describe('STIR/SHAKEN from mangled headers', () => {
  it('never throws, and answers only standard values, for 20,000 mutations of valid headers', () => {
    const random = new SeededRandom(7);
    const identityValue = identity(SHAKEN_HEADER, shakenClaims('A'));
    const identities = [
      '<tel:+12155551212;verstat=TN-Validation-Passed>',
      '"Bob" <sip:+12155551212;verstat=No-TN-Validation@carrier.example;user=phone>;tag=1',
    ];
    const alphabet = ';=<>"@:.,\\%+-_ \u0000\u00ffAbc09';
    const mutate = (text: string): string => {
      const chars = [...text];
      for (let edits = random.int(1, 4); edits > 0; edits--) {
        const at = random.int(0, chars.length);
        const kind = random.int(0, 2);
        const char = alphabet[random.int(0, alphabet.length - 1)] as string;
        if (kind === 0) chars.splice(at, 1);
        else if (kind === 1) chars.splice(at, 0, char);
        else chars[at] = char;
      }
      return chars.join('');
    };
    const verstats = new Set([undefined, 'TN-Validation-Passed', 'TN-Validation-Failed', 'No-TN-Validation']);
    for (let round = 0; round < 10_000; round++) {
      assert.ok(verstats.has(readVerstat(identities.map(mutate))));
      assert.ok(['A', 'B', 'C', undefined].includes(readShakenAttestation([mutate(identityValue)])));
    }
  });
});

describe('readCallerIdentity with STIR/SHAKEN', () => {
  function invite(...headers: string[]) {
    const message = parseMessage(
      Buffer.from(
        [
          'INVITE sip:+15550100@127.0.0.1 SIP/2.0',
          'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1',
          'Max-Forwards: 70',
          'From: <sip:+12155551212;verstat=TN-Validation-Failed@carrier.example;user=phone>;tag=abc',
          'To: <sip:+15550100@127.0.0.1>',
          'Call-ID: stir@test',
          'CSeq: 1 INVITE',
          ...headers,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      ),
    );
    assert.ok(message.isRequest);
    return message;
  }

  it('takes the verdict from P-Asserted-Identity before From, and the attestation from Identity', () => {
    const both = readCallerIdentity(
      invite(
        'P-Asserted-Identity: <sip:+12155551212@carrier.example;user=phone>, <tel:+12155551212;verstat=TN-Validation-Passed>',
        `Identity: ${identity(SHAKEN_HEADER, shakenClaims('B'))}`,
      ),
    );
    assert.equal(both.verstat, 'TN-Validation-Passed');
    assert.equal(both.attestation, 'B');
    // RFC 8224 §4.1: `y` is Identity's compact form.
    const compact = readCallerIdentity(invite(`y: ${identity(SHAKEN_HEADER, shakenClaims('C'))}`));
    assert.equal(compact.attestation, 'C');
    const fromOnly = readCallerIdentity(invite());
    assert.equal(fromOnly.verstat, 'TN-Validation-Failed');
    assert.equal(fromOnly.attestation, undefined);
  });
});
