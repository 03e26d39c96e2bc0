import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage, type SipRequest, serializeMessage } from '../../src/sip/index.js';

function request(vias: string[]): SipRequest {
  const text = [
    'OPTIONS sip:gw@127.0.0.1 SIP/2.0',
    ...vias.map((via) => `Via: ${via}`),
    'Max-Forwards: 70',
    'From: <sip:a@example.com>;tag=1',
    'To: <sip:gw@127.0.0.1>',
    'Call-ID: top-via@test',
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text)) as SipRequest;
}

/** What the transport does with a request from 127.0.0.2:5099 (RFC 3581 §4). */
function stamp(message: SipRequest): void {
  const top = message.topVia();
  assert.ok(top);
  top.params.set('received', '127.0.0.2');
  top.params.set('rport', '5099');
  message.writeBackTopVia();
}

test('the stamped top Via is written back; the parsed list is kept, not parsed again', () => {
  const message = request([
    'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport',
    'SIP/2.0/TCP b.example.com;branch=z9hG4bK0',
  ]);
  const parsed = message.vias();
  stamp(message);
  assert.equal(message.vias(), parsed);
  assert.deepEqual(message.listValues('via'), [
    'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport=5099;received=127.0.0.2',
    'SIP/2.0/TCP b.example.com;branch=z9hG4bK0',
  ]);
  // What goes on the wire parses back to the same Vias.
  const again = parseMessage(serializeMessage(message)) as SipRequest;
  assert.deepEqual(again.vias(), parsed);
});

test('a first Via line carrying several values is split after the first, the others untouched', () => {
  const message = request([
    'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport , SIP/2.0/UDP b.example.com;branch=z9hG4bK2;x="a,b"',
    'SIP/2.0/TCP c.example.com;branch=z9hG4bK3',
  ]);
  const parsed = message.vias();
  stamp(message);
  assert.deepEqual(message.getAll('via'), [
    'SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport=5099;received=127.0.0.2',
    'SIP/2.0/UDP b.example.com;branch=z9hG4bK2;x="a,b"',
    'SIP/2.0/TCP c.example.com;branch=z9hG4bK3',
  ]);
  const again = parseMessage(serializeMessage(message)) as SipRequest;
  assert.deepEqual(again.vias(), parsed);
  assert.equal(again.vias().length, 3);
});
