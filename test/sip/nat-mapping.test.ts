/**
 * natMapped: what the top Via of an answer says a NAT did to our request (RFC 3581). Over UDP
 * a rewritten address or port; over TCP or TLS only a rewritten address, since a connection's
 * source port is never the listening port the Via names.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SipResponse } from '../../src/sip/message.js';
import { natMapped } from '../../src/sip/nat-mapping.js';
import { parseMessage } from '../../src/sip/parser.js';

function answerWithVia(via: string): SipResponse {
  const text = [
    'SIP/2.0 200 OK',
    `Via: ${via}`,
    'From: <sip:trunk-user@registrar.test>;tag=1',
    'To: <sip:trunk-user@registrar.test>;tag=2',
    'Call-ID: nat@test',
    'CSeq: 1 REGISTER',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text)) as SipResponse;
}

describe('natMapped', () => {
  it('over UDP: a rewritten address or port, or none', () => {
    assert.deepEqual(
      natMapped(answerWithVia('SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;received=203.0.113.7;rport=40123')),
      {
        address: '203.0.113.7',
        port: 40123,
      },
    );
    assert.deepEqual(natMapped(answerWithVia('SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport=40123')), {
      address: '10.0.0.5',
      port: 40123,
    });
    assert.equal(natMapped(answerWithVia('SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport=5060')), undefined);
  });

  it('over TCP or TLS: the public end of the connection when the address was rewritten, else none', () => {
    for (const transport of ['TCP', 'TLS']) {
      assert.deepEqual(
        natMapped(
          answerWithVia(
            `SIP/2.0/${transport} 10.0.0.5:5060;branch=z9hG4bK1;received=203.0.113.7;rport=40123`,
          ),
        ),
        { address: '203.0.113.7', port: 40123 },
        transport,
      );
      // No NAT: the connection's own source port is no mapping of the listening port.
      assert.equal(
        natMapped(answerWithVia(`SIP/2.0/${transport} 10.0.0.5:5060;branch=z9hG4bK1;rport=40123`)),
        undefined,
      );
      // Named by a host name: `received` is always there, and tells no NAT.
      assert.equal(
        natMapped(
          answerWithVia(
            `SIP/2.0/${transport} sip.example.com:5060;branch=z9hG4bK1;received=203.0.113.7;rport=40123`,
          ),
        ),
        undefined,
      );
      // A rewritten address without rport: the public port is unknown.
      assert.equal(
        natMapped(answerWithVia(`SIP/2.0/${transport} 10.0.0.5:5060;branch=z9hG4bK1;received=203.0.113.7`)),
        undefined,
      );
    }
  });

  it('nothing for another transport, or a received that is no IP address', () => {
    assert.equal(
      natMapped(answerWithVia('SIP/2.0/SCTP 10.0.0.5:5060;branch=z9hG4bK1;received=203.0.113.7;rport=1')),
      undefined,
    );
    assert.equal(
      natMapped(answerWithVia('SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bK1;received=nat.example;rport=1')),
      undefined,
    );
  });
});
