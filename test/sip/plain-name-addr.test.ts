/**
 * The parser leaves From, To and Contact of a plain shape (isPlainNameAddr) to be parsed when
 * read. That is only sound if every value of that shape parses: checked here over the RFC 4475
 * torture messages' values and seeded random mutations of plain ones. Reading them later must
 * give what parsing them at once gives.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseMessage, parseNameAddr, SipParseError } from '../../src/sip/index.js';
import { isPlainNameAddr } from '../../src/sip/uri.js';

const FIXTURES = join(import.meta.dirname, '../../../fixtures/sip/rfc4475');
const NAME_ADDR_HEADER = /^(?:from|f|to|t|contact|m)\s*:(.*)$/i;

function parses(text: string): boolean {
  try {
    parseNameAddr(text);
    return true;
  } catch (error) {
    assert.ok(error instanceof SipParseError, String(error));
    return false;
  }
}

/** Every From/To/Contact value (and its comma-separated parts) of every RFC 4475 message. */
function tortureValues(): string[] {
  const values: string[] = [];
  for (const kind of ['valid', 'invalid']) {
    for (const file of readdirSync(join(FIXTURES, kind))) {
      const head = readFileSync(join(FIXTURES, kind, file), 'latin1').split(/\r?\n\r?\n/, 1)[0] ?? '';
      for (const line of head.split(/\r?\n/)) {
        const value = NAME_ADDR_HEADER.exec(line)?.[1]?.trim();
        if (value !== undefined) values.push(value, ...value.split(','));
      }
    }
  }
  return values;
}

/** A deterministic PRNG (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PLAIN = [
  '<sip:+15551230000@127.0.0.1>',
  '"Caller" <sip:+15559870000@192.0.2.10:5060>;tag=4e2f1a7b',
  'Bob Smith <sips:bob@example.com;transport=tcp;lr>;tag=x;q=0.5;expires="3600"',
  '<sip:gw.example.net:65535>',
];
const SPECIAL = ['"', '\\', '<', '>', ':', ';', '=', '?', '@', '%', ',', ' ', '[', ']', '0', '9', 'a', '\t'];

describe('plain name-addrs: parsed when read', () => {
  test('the plain shape accepts the common forms and nothing that needs a closer look', () => {
    for (const value of PLAIN) assert.equal(isPlainNameAddr(value), true, value);
    for (const value of [
      '<sip:a@b:65536>',
      '<sip:@b>',
      '<sip:a:secret@b>',
      '<sip:a@b?subject=x>',
      '<sip:a@[2001:db8::1]>',
      '"unterminated <sip:a@b>',
      '<sip:a@b>;tag=',
      '<sip:a@b> garbage',
      'sip:a@b',
      '*',
    ])
      assert.equal(isPlainNameAddr(value), false, value);
  });

  test('every value of the plain shape parses (RFC 4475 values and 20,000 mutations)', () => {
    const values = tortureValues();
    assert.ok(values.length > 100);
    const next = random(4475);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
    for (let i = 0; i < 20_000; i++) {
      let value = pick(PLAIN);
      for (let edits = 1 + Math.floor(next() * 3); edits > 0; edits--) {
        const at = Math.floor(next() * (value.length + 1));
        const cut = next() < 0.5 ? 1 : 0;
        value = value.slice(0, at) + (next() < 0.8 ? pick(SPECIAL) : '') + value.slice(at + cut);
      }
      values.push(value);
    }
    let plain = 0;
    for (const value of values) {
      if (!isPlainNameAddr(value)) continue;
      plain++;
      assert.ok(parses(value), `plain but does not parse: ${JSON.stringify(value)}`);
    }
    assert.ok(plain > 1000, `only ${plain} plain values: the mutations miss the shape`);
  });

  test('read later, From, To and Contact are what parsing them at once gives', () => {
    const from = '"Caller" <sip:+15559870000@192.0.2.10>;tag=4e2f1a7b';
    const to = '<sip:+15551230000@127.0.0.1:5060>';
    const contact = '<sip:+15559870000@192.0.2.10:5060;transport=udp>;expires=60';
    const request = parseMessage(
      Buffer.from(
        [
          'INVITE sip:+15551230000@127.0.0.1:5060 SIP/2.0',
          'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1',
          `From: ${from}`,
          `To: ${to}`,
          `Contact: ${contact}`,
          'Call-ID: lazy-1',
          'CSeq: 1 INVITE',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      ),
    );
    assert.deepEqual(request.from(), parseNameAddr(from));
    assert.deepEqual(request.to(), parseNameAddr(to));
    assert.deepEqual(request.contacts(), [parseNameAddr(contact)]);
    assert.equal(request.fromTag(), '4e2f1a7b');
  });

  test('a From that is not plain is still parsed, and refused, while the message is', () => {
    const request = (from: string) =>
      Buffer.from(
        [
          'OPTIONS sip:a@127.0.0.1 SIP/2.0',
          'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-2',
          `From: ${from}`,
          'To: <sip:a@127.0.0.1>',
          'Call-ID: lazy-2',
          'CSeq: 1 OPTIONS',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      );
    assert.throws(() => parseMessage(request('Bob <sip:a@b:99999>;tag=1')), { status: 400, message: /port/ });
    assert.throws(() => parseMessage(request('Bo"b <sip:a@b>')), { status: 400, message: /display name/ });
  });
});
