import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  parseMessage,
  parseNameAddr,
  parseUri,
  parseVia,
  SipParseError,
  SipRequestError,
  SipStreamParser,
  serializeMessage,
  serializeNameAddr,
  serializeUri,
  uriHost,
  userPhoneParam,
} from '../../src/sip/index.js';

const INVITE = [
  'INVITE sip:+15551234567@gw.example.com;user=phone SIP/2.0',
  'v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1, SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bK2;received=192.0.2.9',
  'f: "Smith, John \\"JJ\\"" <sip:john@example.com>;tag=abc',
  't: <sip:+15551234567@gw.example.com>',
  'i: call-1@example.com',
  'CSeq: 1 INVITE',
  'Max-Forwards: 70',
  'm: <sip:john@192.0.2.1:5060;transport=udp>;expires=60, "B" <sip:b@h>',
  'Subject: a folded',
  '  header value',
  'Record-Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>',
  'c: application/sdp',
  'l: 5',
  '',
  'v=0\r\n',
].join('\r\n');

describe('SIP message parser (RFC 3261 §7, §25)', () => {
  test('compact forms, folding, multi-value headers and quoted commas', () => {
    const message = parseMessage(Buffer.from(INVITE));
    assert.ok(message.isRequest);
    assert.equal(message.get('Call-ID'), 'call-1@example.com');
    assert.equal(message.get('subject'), 'a folded header value');
    assert.equal(message.vias().length, 2);
    assert.equal(message.vias()[1]?.host, '[2001:db8::1]');
    assert.equal(message.vias()[1]?.port, 5070);
    assert.equal(message.from().displayName, 'Smith, John "JJ"');
    assert.equal(message.fromTag(), 'abc');
    assert.equal(message.contacts().length, 2);
    assert.equal(message.contacts()[0]?.params.get('expires'), '60');
    assert.equal(message.routes('Record-Route').length, 2);
    assert.equal(message.requestUri().params.get('user'), 'phone');
    assert.equal(message.body.toString(), 'v=0\r\n');
    assert.match(serializeMessage(message).toString(), /^Call-ID: call-1@example.com\r$/m);
  });

  test('header names that are Object.prototype members are headers like any other', () => {
    const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];
    const raw = INVITE.replace(
      'Max-Forwards: 70',
      names.map((name) => `${name}: ${name}-value`).join('\r\n'),
    );
    const message = parseMessage(Buffer.from(raw));
    for (const name of names) assert.equal(message.get(name), `${name}-value`);
    assert.equal(message.get('Call-ID'), 'call-1@example.com');
    assert.match(serializeMessage(message).toString(), /^Constructor: constructor-value\r$/m);
  });

  test('Content-Length frames the body; extra datagram bytes are ignored', () => {
    const message = parseMessage(Buffer.from(`${INVITE}garbage`));
    assert.equal(message.body.length, 5);
  });

  test('a maximum message size', () => {
    assert.throws(
      () => parseMessage(Buffer.from(INVITE), { maxMessageBytes: 100 }),
      (error) => error instanceof SipParseError && error.status === 513,
    );
  });

  test('a readable but invalid request carries itself for a 400', () => {
    const bad = INVITE.replace('CSeq: 1 INVITE', 'CSeq: 1 BYE');
    assert.throws(
      () => parseMessage(Buffer.from(bad)),
      (error) =>
        error instanceof SipRequestError && error.status === 400 && error.request.method === 'INVITE',
    );
  });

  test('a 2xx to INVITE or UPDATE whose Contact or Record-Route does not parse is refused (RFC 3261 §12.1.2)', () => {
    const ok = (method: string, extra: string[]) =>
      Buffer.from(
        [
          'SIP/2.0 200 OK',
          'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1',
          'From: <sip:a@example.com>;tag=1',
          'To: <sip:b@example.com>;tag=2',
          'Call-ID: c1',
          `CSeq: 1 ${method}`,
          ...extra,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      );
    const goodContact = 'Contact: <sip:b@192.0.2.2>';
    const badRoute = 'Record-Route: <sip:p1.example.com;lr>, <sip:>';
    for (const method of ['INVITE', 'UPDATE']) {
      assert.throws(() => parseMessage(ok(method, ['Contact: <sip:b@192.0.2.2'])), SipParseError, method);
      assert.throws(() => parseMessage(ok(method, ['Contact: <sip:b@h>', 'm: <>'])), SipParseError, method);
      assert.equal(parseMessage(ok(method, [goodContact, 'Record-Route: <sip:p1;lr>'])).isRequest, false);
    }
    assert.throws(() => parseMessage(ok('INVITE', [goodContact, badRoute])), SipParseError);
    // Read nowhere else: an UPDATE's route set is the dialog's (§12.2.1.2), other 2xx are not
    // target refreshes, and a 1xx makes no dialog we use.
    assert.doesNotThrow(() => parseMessage(ok('UPDATE', [goodContact, badRoute])));
    assert.doesNotThrow(() => parseMessage(ok('OPTIONS', ['Contact: <sip:b@192.0.2.2'])));
    const ringing = ok('INVITE', ['Contact: <>']).toString().replace('200 OK', '180 Ringing');
    assert.doesNotThrow(() => parseMessage(Buffer.from(ringing)));
  });

  test('garbage never throws anything but SipParseError', () => {
    const seeds = [INVITE, 'SIP/2.0 200 OK\r\n\r\n', '\r\n\r\n', 'INVITE\r\n\r\n'];
    let state = 7;
    for (let i = 0; i < 3000; i++) {
      const seed = Buffer.from(seeds[i % seeds.length] ?? '');
      state = (state * 1103515245 + 12345) >>> 0;
      const mutated = Buffer.from(seed);
      for (let j = 0; j < 4; j++) mutated[(state >>> (j * 3)) % mutated.length] = (state >>> (j * 5)) & 0xff;
      try {
        const message = parseMessage(mutated);
        message.vias();
      } catch (error) {
        assert.ok(error instanceof SipParseError, String(error));
      }
    }
  });
});

describe('URIs, name-addr and Via', () => {
  test('URI parameters, headers and escapes round-trip', () => {
    const uri = parseUri(
      'sip:alice%20b:pw@example.com:5070;transport=tcp;lr?subject=hi%20there&priority=urgent',
    );
    assert.equal(uri.user, 'alice b');
    assert.equal(uri.password, 'pw');
    assert.equal(uri.port, 5070);
    assert.equal(uri.params.get('lr'), null);
    assert.equal(uri.headers.get('subject'), 'hi there');
    assert.deepEqual(parseUri(serializeUri(uri)), uri);
  });

  test('a host written into a URI: IPv6 in brackets (RFC 3261 §25.1), names and IPv4 as they are', () => {
    assert.equal(uriHost('2001:db8::7'), '[2001:db8::7]');
    assert.equal(parseUri(`sip:+15551234567@${uriHost('2001:db8::7')}:5090`).port, 5090);
    assert.equal(uriHost('192.0.2.7'), '192.0.2.7');
    assert.equal(uriHost('sbc.example.'), 'sbc.example.');
  });

  test('user=phone only for a user part that is a global telephone number, +digits (RFC 3261 §19.1.1, RFC 3966 §5.1.4)', () => {
    assert.equal(userPhoneParam('+15551234567'), ';user=phone');
    // A local number (a short code, an extension) would need a phone-context (RFC 3966 §5.1.5).
    for (const user of ['5551234567', '611', 'sales', '+', '', '+1-555-123', '1555;ext=2', '+1555a'])
      assert.equal(userPhoneParam(user), '', user);
  });

  test('tel URIs and opaque schemes', () => {
    assert.equal(parseUri('tel:+15551234567;phone-context=+1').user, '+15551234567');
    assert.equal(parseUri('urn:service:sos').opaque, 'service:sos');
  });

  test('addr-spec parameters belong to the header; name-addr ones to the URI', () => {
    const addrSpec = parseNameAddr('sip:a@b;tag=1');
    assert.equal(addrSpec.params.get('tag'), '1');
    assert.equal(addrSpec.uri.params.size, 0);
    const nameAddr = parseNameAddr('Bob <sip:a@b;transport=tcp>;tag=2');
    assert.equal(nameAddr.displayName, 'Bob');
    assert.equal(nameAddr.uri.params.get('transport'), 'tcp');
    assert.equal(serializeNameAddr(nameAddr), '"Bob" <sip:a@b;transport=tcp>;tag=2');
  });

  test('Via with LWS and rport flag', () => {
    const via = parseVia('SIP / 2.0 / udp host.example.com : 5062 ;branch=z9hG4bKx ;rport');
    assert.equal(via.transport, 'UDP');
    assert.equal(via.port, 5062);
    assert.equal(via.params.get('rport'), null);
  });
});

describe('TCP stream framing', () => {
  const one = Buffer.from(INVITE);

  test('partial and pipelined messages, byte by byte', () => {
    const parser = new SipStreamParser();
    const stream = Buffer.concat([one, Buffer.from('\r\n\r\n'), one]);
    const kinds: string[] = [];
    for (const byte of stream) for (const event of parser.push(Buffer.from([byte]))) kinds.push(event.kind);
    assert.deepEqual(kinds, ['message', 'ping', 'message']);
    assert.equal(parser.buffered, 0);
  });

  test('on a connection we opened, each CRLF between messages is a pong (RFC 5626 §4.4.1)', () => {
    const parser = new SipStreamParser(undefined, true);
    const kinds = [Buffer.from('\r\n'), Buffer.from('\r'), Buffer.from('\n'), one].flatMap((chunk) =>
      parser.push(chunk).map((event) => event.kind),
    );
    assert.deepEqual(kinds, ['pong', 'pong', 'message']);
  });

  test('two messages in one chunk, then a bad one, then a good one', () => {
    const parser = new SipStreamParser();
    const bad = Buffer.from('BYE sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n');
    const events = parser.push(Buffer.concat([one, one, bad, one]));
    assert.deepEqual(
      events.map((event) => event.kind),
      ['message', 'message', 'invalid', 'message'],
    );
  });

  test('a header end split across chunks, a body arriving later, a ping between (RFC 5626 §3.5.1)', () => {
    const parser = new SipStreamParser();
    const withBody = Buffer.from(INVITE);
    const split = withBody.indexOf('\r\n\r\n') + 2;
    const chunks = [
      withBody.subarray(0, split),
      withBody.subarray(split, split + 1),
      withBody.subarray(split + 1, withBody.length - 2),
      Buffer.concat([withBody.subarray(withBody.length - 2), Buffer.from('\r\n')]),
      Buffer.from('\r\nINVITE'),
      withBody.subarray(6),
    ];
    const events = chunks.flatMap((chunk) => parser.push(chunk));
    assert.deepEqual(
      events.map((event) => event.kind),
      ['message', 'ping', 'message'],
    );
    for (const event of events)
      if (event.kind === 'message') assert.equal(event.message.body.toString(), 'v=0\r\n');
    assert.equal(parser.buffered, 0);
    assert.equal(parser.headersPending, false);
    parser.push(withBody.subarray(0, 10));
    assert.equal(parser.headersPending, true);
  });

  test('an endless header section is fatal', () => {
    const parser = new SipStreamParser(1000);
    const events = parser.push(Buffer.alloc(2000, 'a'));
    assert.equal(events[0]?.kind, 'fatal');
  });
});
