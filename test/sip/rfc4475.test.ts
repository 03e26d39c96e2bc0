/**
 * RFC 4475 torture tests, table-driven over fixtures/sip/rfc4475. Valid messages
 * parse and round-trip; every invalid one states what RFC 4475 expects and is sent over a
 * real UDP socket to the stack's user agent, which must answer (or drop) accordingly.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  isResponseForUs,
  parseMessage,
  type SipMessage,
  SipParseError,
  SipTransport,
  SipUserAgent,
  serializeMessage,
} from '../../src/sip/index.js';
import { SystemClock, silentLogger } from '../../src/util/index.js';

const FIXTURES = join(import.meta.dirname, '../../../fixtures/sip/rfc4475');

function fixture(kind: 'valid' | 'invalid', name: string): Buffer {
  return readFileSync(join(FIXTURES, kind, name));
}

/**
 * Most RFC 4475 messages share the branch z9hG4bKkdjuw and one sent-by, so sent in a row to one
 * UA they would match the previous message's server transaction as retransmissions (RFC 3261
 * §17.2.3) and get its response. Each gets its own branch; nothing else in the message changes.
 */
function withOwnBranch(data: Buffer, index: number): Buffer {
  const text = data.toString('latin1');
  return Buffer.from(text.replace(/;branch=(z9hG4bK[^;,\s]*)/, `;branch=$1-t${index}`), 'latin1');
}

/** A header's raw value (full or compact name) from a message's text, before any parsing. */
function rawHeader(text: string, name: string, compact?: string): string | undefined {
  const head = text.split('\r\n\r\n', 1)[0] ?? '';
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    if (key === name || key === compact) return line.slice(colon + 1).trim();
  }
  return undefined;
}

function summary(message: SipMessage): unknown {
  return {
    start: message.isRequest ? [message.method, message.uri] : [message.status, message.reason],
    headers: message.headers.filter((h) => h.key !== 'content-length').map((h) => [h.key, h.value]),
    body: message.body.toString('hex'),
  };
}

describe('RFC 4475 valid messages (§3.1.1)', () => {
  for (const name of readdirSync(join(FIXTURES, 'valid')).filter((file) => file.endsWith('.dat'))) {
    test(`${name} parses and round-trips`, () => {
      const message = parseMessage(fixture('valid', name));
      // Touch the parsed views every layer reads: they must not throw either.
      message.topVia();
      message.cseq();
      message.from();
      message.to();
      message.contacts();
      if (message.isRequest) message.requestUri();
      const again = parseMessage(serializeMessage(message));
      assert.deepEqual(summary(again), summary(message));
    });
  }

  test('esc01: escaped user parts decode', () => {
    const request = parseMessage(fixture('valid', 'esc01.dat'));
    assert.ok(request.isRequest);
    assert.equal(request.requestUri().user, 'sips:user@example.com');
    assert.equal(request.to().uri.user, 'user');
    assert.equal(request.from().uri.user, 'I have spaces');
  });

  test('dblreq: only the first request of the datagram is taken (Content-Length framing)', () => {
    const request = parseMessage(fixture('valid', 'dblreq.dat'));
    assert.ok(request.isRequest);
    assert.equal(request.method, 'REGISTER');
    assert.equal(request.body.length, 0);
  });
});

/**
 * What RFC 4475 expects of each "invalid" message (§3.1.2 syntax, §3.3 application layer):
 * a status the UAS answers, `drop` for what cannot be answered (a response, or no way to
 * build one), or `accept` for messages RFC 4475 says an element should process.
 */
const INVALID: Record<string, { expect: number | 'drop' | 'accept'; why: string }> = {
  'badaspec.dat': {
    expect: 400,
    why: '§3.1.2.15 spaces inside <addr-spec>: reasonable to reject as malformed',
  },
  'badbranch.dat': { expect: 'accept', why: '§3.2.1 branch is just the magic cookie: still a valid request' },
  'baddate.dat': { expect: 'accept', why: '§3.1.2.12 non-GMT Date: may be accepted, the Date is not used' },
  'baddn.dat': { expect: 400, why: '§3.1.2.16 unquoted display name with non-token characters' },
  'badinv01.dat': { expect: 400, why: '§3.1.2.1 empty Via/Contact elements (;;,;,,)' },
  'badvers.dat': { expect: 505, why: '§3.1.2.17 unknown protocol version SIP/7.0: 505' },
  'bcast.dat': {
    expect: 'drop',
    why: '§3.1.2.? response with two Vias: a UAC discards it (RFC 3261 §8.1.3.3)',
  },
  'bext01.dat': { expect: 420, why: '§3.3.4 unknown Require option tags: 420 with Unsupported' },
  'bigcode.dat': { expect: 'drop', why: '§3.1.2.19 overlarge response code: rejected by the parser' },
  'clerr.dat': { expect: 400, why: '§3.1.2.2 Content-Length larger than the datagram: 400' },
  'cparam01.dat': {
    expect: 'accept',
    why: '§3.3.11 Contact with unknown param outside <>: a header param, valid',
  },
  'cparam02.dat': { expect: 'accept', why: '§3.3.12 Contact with unknown URI param inside <>: valid' },
  'escruri.dat': { expect: 400, why: '§3.1.2.10 escaped headers in the Request-URI: 400' },
  'insuf.dat': { expect: 400, why: '§3.1.2.? missing To, From, Call-ID, Max-Forwards: 400' },
  // RFC 4475 §3.4.1 lets an element accept this for RFC 2543 compatibility; patchbay matches
  // transactions by RFC 3261 branch only (§17.2.3) and refuses requests without one.
  'inv2543.dat': { expect: 400, why: '§3.4.1 RFC 2543 INVITE without a branch: refused, no 2543 matching' },
  'invut.dat': { expect: 415, why: '§3.3.6 unknown Content-Type: 415 with Accept' },
  'lwsruri.dat': { expect: 400, why: '§3.1.2.6 LWS inside the Request-URI' },
  'lwsstart.dat': { expect: 400, why: '§3.1.2.7 multiple SP in the request line' },
  'ltgtruri.dat': { expect: 400, why: '§3.1.2.5 <> around the Request-URI' },
  'mcl01.dat': { expect: 400, why: '§3.1.2.11 two Content-Length values' },
  'mismatch01.dat': { expect: 400, why: '§3.1.2.19 CSeq method differs from the request method' },
  'mismatch02.dat': { expect: 400, why: '§3.1.2.20 unknown method with mismatched CSeq' },
  'multi01.dat': { expect: 400, why: '§3.1.2.13 repeated single-value headers' },
  'ncl.dat': { expect: 400, why: '§3.1.2.4 negative Content-Length' },
  'novelsc.dat': { expect: 416, why: '§3.3.3 Request-URI with a known but unsupported scheme: 416' },
  'quotbal.dat': { expect: 400, why: '§3.1.2.3 unterminated quoted display name' },
  'regaut01.dat': { expect: 'accept', why: '§3.3.10 unknown Authorization scheme: parsed, left to the TU' },
  'regbadct.dat': { expect: 400, why: '§3.1.2.14 Contact URI with ? not enclosed in <>' },
  'regescrt.dat': { expect: 'accept', why: '§3.3.9 escaped headers in a Contact URI: valid' },
  'scalar02.dat': { expect: 400, why: '§3.1.2.3 CSeq beyond 2^31: 400' },
  'scalarlg.dat': { expect: 'drop', why: '§3.1.2.4 response with overlarge CSeq: dropped' },
  'sdp01.dat': { expect: 406, why: '§3.3.5 Accept excludes the body type we could answer with: 406' },
  'test.dat': { expect: 'drop', why: 'request line without SIP version and no Via: unanswerable' },
  'trws.dat': { expect: 400, why: '§3.1.2.9 trailing SP after the request line' },
  'unkscm.dat': { expect: 416, why: '§3.3.2 unknown Request-URI scheme: 416' },
  'unksm2.dat': { expect: 'accept', why: '§3.3.8 unknown URI schemes in To/From/Contact: valid' },
  'zeromf.dat': { expect: 'accept', why: '§3.3.7 Max-Forwards 0 at a UAS: processed (483 is for proxies)' },
};

interface Reply {
  status: number;
  header(name: string): string | undefined;
}

describe('RFC 4475 invalid and semantic messages, answered by a UAS over UDP', () => {
  const transport = new SipTransport({
    listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
    logger: silentLogger,
  });
  const client = createSocket('udp4');
  // The real user agent: INVITEs are answered 200, REGISTER 405 (a gateway is no registrar).
  const ua = new SipUserAgent({
    transport,
    clock: new SystemClock(),
    logger: silentLogger,
    onInvite: (session) => session.accept('v=0\r\n'),
  });

  before(async () => {
    await transport.start();
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  });

  after(async () => {
    ua.close();
    client.close();
    await transport.close();
  });

  /**
   * Sends `data` and resolves with the reply carrying its Call-ID (an earlier test's 200 may
   * still be retransmitted meanwhile), or undefined when none comes within `waitMs`.
   */
  function exchange(data: Buffer, waitMs: number): Promise<Reply | undefined> {
    const callId = rawHeader(data.toString('latin1'), 'call-id', 'i');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        client.off('message', onMessage);
        resolve(undefined);
      }, waitMs);
      const onMessage = (reply: Buffer): void => {
        // The answer copies the request's (possibly malformed) headers, so read it raw.
        const text = reply.toString('latin1');
        if (callId !== undefined && rawHeader(text, 'call-id', 'i') !== callId) return;
        clearTimeout(timer);
        client.off('message', onMessage);
        const status = Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1]);
        const utf8 = reply.toString('utf8');
        resolve({ status, header: (name) => rawHeader(utf8, name) });
      };
      client.on('message', onMessage);
      const local = transport.local('udp');
      assert.ok(local);
      client.send(data, local.port, local.address);
    });
  }

  test('the table covers every fixture', () => {
    const files = readdirSync(join(FIXTURES, 'invalid')).filter((file) => file.endsWith('.dat'));
    assert.deepEqual(files.sort(), Object.keys(INVALID).sort());
  });

  for (const [index, [name, { expect, why }]] of Object.entries(INVALID).entries()) {
    test(`${name}: ${expect} (${why})`, async () => {
      const data = withOwnBranch(fixture('invalid', name), index);
      const isResponse = data.toString('latin1', 0, 4) === 'SIP/';
      if (isResponse) {
        // Responses are never answered; the parser rejects them or the UAC check drops them.
        let dropped = false;
        try {
          dropped = !isResponseForUs(parseMessage(data) as never);
        } catch (error) {
          assert.ok(error instanceof SipParseError);
          dropped = true;
        }
        assert.equal(dropped, true);
        return;
      }
      // A drop is judged by silence for a short while; an answer may take longer on a busy machine.
      const reply = await exchange(data, expect === 'drop' ? 250 : 3000);
      if (expect === 'drop') {
        assert.equal(reply, undefined);
        assert.throws(() => parseMessage(data), SipParseError);
        return;
      }
      assert.ok(reply, 'the UAS answered');
      if (expect === 'accept') assert.ok([200, 405].includes(reply.status), `answered ${reply.status}`);
      else assert.equal(reply.status, expect);
      if (expect === 420)
        assert.match(reply.header('unsupported') ?? '', /nothingSupportsThis, nothingSupportsThisEither/);
      if (expect === 415) assert.equal(reply.header('accept'), 'application/sdp');
    });
  }
});
