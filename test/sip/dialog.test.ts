/**
 * Dialog state (RFC 3261 §12) on the messages of RFC 3665 §3.2 ("Successful Session
 * Establishment through Two Proxies"): Alice (pc33.atlanta.example.com) calls Bob
 * (client.biloxi.example.com) through ss1.atlanta.example.com and ss2.biloxi.example.com,
 * both of which record-route. Bob's side is the UAS dialog, Alice's the UAC dialog.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Dialog,
  parseMessage,
  type SipRequest,
  type SipResponse,
  serializeMessage,
} from '../../src/sip/index.js';
import { createResponse } from '../../src/sip/message-ops.js';

const INVITE_AT_BOB = [
  'INVITE sip:bob@client.biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP ss2.biloxi.example.com:5060;branch=z9hG4bK721e418c4.1',
  'Via: SIP/2.0/UDP ss1.atlanta.example.com:5060;branch=z9hG4bK2d4790.1;received=192.0.2.111',
  'Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101',
  'Max-Forwards: 68',
  'Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl',
  'To: Bob <sip:bob@biloxi.example.com>',
  'Call-ID: 2xTb9vxSit55XU7p8@atlanta.example.com',
  'CSeq: 1 INVITE',
  'Contact: <sip:alice@client.atlanta.example.com;transport=tcp>',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

const OK_AT_ALICE = [
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101',
  'Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl',
  'To: Bob <sip:bob@biloxi.example.com>;tag=314159',
  'Call-ID: 2xTb9vxSit55XU7p8@atlanta.example.com',
  'CSeq: 1 INVITE',
  'Contact: <sip:bob@client.biloxi.example.com;transport=tcp>',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

const ALICES_INVITE = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9',
  'Max-Forwards: 70',
  'Route: <sip:ss1.atlanta.example.com;lr>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl',
  'To: Bob <sip:bob@biloxi.example.com>',
  'Call-ID: 2xTb9vxSit55XU7p8@atlanta.example.com',
  'CSeq: 1 INVITE',
  'Contact: <sip:alice@client.atlanta.example.com;transport=tcp>',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

const PEER = { transport: 'udp' as const, address: '192.0.2.111', port: 5060 };

function request(text: string): SipRequest {
  const message = parseMessage(Buffer.from(text));
  assert.ok(message.isRequest);
  return message;
}

function response(text: string): SipResponse {
  const message = parseMessage(Buffer.from(text));
  assert.ok(!message.isRequest);
  return message;
}

describe('RFC 3665 §3.2 dialogs', () => {
  test("Bob's UAS dialog: ids, route set in Record-Route order, remote target from Contact", () => {
    const dialog = Dialog.forUas(request(INVITE_AT_BOB), '314159', PEER);
    assert.equal(dialog.callId, '2xTb9vxSit55XU7p8@atlanta.example.com');
    assert.equal(dialog.localTag, '314159');
    assert.equal(dialog.remoteTag, '9fxced76sl');
    assert.deepEqual(
      dialog.routeSet.map((route) => route.uri.host),
      ['ss2.biloxi.example.com', 'ss1.atlanta.example.com'],
    );
    // Bob's BYE (RFC 3665 §3.2 would have Bob hang up the same way): loose routing.
    const bye = dialog.createRequest('BYE');
    assert.equal(bye.uri, 'sip:alice@client.atlanta.example.com;transport=tcp');
    assert.deepEqual(bye.getAll('route'), [
      '<sip:ss2.biloxi.example.com;lr>',
      '<sip:ss1.atlanta.example.com;lr>',
    ]);
    assert.equal(bye.fromTag(), '314159');
    assert.equal(bye.toTag(), '9fxced76sl');
    assert.equal(bye.from().uri.user, 'bob');
    assert.equal(bye.to().uri.user, 'alice');
    assert.equal(bye.cseq().method, 'BYE');
    // Host names are not resolved (no RFC 3263): the next hop falls back to the peer.
    assert.deepEqual(dialog.destination(), PEER);
  });

  test("Alice's UAC dialog: route set reversed, BYE with the next CSeq, ACK with the INVITE's", () => {
    const invite = request(ALICES_INVITE);
    const dialog = Dialog.forUac(invite, response(OK_AT_ALICE), PEER);
    assert.equal(dialog.remoteTag, '314159');
    assert.deepEqual(
      dialog.routeSet.map((route) => route.uri.host),
      ['ss1.atlanta.example.com', 'ss2.biloxi.example.com'],
    );
    const ack = dialog.createRequest('ACK', invite.cseq().seq);
    assert.equal(ack.get('cseq'), '1 ACK');
    assert.equal(ack.uri, 'sip:bob@client.biloxi.example.com;transport=tcp');
    const bye = dialog.createRequest('BYE');
    assert.equal(bye.get('cseq'), '2 BYE', 'RFC 3665 §3.2 F13: CSeq 2 BYE');
    assert.deepEqual(bye.getAll('route'), [
      '<sip:ss1.atlanta.example.com;lr>',
      '<sip:ss2.biloxi.example.com;lr>',
    ]);
    assert.equal(dialog.createRequest('BYE').get('cseq'), '3 BYE');
  });

  test('strict routing (RFC 3261 §12.2.1.1): the first route becomes the Request-URI', () => {
    const strict = INVITE_AT_BOB.replace(
      'Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>',
      'Record-Route: <sip:ss2.biloxi.example.com>, <sip:ss1.atlanta.example.com;lr>',
    );
    const bye = Dialog.forUas(request(strict), '314159', PEER).createRequest('BYE');
    assert.equal(bye.uri, 'sip:ss2.biloxi.example.com');
    assert.deepEqual(bye.getAll('route'), [
      '<sip:ss1.atlanta.example.com;lr>',
      '<sip:alice@client.atlanta.example.com;transport=tcp>',
    ]);
  });

  test('CSeq order (§12.2.2): lower or equal remote CSeq is refused, ACK and CANCEL exempt', () => {
    const dialog = Dialog.forUas(request(INVITE_AT_BOB), '314159', PEER);
    const inDialog = (method: string, seq: number): SipRequest =>
      request(
        INVITE_AT_BOB.replace('INVITE sip:bob', `${method} sip:bob`)
          .replace('CSeq: 1 INVITE', `CSeq: ${seq} ${method}`)
          .replace('To: Bob <sip:bob@biloxi.example.com>', 'To: Bob <sip:bob@biloxi.example.com>;tag=314159'),
      );
    assert.equal(dialog.acceptRemoteSeq(inDialog('ACK', 1)), true);
    assert.equal(dialog.acceptRemoteSeq(inDialog('INFO', 1)), false);
    assert.equal(dialog.acceptRemoteSeq(inDialog('INFO', 2)), true);
    assert.equal(dialog.acceptRemoteSeq(inDialog('BYE', 2)), false);
    assert.equal(dialog.acceptRemoteSeq(inDialog('BYE', 3)), true);
  });

  test('target refresh (§12.2.2): a re-INVITE Contact moves the remote target', () => {
    const dialog = Dialog.forUas(request(INVITE_AT_BOB), '314159', PEER);
    dialog.refreshTarget(
      request(INVITE_AT_BOB.replace('client.atlanta.example.com;transport=tcp', '192.0.2.7:5070')),
    );
    assert.deepEqual(dialog.destination(), PEER, 'a route set still decides the next hop');
    assert.equal(dialog.createRequest('BYE').uri, 'sip:alice@192.0.2.7:5070');
  });
});

describe('RFC 3261 §12.1.1: a dialog-creating response carries the Record-Route', () => {
  test('180 and 200 to the INVITE copy it in order; 100 and other responses do not', () => {
    const invite = request(INVITE_AT_BOB);
    for (const status of [180, 200])
      assert.deepEqual(createResponse(invite, status).getAll('record-route'), [
        '<sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>',
      ]);
    assert.deepEqual(createResponse(invite, 100).getAll('record-route'), []);
    assert.deepEqual(createResponse(invite, 486).getAll('record-route'), []);
  });
});

describe('TLS targets (RFC 5630)', () => {
  const tlsInvite = (contact: string) =>
    request(
      INVITE_AT_BOB.replace(/^Record-Route:.*\r\n/m, '').replace(/^Contact: .*$/m, `Contact: <${contact}>`),
    );

  test('a sips: target or transport=tls is reached over TLS, on 5061 by default', () => {
    const sips = Dialog.forUas(tlsInvite('sips:alice@192.0.2.7'), '1', PEER);
    assert.deepEqual(sips.destination(), { transport: 'tls', address: '192.0.2.7', port: 5061 });
    assert.equal(sips.secure, true, 'a SIPS dialog');
    const param = Dialog.forUas(tlsInvite('sip:alice@192.0.2.7:5071;transport=TLS'), '1', PEER);
    assert.deepEqual(param.destination(), { transport: 'tls', address: '192.0.2.7', port: 5071 });
    assert.equal(param.secure, false, 'sip: over TLS is not a SIPS dialog');
  });
});

describe('dialog state (call takeover)', () => {
  test('a dialog continued from its state sends the requests the original would', () => {
    const original = Dialog.forUas(request(INVITE_AT_BOB), '314159', PEER);
    original.createRequest('INFO');
    const state = JSON.parse(JSON.stringify(original.state()));
    const continued = Dialog.fromState(state);
    assert.equal(continued.key, original.key);
    assert.deepEqual(continued.destination(), original.destination());
    const bye = (dialog: Dialog) => serializeMessage(dialog.createRequest('BYE')).toString();
    assert.equal(bye(continued), bye(original));
    assert.equal(continued.remoteSeq, 1);
  });

  test('a state whose URIs do not parse is refused', () => {
    const state = { ...Dialog.forUas(request(INVITE_AT_BOB), '1', PEER).state(), remoteTarget: '<<' };
    assert.throws(() => Dialog.fromState(state));
  });
});
