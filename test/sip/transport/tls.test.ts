/**
 * SIP over TLS on real loopback sockets with a throwaway PKI: messages both ways, server
 * verification (untrusted CA, a name the certificate does not carry), handshake deadlines on a
 * FakeClock, client certificates, and certificate rotation that leaves connections up alone.
 * Each handshake failure is counted once with its bounded reason and direction.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import type { SipRequest } from '../../../src/sip/message.js';
import { createResponse } from '../../../src/sip/message-ops.js';
import { serializeMessage } from '../../../src/sip/parser.js';
import type { SipTransport, TlsDirection, TlsHandshakeFailure } from '../../../src/sip/transport/index.js';
import { pkiForSuite, skipWithoutOpenssl, TestPki } from '../../helpers/test-pki.js';
import {
  closeAll,
  closed,
  nextMessage,
  options,
  rawTcp,
  rawTlsClient,
  tlsClient,
  tlsServer,
} from '../helpers/tls-peers.js';

describe('SIP over TLS', { skip: skipWithoutOpenssl }, () => {
  const certs = pkiForSuite();
  let stranger: TestPki;

  before(() => {
    stranger = TestPki.create('stranger-ca');
  });
  after(() => stranger.close());
  afterEach(closeAll);

  function failures(transport: SipTransport): Array<[TlsHandshakeFailure, TlsDirection]> {
    const seen: Array<[TlsHandshakeFailure, TlsDirection]> = [];
    transport.on('tlsHandshakeFailed', (reason, direction) => seen.push([reason, direction]));
    return seen;
  }

  it('carries a request in and its response back over one verified connection, reused by host name', async () => {
    const server = await tlsServer(certs.localhost);
    const client = await tlsClient({ serverName: 'localhost', ca: certs.pki.ca.cert, verify: true });
    const destination = { transport: 'tls' as const, address: 'localhost', port: server.port };
    const first = nextMessage(server.transport);
    await client.transport.send(options('one'), destination);
    const { message, source } = await first;
    assert.equal(source.transport, 'tls');
    const answered = nextMessage(client.transport);
    await server.transport.send(createResponse(message as SipRequest, 200), source);
    assert.equal(((await answered).message as { status?: number }).status, 200);
    const second = nextMessage(server.transport);
    await client.transport.send(options('two'), destination);
    assert.equal((await second).source.port, source.port, 'the second request reused the connection');
  });

  it('opens one connection for sends racing to a destination', async () => {
    const server = await tlsServer(certs.localhost);
    const client = await tlsClient({ serverName: 'localhost', ca: certs.pki.ca.cert, verify: true });
    const ports: number[] = [];
    server.transport.onMessage((_message, source) => ports.push(source.port));
    const destination = { transport: 'tls' as const, address: '127.0.0.1', port: server.port };
    await Promise.all(['a', 'b', 'c'].map((branch) => client.transport.send(options(branch), destination)));
    while (ports.length < 3) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(new Set(ports).size, 1);
  });

  it('refuses a server whose certificate chains to a CA it does not trust', async () => {
    const server = await tlsServer(stranger.issue('localhost', { san: ['DNS:localhost'] }));
    const client = await tlsClient({ serverName: 'localhost', ca: certs.pki.ca.cert, verify: true });
    const seen = failures(client.transport);
    await assert.rejects(
      client.transport.send(options('x'), { transport: 'tls', address: '127.0.0.1', port: server.port }),
    );
    assert.deepEqual(seen, [['certificate', 'outbound']]);
    assert.equal(client.transport.stats.tlsHandshakeFailures.certificate, 1);
  });

  it('refuses a trusted certificate that does not name the gateway host (RFC 5922), unless verification is off', async () => {
    const server = await tlsServer(certs.pki.issue('other', { san: ['DNS:other.example'] }));
    const destination = { transport: 'tls' as const, address: '127.0.0.1', port: server.port };
    const strict = await tlsClient({ serverName: 'carrier.example', ca: certs.pki.ca.cert, verify: true });
    const seen = failures(strict.transport);
    await assert.rejects(strict.transport.send(options('x'), destination), /not for carrier\.example/);
    assert.deepEqual(seen, [['name_mismatch', 'outbound']]);
    const lab = await tlsClient({ serverName: 'carrier.example', verify: false });
    const delivered = nextMessage(server.transport);
    await lab.transport.send(options('y'), destination);
    assert.equal((await delivered).source.transport, 'tls');
  });

  it('accepts a server named by a sip: URI subjectAltName (RFC 5922 §7.1)', async () => {
    const server = await tlsServer(certs.pki.issue('uri', { san: ['URI:sip:carrier.example'] }));
    const client = await tlsClient({ serverName: 'carrier.example', ca: certs.pki.ca.cert, verify: true });
    const delivered = nextMessage(server.transport);
    await client.transport.send(options('x'), { transport: 'tls', address: '127.0.0.1', port: server.port });
    assert.equal((await delivered).message.isRequest, true);
  });

  it('closes a connection whose handshake does not finish in time, counted as timeout', async () => {
    const server = await tlsServer(certs.localhost, { handshakeTimeoutMs: 2_000 });
    const seen = failures(server.transport);
    const silent = rawTcp(server.port);
    await new Promise((resolve) => silent.once('connect', resolve));
    // The handshake starts in the tick after accept; let the pool take the socket first.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    server.clock.advance(1_999);
    assert.equal(silent.closed, false);
    server.clock.advance(1);
    await closed(silent);
    assert.deepEqual(seen, [['timeout', 'inbound']]);
  });

  it('closes connections still in their handshake when it closes', async () => {
    const server = await tlsServer(certs.localhost, { handshakeTimeoutMs: 60_000 });
    const pending = rawTcp(server.port);
    await new Promise((resolve) => pending.once('connect', resolve));
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    await server.transport.close();
    await closed(pending);
  });

  it('counts a peer that speaks plain SIP to the TLS port as a protocol failure', async () => {
    const server = await tlsServer(certs.localhost);
    const seen = failures(server.transport);
    const plain = rawTcp(server.port);
    plain.write('OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\r\n');
    await closed(plain);
    assert.deepEqual(seen, [['protocol', 'inbound']]);
  });

  it('requires a client certificate from its CA when asked (mutual TLS); our client presents its own', async () => {
    const server = await tlsServer(certs.localhost, { requireClientCert: true, ca: certs.pki.ca.cert });
    const seen = failures(server.transport);
    const anonymous = await rawTlsClient(server.port, { ca: certs.pki.ca.cert });
    anonymous.on('error', () => undefined);
    await closed(anonymous);
    assert.deepEqual(seen, [['certificate', 'inbound']]);
    const gateway = await tlsServer(certs.pki.issue('gateway', { san: ['DNS:gateway.example'] }), {
      clientPolicy: () => ({ serverName: 'localhost', ca: certs.pki.ca.cert, verify: true }),
    });
    const delivered = nextMessage(server.transport);
    await gateway.transport.send(options('m'), { transport: 'tls', address: '127.0.0.1', port: server.port });
    const { source } = await delivered;
    assert.equal(source.transport, 'tls');
    assert.deepEqual(
      source.peerNames,
      ['gateway.example'],
      "the source carries the client certificate's names",
    );
  });

  it("names a client's verified certificate in each request's source: subjectAltName DNS, sip: URIs and IPs", async () => {
    const server = await tlsServer(certs.localhost, { requireClientCert: true, ca: certs.pki.ca.cert });
    const carrier = certs.pki.issue('carrier', {
      san: ['DNS:SBC.carrier.example', 'URI:sip:carrier.example', 'IP:2001:db8::5', 'IP:127.0.0.1'],
    });
    /** The source of a request sent over a new connection to `port` presenting `carrier`'s certificate. */
    const sourceOf = async (port: number, transport: SipTransport) => {
      const client = await rawTlsClient(port, {
        ca: certs.pki.ca.cert,
        cert: carrier.cert,
        key: carrier.key,
      });
      const delivered = nextMessage(transport);
      client.write(serializeMessage(options(`from-${port}`)));
      return (await delivered).source;
    };
    assert.deepEqual((await sourceOf(server.port, server.transport)).peerNames, [
      'sbc.carrier.example',
      'carrier.example',
      '2001:db8::5',
      '127.0.0.1',
    ]);
    const open = await tlsServer(certs.localhost);
    assert.equal(
      (await sourceOf(open.port, open.transport)).peerNames,
      undefined,
      'a listener that asks for no certificate names none',
    );
  });

  it('presents rotated credentials to new connections while an established one carries on', async () => {
    const server = await tlsServer(certs.localhost);
    const before = await rawTlsClient(server.port, { ca: certs.pki.ca.cert });
    assert.equal(before.getPeerX509Certificate()?.serialNumber, certs.localhost.serial);
    const renewed = certs.pki.issue('renewed', { san: ['DNS:localhost'] });
    server.transport.setTlsCredentials({ cert: renewed.cert, key: renewed.key });
    const after = await rawTlsClient(server.port, { ca: certs.pki.ca.cert });
    assert.equal(after.getPeerX509Certificate()?.serialNumber, renewed.serial);
    assert.notEqual(new X509Certificate(renewed.cert).fingerprint256, certs.localhost.fingerprint256);
    const delivered = nextMessage(server.transport);
    before.write(serializeMessage(options('still-up')));
    assert.equal((await delivered).message.isRequest, true, 'the old connection still carries SIP');
  });

  it('sends to a server it must verify by name over its own verified connection, never over one the server did not open', async () => {
    const carrier = await tlsServer(certs.localhost);
    const gateway = await tlsServer(certs.pki.issue('gateway', { san: ['DNS:gateway.example'] }), {
      clientPolicy: (to) => ({
        serverName: to.serverName ?? to.address,
        ca: certs.pki.ca.cert,
        verify: true,
      }),
    });
    // A stranger on the carrier's address connects in (no certificate of its own) and claims
    // the carrier's listening port as its Via alias (RFC 5923).
    const stranger = await rawTlsClient(gateway.port, {
      ca: certs.pki.ca.cert,
      servername: 'gateway.example',
    });
    const claimed = nextMessage(gateway.transport);
    stranger.write(serializeMessage(options('claim', `SIP/2.0/TLS 127.0.0.1:${carrier.port}`)));
    await claimed;
    const stolen = new Promise<string>((resolve) => stranger.once('data', () => resolve('the stranger')));
    const delivered = nextMessage(carrier.transport).then(() => 'the carrier');
    const toCarrier = {
      transport: 'tls' as const,
      address: '127.0.0.1',
      port: carrier.port,
      serverName: 'localhost',
    };
    await gateway.transport.send(options('for-the-carrier'), toCarrier);
    assert.equal(await Promise.race([stolen, delivered]), 'the carrier');
    // A name the connection was not verified for gets a connection of its own.
    const other = nextMessage(carrier.transport);
    await assert.rejects(
      gateway.transport.send(options('other-name'), { ...toCarrier, serverName: 'carrier.example' }),
      /not for carrier\.example/,
    );
    await gateway.transport.send(options('same-name'), toCarrier);
    assert.equal(((await other).message as SipRequest).callId(), 'same-name@tls-test');
  });
});
