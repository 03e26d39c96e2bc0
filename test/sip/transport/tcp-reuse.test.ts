/**
 * Connection reuse over plain TCP, on loopback sockets: a request's response goes back over the
 * connection it came on (RFC 3261 §18.2.2), but a Via `alias` (RFC 5923 §5) is not honoured
 * without TLS (§11: nothing authenticates the claim), so a stranger on a carrier's address
 * cannot draw away the requests we send to the carrier's listening port. A connection we opened
 * that closes is reported (`flowClosed`, what a registration over it needs to know); one a peer
 * opened to us is not.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import type { SipRequest } from '../../../src/sip/message.js';
import { createResponse } from '../../../src/sip/message-ops.js';
import { serializeMessage } from '../../../src/sip/parser.js';
import { SipTransport } from '../../../src/sip/transport/index.js';
import { FakeClock, silentLogger } from '../../../src/util/index.js';
import { closeAll, nextMessage, options, rawTcp, read } from '../helpers/tls-peers.js';

const servers: Server[] = [];
afterEach(async () => {
  await closeAll();
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

async function tcpTransport(): Promise<{ transport: SipTransport; port: number }> {
  const transport = new SipTransport({
    listen: [{ transport: 'tcp', address: '127.0.0.1', port: 0 }],
    logger: silentLogger,
    clock: new FakeClock(),
  });
  await transport.start();
  return { transport, port: transport.local('tcp')?.port ?? 0 };
}

/** A bare TCP listener on 127.0.0.2 standing in for the carrier; resolves with each accepted socket. */
async function carrierListener(): Promise<{ port: number; accepted: Promise<Socket> }> {
  let accept!: (socket: Socket) => void;
  const accepted = new Promise<Socket>((resolve) => {
    accept = resolve;
  });
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    accept(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  return { port: (server.address() as { port: number }).port, accepted };
}

describe('SIP TCP connection reuse', () => {
  it("answers over the connection a request came on, but sends requests for a peer's claimed alias port over a connection of our own", async () => {
    const { transport, port } = await tcpTransport();
    try {
      const carrier = await carrierListener();
      // A stranger on the carrier's address (another process, a NATed customer) connects in
      // and claims the carrier's listening port as its alias.
      const stranger = rawTcp(port, '127.0.0.2');
      await new Promise((resolve) => stranger.once('connect', resolve));
      const claimed = nextMessage(transport);
      const claim = options('claim', `SIP/2.0/TCP 127.0.0.2:${carrier.port};alias`);
      stranger.write(serializeMessage(claim));
      const { message, source } = await claimed;

      const answer = serializeMessage(createResponse(message as SipRequest, 200));
      const answered = read(stranger, answer.length);
      await transport.send(createResponse(message as SipRequest, 200), source);
      assert.match(await answered, /^SIP\/2\.0 200/, 'the response goes back over its connection');

      const stolen = new Promise<string>((resolve) => stranger.once('data', () => resolve('the stranger')));
      const request = options('for-the-carrier', 'SIP/2.0/TCP 127.0.0.1:5060');
      const delivered = carrier.accepted.then(async (socket) => {
        await read(socket, serializeMessage(request).length);
        return 'the carrier';
      });
      await transport.send(request, { transport: 'tcp', address: '127.0.0.2', port: carrier.port });
      assert.equal(await Promise.race([stolen, delivered]), 'the carrier');
    } finally {
      await transport.close();
    }
  });

  it('reports a connection we opened when it closes, not one a peer opened to us', async () => {
    const { transport, port } = await tcpTransport();
    const closed: string[] = [];
    let reported = (): void => undefined;
    transport.on('flowClosed', (remote) => {
      closed.push(`${remote.transport}:${remote.address}:${remote.port}`);
      reported();
    });
    try {
      const carrier = await carrierListener();
      await transport.send(options('out', 'SIP/2.0/TCP 127.0.0.1:5060'), {
        transport: 'tcp',
        address: '127.0.0.2',
        port: carrier.port,
      });
      const peer = rawTcp(port, '127.0.0.2');
      await new Promise((resolve) => peer.once('connect', resolve));
      const arrived = nextMessage(transport);
      peer.write(serializeMessage(options('in', 'SIP/2.0/TCP 127.0.0.2:5070')));
      await arrived;
      // The peer's connection closes first: were it reported, it would be before the carrier's.
      peer.destroy();
      const carrierClosed = new Promise<void>((resolve) => (reported = resolve));
      (await carrier.accepted).destroy();
      await carrierClosed;
      assert.deepEqual(closed, [`tcp:127.0.0.2:${carrier.port}`]);
    } finally {
      await transport.close();
    }
    assert.equal(closed.length, 1, 'closing the transport reports nothing');
  });
});
