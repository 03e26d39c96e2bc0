/**
 * The connection layer TCP and TLS share, driven over real loopback TLS with the timers on a
 * FakeClock: CRLF keep-alive both ways (RFC 5626), connection reuse towards a peer's own
 * listening port (RFC 5923), and one connection budget for TCP and TLS that counts handshakes
 * in progress. The tests wait for socket events and messages, never for time.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { createServer, type TLSSocket } from 'node:tls';
import type { SipRequest } from '../../../src/sip/message.js';
import { createResponse } from '../../../src/sip/message-ops.js';
import { serializeMessage } from '../../../src/sip/parser.js';
import type { TransportAddress } from '../../../src/sip/types.js';
import { FakeClock } from '../../../src/util/index.js';
import { pkiForSuite, skipWithoutOpenssl } from '../../helpers/test-pki.js';
import {
  closeAll,
  closed,
  nextMessage,
  options,
  rawTcp,
  rawTlsClient,
  read,
  tlsClient,
  tlsServer,
} from '../helpers/tls-peers.js';

describe('SIP stream connections over TLS', { skip: skipWithoutOpenssl }, () => {
  const certs = pkiForSuite();
  afterEach(closeAll);

  it('answers a CRLF ping on a connection the peer opened with a CRLF pong', async () => {
    const server = await tlsServer(certs.localhost);
    const client = await rawTlsClient(server.port, { ca: certs.pki.ca.cert });
    const pong = read(client, 2);
    client.write('\r\n\r\n');
    assert.equal(await pong, '\r\n');
  });

  it('pings connections it opened; one whose peer has answered pongs and then stops is closed after 10 s', async () => {
    let connected!: (socket: TLSSocket) => void;
    const connection = new Promise<TLSSocket>((resolve) => {
      connected = resolve;
    });
    const carrier = createServer({ cert: certs.localhost.cert, key: certs.localhost.key }, (socket) =>
      connected(socket),
    );
    await new Promise<void>((resolve) => carrier.listen(0, '127.0.0.1', resolve));
    const port = (carrier.address() as { port: number }).port;
    const clock = new FakeClock();
    const client = await tlsClient({ serverName: 'localhost', ca: certs.pki.ca.cert, verify: true }, clock, {
      keepaliveIntervalMs: 1_000,
      idleTimeoutMs: 1_000_000,
    });
    try {
      const request = options('ka');
      await client.transport.send(request, { transport: 'tls', address: '127.0.0.1', port });
      const socket = await connection;
      await read(socket, serializeMessage(request).length);
      const answer = serializeMessage(createResponse(request as SipRequest, 200));
      /** The carrier writes `prefix` and a response; the response arriving proves the client read both. */
      const reply = async (prefix: string): Promise<void> => {
        const delivered = nextMessage(client.transport);
        socket.write(Buffer.concat([Buffer.from(prefix), answer]));
        await delivered;
      };

      const ping = read(socket, 4);
      clock.advance(1_000);
      assert.equal(await ping, '\r\n\r\n');
      clock.advance(20_000);
      await reply('');
      assert.equal(
        client.transport.stats.tcpClosed.keepalive_timeout,
        0,
        'a peer that never pongs is not judged',
      );

      await reply('\r\n');
      clock.advance(1_000);
      clock.advance(9_999);
      assert.equal(socket.closed, false);
      clock.advance(1);
      await closed(socket);
      assert.equal(client.transport.stats.tcpClosed.keepalive_timeout, 1);
    } finally {
      carrier.close();
    }
  });

  it('sends requests for the port a peer listens on over the connection it opened (RFC 5923), one port per connection', async () => {
    const server = await tlsServer(certs.localhost);
    const peer = await rawTlsClient(server.port, { ca: certs.pki.ca.cert });
    const delivered = nextMessage(server.transport);
    peer.write(serializeMessage(options('alias', 'SIP/2.0/TLS 127.0.0.1:5999')));
    await delivered;
    const request = options('back', 'SIP/2.0/TLS 127.0.0.1:5060');
    const arrived = read(peer, serializeMessage(request).length);
    await server.transport.send(request, { transport: 'tls', address: '127.0.0.1', port: 5999 });
    assert.match(await arrived, /branch=z9hG4bK-back/);

    const moved = nextMessage(server.transport);
    peer.write(serializeMessage(options('moved', 'SIP/2.0/TLS 127.0.0.1:5997')));
    await moved;
    await assert.rejects(
      server.transport.send(request, { transport: 'tls', address: '127.0.0.1', port: 5999 }),
      'a connection speaks for one claimed port at a time',
    );
    const again = read(peer, serializeMessage(request).length);
    await server.transport.send(request, { transport: 'tls', address: '127.0.0.1', port: 5997 });
    assert.match(await again, /branch=z9hG4bK-back/);

    const liar = await rawTlsClient(server.port, { ca: certs.pki.ca.cert });
    const claimed = nextMessage(server.transport);
    liar.write(serializeMessage(options('liar', 'SIP/2.0/TLS 127.0.0.9:5998')));
    await claimed;
    await assert.rejects(
      server.transport.send(request, { transport: 'tls', address: '127.0.0.9', port: 5998 }),
      'another address cannot be claimed',
    );
  });

  it('counts TCP and TLS connections, handshakes in progress included, against one budget', async () => {
    const accepted: Array<() => void> = [];
    const server = await tlsServer(certs.localhost, {
      withTcp: true,
      limits: { maxConnectionsPerSource: 2 },
      allowConnection: () => {
        setImmediate(() => accepted.shift()?.());
        return true;
      },
    });
    const closedReasons: string[] = [];
    server.transport.on('tcpClosed', (reason, transport) => closedReasons.push(`${transport}:${reason}`));
    const tcpPort = server.transport.local('tcp')?.port ?? 0;
    const open = async (port: number): Promise<Socket> => {
      const decided = new Promise<void>((resolve) => accepted.push(resolve));
      const socket = rawTcp(port);
      await decided;
      return socket;
    };
    const handshaking = await open(server.port);
    await open(tcpPort);
    const third = await open(server.port);
    await closed(third);
    assert.deepEqual(closedReasons, ['tls:per_source_limit']);

    handshaking.destroy();
    let admitted: Socket | undefined;
    // The server frees the slot when it sees the close; until then a new socket is refused.
    for (let attempt = 0; attempt < 20 && !admitted; attempt++) {
      const refusals = closedReasons.length;
      const socket = await open(server.port);
      if (closedReasons.length === refusals) admitted = socket;
    }
    assert.ok(admitted, 'a closed connection gives its slot back');
  });

  it('reuses the connection to a gateway dialled by host name for requests to its address', async () => {
    const server = await tlsServer(certs.localhost);
    const client = await tlsClient({ serverName: 'localhost', ca: certs.pki.ca.cert, verify: true });
    const sources: TransportAddress[] = [];
    server.transport.onMessage((_message, source) => sources.push(source));
    await client.transport.send(options('by-name'), {
      transport: 'tls',
      address: 'localhost',
      port: server.port,
    });
    await client.transport.send(options('by-ip'), {
      transport: 'tls',
      address: '127.0.0.1',
      port: server.port,
    });
    while (sources.length < 2) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sources[0]?.port, sources[1]?.port);
  });
});
