/**
 * Caller identity headers: what an outbound INVITE carries (RFC 3325 P-Asserted-Identity,
 * RFC 3323 Privacy, RFC 5806 Diversion, Remote-Party-ID), the refusal of anything that could
 * inject a header, and what an inbound INVITE's identity headers become as bounded text.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  callerIdHeaders,
  isAnonymous,
  MAX_IDENTITY_TEXT,
  readCallerIdentity,
  readPassedHeaders,
} from '../../src/sip/caller-id.js';
import { parseMessage } from '../../src/sip/parser.js';

function invite(...headers: string[]) {
  const text = [
    'INVITE sip:+15550100@127.0.0.1 SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1',
    'Max-Forwards: 70',
    'From: "Alice Caller" <sip:+15551230000@carrier.example;user=phone>;tag=abc',
    'To: <sip:+15550100@127.0.0.1>',
    'Call-ID: caller-id@test',
    'CSeq: 1 INVITE',
    ...headers,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const message = parseMessage(Buffer.from(text));
  assert.ok(message.isRequest);
  return message;
}

describe('callerIdHeaders', () => {
  it('writes P-Asserted-Identity, Privacy, Diversion and Remote-Party-ID', () => {
    assert.deepEqual(
      callerIdHeaders({
        assertedIdentity: 'sip:+15551230000@pbx.example;user=phone',
        privacy: ['id', 'critical'],
        diversion: { uri: 'sip:+15559990000@pbx.example;user=phone', reason: 'no-answer' },
        remotePartyId: true,
      }),
      [
        ['P-Asserted-Identity', '<sip:+15551230000@pbx.example;user=phone>'],
        ['Privacy', 'id;critical'],
        ['Diversion', '<sip:+15559990000@pbx.example;user=phone>;reason=no-answer;counter=1'],
        [
          'Remote-Party-ID',
          '<sip:+15551230000@pbx.example;user=phone>;party=calling;screen=yes;privacy=full',
        ],
      ],
    );
    assert.deepEqual(callerIdHeaders({}), []);
    assert.deepEqual(callerIdHeaders({ privacy: ['none'], remotePartyId: true }), [['Privacy', 'none']]);
  });

  it('refuses anything that could end the header or the name-addr early', () => {
    for (const uri of [
      'sip:a@b\r\nX-Injected: 1',
      'sip:a@b\nVia: x',
      'sip:a@b>, <sip:evil@x',
      'sip:a@b, sip:c@d',
      'sip:a b@c',
      'sip:"a"@b',
      '',
    ]) {
      assert.throws(() => callerIdHeaders({ assertedIdentity: uri }), RangeError, JSON.stringify(uri));
      assert.throws(() => callerIdHeaders({ diversion: { uri, reason: 'unknown' } }), RangeError);
    }
    assert.throws(() => callerIdHeaders({ privacy: ['id\r\nX: 1'] }), RangeError);
    assert.throws(() => callerIdHeaders({ privacy: ['id;user'] }), RangeError);
    assert.throws(() => callerIdHeaders({ diversion: { uri: 'sip:a@b', reason: 'x y' } }), RangeError);
  });

  it('calls a call anonymous when Privacy has id or user (RFC 3323 §4.2, RFC 3325 §9.3)', () => {
    assert.equal(isAnonymous(['id']), true);
    assert.equal(isAnonymous(['user', 'critical']), true);
    assert.equal(isAnonymous(['header', 'session']), false);
    assert.equal(isAnonymous(['none']), false);
    assert.equal(isAnonymous(undefined), false);
  });
});

describe('readCallerIdentity', () => {
  it('reads From without its tag, P-Asserted-Identity, Privacy, Diversion and Remote-Party-ID', () => {
    const identity = readCallerIdentity(
      invite(
        'P-Asserted-Identity: "Alice" <sip:+15551230000@carrier.example;user=phone>',
        'P-Asserted-Identity: <tel:+15551230000>',
        'Privacy: id; critical',
        'Diversion: <sip:+15559990000@carrier.example>;reason=user-busy;counter=1, <sip:+15558880000@x.example>;reason=no-answer',
        'Remote-Party-ID: "Alice" <sip:+15551230000@carrier.example>;party=calling;screen=yes;privacy=off',
      ),
    );
    assert.deepEqual(identity, {
      from: '"Alice Caller" <sip:+15551230000@carrier.example;user=phone>',
      assertedIdentity: '"Alice" <sip:+15551230000@carrier.example;user=phone>, <tel:+15551230000>',
      privacy: 'id;critical',
      diversion:
        '<sip:+15559990000@carrier.example>;reason=user-busy;counter=1, <sip:+15558880000@x.example>;reason=no-answer',
      remotePartyId: '"Alice" <sip:+15551230000@carrier.example>;party=calling;screen=yes;privacy=off',
    });
  });

  it('skips values that do not parse, leaves out text over the bound, and never throws', () => {
    const long = `sip:${'a'.repeat(MAX_IDENTITY_TEXT)}@carrier.example`;
    const identity = readCallerIdentity(
      invite(`P-Asserted-Identity: <${long}>`, 'Diversion: <<garbage', 'Privacy: id, "x"'),
    );
    assert.equal(identity.assertedIdentity, undefined, 'too long: left out, not cut');
    assert.equal(identity.diversion, undefined);
    assert.equal(identity.privacy, undefined, 'no token left');
    assert.ok(identity.from);
    const mixed = readCallerIdentity(invite('P-Asserted-Identity: <sip:bad@@x>, <sip:ok@carrier.example>'));
    assert.equal(mixed.assertedIdentity, '<sip:ok@carrier.example>');
  });

  it('turns control and format characters in display names into spaces', () => {
    const identity = readCallerIdentity(invite('P-Asserted-Identity: "Ali\u202Ece\u0007" <sip:a@b>'));
    assert.equal(identity.assertedIdentity, '"Ali ce " <sip:a@b>');
  });
});

describe('readPassedHeaders', () => {
  it('gives each named header present as printable text, its lines joined, one over the bound left out', () => {
    const request = invite(
      'User-to-User: 56a390f3d2b7310023a2;encoding=hex',
      'X-Tag: one',
      'x-tag: two\u200b',
      `X-Long: ${'x'.repeat(MAX_IDENTITY_TEXT + 1)}`,
    );
    assert.deepEqual(readPassedHeaders(request, ['User-to-User', 'X-Tag', 'X-Long', 'X-Absent']), [
      ['User-to-User', '56a390f3d2b7310023a2;encoding=hex'],
      ['X-Tag', 'one, two'],
    ]);
  });
});
