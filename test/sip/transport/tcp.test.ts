/**
 * The TCP pool's bounds, on loopback sockets with the deadlines on a FakeClock: idle
 * connections and slow header sections are closed, connections per source and in total are
 * capped at accept, unwanted sources are closed at accept, and each closure is counted.
 * The tests wait only for socket events, never for time.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { parseMessage } from '../../../src/sip/parser.js';
import { SipTransport, type TcpCloseReason, type TcpLimits } from '../../../src/sip/transport/index.js';
import type { TransportAddress } from '../../../src/sip/types.js';
import { FakeClock, silentLogger } from '../../../src/util/index.js';

const OPTIONS = [
  'OPTIONS sip:sink@127.0.0.1 SIP/2.0',
  'Via: SIP/2.0/TCP 127.0.0.2:5999;branch=z9hG4bK-tcp',
  'Max-Forwards: 70',
  'From: <sip:a@127.0.0.2>;tag=1',
  'To: <sip:sink@127.0.0.1>',
  'Call-ID: tcp@test',
  'CSeq: 1 OPTIONS',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

interface Harness {
  clock: FakeClock;
  transport: SipTransport;
  closed: TcpCloseReason[];
  /** Resolves once the pool has adopted (or refused) the next connection. */
  accepted(): Promise<void>;
  open(from?: string): Promise<Socket>;
}

const harnesses: { transport: SipTransport; sockets: Socket[] }[] = [];

afterEach(async () => {
  for (const { transport, sockets } of harnesses.splice(0)) {
    for (const socket of sockets) socket.destroy();
    await transport.close();
  }
});

async function setup(limits: Partial<TcpLimits>, allow: (source: TransportAddress) => boolean = () => true) {
  const clock = new FakeClock();
  const waiting: Array<() => void> = [];
  const transport = new SipTransport({
    listen: [{ transport: 'tcp', address: '127.0.0.1', port: 0 }],
    logger: silentLogger,
    clock,
    tcp: limits,
    allowConnection: (source) => {
      // Admission runs just before the pool adopts the socket, in the same tick.
      setImmediate(() => waiting.shift()?.());
      return allow(source);
    },
  });
  await transport.start();
  const closed: TcpCloseReason[] = [];
  transport.on('tcpClosed', (reason) => closed.push(reason));
  const sockets: Socket[] = [];
  harnesses.push({ transport, sockets });
  const port = transport.local('tcp')?.port ?? 0;
  const harness: Harness = {
    clock,
    transport,
    closed,
    accepted: () => new Promise((resolve) => waiting.push(resolve)),
    async open(from = '127.0.0.2') {
      const accepted = harness.accepted();
      const socket = connect({ host: '127.0.0.1', port, localAddress: from });
      socket.on('error', () => undefined);
      sockets.push(socket);
      await accepted;
      return socket;
    },
  };
  return harness;
}

function closedByPeer(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) resolve();
    else socket.once('close', () => resolve());
  });
}

/** Resolves once the transport has handled a complete message (the pool saw the chunk). */
function nextMessage(transport: SipTransport): Promise<void> {
  return new Promise((resolve) => transport.onMessage(() => setImmediate(resolve)));
}

describe('SIP TCP pool bounds', () => {
  it('closes a connection with no complete message for the idle timeout, not one that keeps talking', async () => {
    const { clock, transport, closed, open } = await setup({ idleTimeoutMs: 30_000, headerTimeoutMs: 5_000 });
    const quiet = await open();
    const talking = await open();
    clock.advance(20_000);
    const handled = nextMessage(transport);
    talking.write(OPTIONS);
    await handled;
    clock.advance(10_000);
    await closedByPeer(quiet);
    assert.deepEqual(closed, ['idle']);
    assert.equal(talking.closed, false, 'a message 10 s ago keeps the connection');
    clock.advance(20_000);
    await closedByPeer(talking);
    assert.deepEqual(closed, ['idle', 'idle']);
    assert.equal(transport.stats.tcpClosed.idle, 2);
  });

  it('closes a connection whose message headers do not complete in time (slowloris), however long it trickles', async () => {
    const { clock, transport, closed, open } = await setup({ idleTimeoutMs: 60_000, headerTimeoutMs: 5_000 });
    const slow = await open();
    const handled = nextMessage(transport);
    // A complete message, then the first bytes of the next one in the same write.
    slow.write(`${OPTIONS}OPTIONS sip:sink@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0`);
    await handled;
    clock.advance(4_999);
    assert.equal(slow.closed, false);
    clock.advance(1);
    await closedByPeer(slow);
    assert.deepEqual(closed, ['header_timeout']);
  });

  it('caps connections per source address and in total, closing the extra ones at accept', async () => {
    const { closed, open } = await setup({ maxConnectionsPerSource: 2, maxConnections: 3 });
    await open('127.0.0.2');
    await open('127.0.0.2');
    const thirdFromSame = await open('127.0.0.2');
    await closedByPeer(thirdFromSame);
    assert.deepEqual(closed, ['per_source_limit']);
    await open('127.0.0.3');
    const overTotal = await open('127.0.0.4');
    await closedByPeer(overTotal);
    assert.deepEqual(closed, ['per_source_limit', 'total_limit']);
  });

  it('cuts off a peer that stops reading once a megabyte waits for it, instead of buffering without end', async () => {
    const { transport, closed, open } = await setup({});
    const reader = await open();
    const handled = new Promise<TransportAddress>((resolve) =>
      transport.onMessage((_m, source) => resolve(source)),
    );
    reader.write(OPTIONS);
    const source = await handled;
    reader.pause();
    const big = parseMessage(
      Buffer.from(`${OPTIONS.replace('Content-Length: 0', 'Content-Length: 60000')}${'x'.repeat(60000)}`),
    );
    for (let i = 0; i < 1000 && closed.length === 0; i++) {
      transport.send(big, source).catch(() => undefined);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(closed, ['send_backlog']);
  });

  it('closes connections from sources the admission hook refuses before reading anything', async () => {
    const { transport, closed, open } = await setup({}, (source) => source.address !== '127.0.0.9');
    let delivered = 0;
    transport.onMessage(() => delivered++);
    const refused = await open('127.0.0.9');
    refused.write(OPTIONS);
    await closedByPeer(refused);
    assert.deepEqual(closed, ['rejected_source']);
    assert.equal(delivered, 0);
  });
});
