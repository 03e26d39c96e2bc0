/**
 * The connection layer TCP and TLS share, driven over real loopback TLS with the timers on a
 * FakeClock: CRLF keep-alive both ways (RFC 5626), connection reuse towards a peer's own
 * listening port (RFC 5923), and one connection budget for TCP and TLS that counts handshakes
 * in progress. Then the deadline on opening a connection: a connector that never completes
 * stands in for a blackholed peer (loopback always answers), real sockets for the rest. The
 * tests wait for socket events and messages, never for time.
 */
import assert from 'node:assert/strict';
import { createServer as createTcpServer, type Server, Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { createServer, type TLSSocket } from 'node:tls';
import type { SipRequest } from '../../../src/sip/message.js';
import { createResponse } from '../../../src/sip/message-ops.js';
import { serializeMessage } from '../../../src/sip/parser.js';
import type { TlsDirection, TlsHandshakeFailure } from '../../../src/sip/transport/index.js';
import {
  CONNECT_TIMEOUT_MS,
  ConnectionBudget,
  DEFAULT_TCP_LIMITS,
  type TcpLimits,
} from '../../../src/sip/transport/stream-limits.js';
import {
  connectTcp,
  type StreamConnector,
  StreamPool,
  tcpConnector,
} from '../../../src/sip/transport/stream-pool.js';
import type { TransportAddress } from '../../../src/sip/types.js';
import { FakeClock, silentLogger } from '../../../src/util/index.js';
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

/** A pending promise's outcome, readable without awaiting it. */
function outcome(promise: Promise<void>): { settled: boolean; error?: unknown } {
  const seen: { settled: boolean; error?: unknown } = { settled: false };
  promise.then(
    () => {
      seen.settled = true;
    },
    (error: unknown) => {
      seen.settled = true;
      seen.error = error;
    },
  );
  return seen;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A connector whose connects never complete (a blackholed peer). Each attempt's socket is
 * destroyed when the pool aborts it, unless `ignoresAbort`; `deliver` completes it late.
 */
function neverConnects(ignoresAbort = false) {
  const attempts: Array<{ socket: Socket; deliver(): void }> = [];
  const connector: StreamConnector = {
    transport: 'tcp',
    accept: (socket) => Promise.resolve(socket),
    connect: (_destination, signal) =>
      new Promise((resolve, reject) => {
        const socket = new Socket();
        attempts.push({ socket, deliver: () => resolve(socket) });
        if (ignoresAbort) return;
        signal.addEventListener('abort', () => {
          socket.destroy();
          reject(signal.reason);
        });
      }),
  };
  return { connector, attempts };
}

describe('opening a SIP stream connection: the connect deadline', () => {
  const pools: StreamPool[] = [];
  const servers: Server[] = [];
  afterEach(async () => {
    for (const pool of pools.splice(0)) await pool.close();
    for (const server of servers.splice(0)) server.close();
    await closeAll();
  });

  const DATA = Buffer.from('OPTIONS sip:x SIP/2.0\r\n\r\n');
  const BLACKHOLE: TransportAddress = { transport: 'tcp', address: '192.0.2.1', port: 5060 };

  function openPool(connector: StreamConnector, limits: Partial<TcpLimits> = {}) {
    const clock = new FakeClock();
    const all = { ...DEFAULT_TCP_LIMITS, ...limits };
    const pool = new StreamPool({
      connector,
      budget: new ConnectionBudget(all),
      clock,
      logger: silentLogger,
      maxMessageBytes: 65_535,
      limits: all,
      onEvent: () => undefined,
      onClosed: () => undefined,
    });
    pools.push(pool);
    return { pool, clock };
  }

  async function silentServer(): Promise<{ port: number; accepted: Socket[] }> {
    const accepted: Socket[] = [];
    const server = createTcpServer((socket) => accepted.push(socket));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as { port: number }).port, accepted };
  }

  it('fails the sends waiting on a connect that never completes at 64*T1, its socket destroyed', async () => {
    const { connector, attempts } = neverConnects();
    const { pool, clock } = openPool(connector);
    const first = outcome(pool.send(DATA, BLACKHOLE));
    const second = outcome(pool.send(DATA, BLACKHOLE));
    assert.equal(CONNECT_TIMEOUT_MS, 32_000, 'Timer B at T1 = 500 ms');
    clock.advance(CONNECT_TIMEOUT_MS - 1);
    await flush();
    assert.equal(first.settled || second.settled, false);
    assert.equal(attempts.length, 1, 'the two sends share one attempt');
    clock.advance(1);
    await flush();
    for (const { error } of [first, second]) {
      assert.match(String(error), /tcp connect to 192\.0\.2\.1\|5060 timed out/);
      assert.equal((error as { code?: string }).code, 'ETIMEDOUT');
    }
    assert.equal(attempts[0]?.socket.destroyed, true);
    assert.equal(clock.pendingTimers(), 0);
    outcome(pool.send(DATA, BLACKHOLE));
    assert.equal(attempts.length, 2, 'a later send tries again');
  });

  it('close() fails a pending connect at once and clears its deadline; sends after it fail unattempted', async () => {
    const { connector, attempts } = neverConnects();
    const { pool, clock } = openPool(connector);
    const pending = outcome(pool.send(DATA, BLACKHOLE));
    await pool.close();
    await pool.close();
    await flush();
    assert.match(String(pending.error), /sip tcp transport closed/);
    assert.equal(attempts[0]?.socket.destroyed, true);
    assert.equal(clock.pendingTimers(), 0);
    await assert.rejects(pool.send(DATA, BLACKHOLE), /sip tcp transport closed/);
    assert.equal(attempts.length, 1);
  });

  it('destroys a socket its connector delivers after the deadline', async () => {
    const { connector, attempts } = neverConnects(true);
    const { pool, clock } = openPool(connector);
    const pending = outcome(pool.send(DATA, BLACKHOLE));
    clock.advance(CONNECT_TIMEOUT_MS);
    await flush();
    assert.match(String(pending.error), /timed out/);
    attempts[0]?.deliver();
    await flush();
    assert.equal(attempts[0]?.socket.destroyed, true);
  });

  it("a send's own connectWithinMs fails that send alone; the attempt goes on, and nothing of it is written once up (loopback)", async () => {
    const { port, accepted } = await silentServer();
    const destination: TransportAddress = { transport: 'tcp', address: '127.0.0.1', port };
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // A connect held back until released: a SYN answered late.
    const { pool, clock } = openPool(
      { ...tcpConnector, connect: (to, signal) => gate.then(() => tcpConnector.connect(to, signal)) },
      { keepaliveIntervalMs: 0 },
    );
    const hurried = outcome(pool.send(Buffer.from('hurried\r\n'), destination, 2000));
    const patient = outcome(pool.send(Buffer.from('patient\r\n'), destination));
    clock.advance(1999);
    await flush();
    assert.equal(hurried.settled, false);
    clock.advance(1);
    await flush();
    assert.match(String(hurried.error), /tcp connect to 127\.0\.0\.1\|\d+ not up within 2000 ms/);
    assert.equal((hurried.error as { code?: string }).code, 'ETIMEDOUT');
    assert.equal(patient.settled, false, 'the other send still waits on the attempt');
    release();
    while (!patient.settled) await flush();
    assert.equal(patient.error, undefined);
    while (accepted.length === 0) await flush();
    const received = await new Promise<string>((resolve) =>
      accepted[0]?.once('data', (data) => resolve(String(data))),
    );
    assert.equal(received, 'patient\r\n', 'only the patient send is written');
  });

  it('a connection that comes up within connectWithinMs clears that deadline (loopback)', async () => {
    const { port, accepted } = await silentServer();
    const { pool, clock } = openPool(tcpConnector, { keepaliveIntervalMs: 0 });
    await pool.send(DATA, { transport: 'tcp', address: '127.0.0.1', port }, 2000);
    assert.equal(clock.pendingTimers(), 1, 'only the idle deadline is armed');
    while (accepted.length === 0) await flush();
  });

  it('clears the deadline of a connect that succeeds (loopback)', async () => {
    const { port, accepted } = await silentServer();
    const { pool, clock } = openPool(tcpConnector, { keepaliveIntervalMs: 0 });
    const destination: TransportAddress = { transport: 'tcp', address: '127.0.0.1', port };
    await pool.send(DATA, destination);
    assert.equal(clock.pendingTimers(), 1, 'only the idle deadline is armed');
    clock.advance(2 * CONNECT_TIMEOUT_MS);
    await pool.send(DATA, destination);
    await flush();
    assert.equal(accepted.length, 1, 'the connection outlived the deadline and was reused');
  });

  it('connectTcp: an abort before the connection is up rejects with its reason (loopback)', async () => {
    const { port } = await silentServer();
    const abort = new AbortController();
    const connecting = connectTcp({ transport: 'tcp', address: '127.0.0.1', port }, abort.signal);
    abort.abort(new Error('deadline'));
    await assert.rejects(connecting, /deadline/);
    await assert.rejects(
      connectTcp({ transport: 'tcp', address: '127.0.0.1', port }, abort.signal),
      /deadline/,
    );
  });

  it('ends a TLS handshake the peer never answers at the deadline, counted as a timeout (loopback)', async () => {
    const { port, accepted } = await silentServer();
    const clock = new FakeClock();
    const client = await tlsClient(
      { serverName: 'localhost', verify: false },
      clock,
      {},
      2 * CONNECT_TIMEOUT_MS,
    );
    const seen: Array<[TlsHandshakeFailure, TlsDirection]> = [];
    client.transport.on('tlsHandshakeFailed', (reason, direction) => seen.push([reason, direction]));
    const sent = outcome(
      client.transport.send(options('silent'), { transport: 'tls', address: '127.0.0.1', port }),
    );
    while (accepted.length === 0) await flush();
    const peer = accepted[0] as Socket;
    await new Promise((resolve) => peer.once('data', resolve)); // the ClientHello: the handshake is under way
    clock.advance(CONNECT_TIMEOUT_MS);
    await closed(peer);
    await flush();
    assert.equal((sent.error as { code?: string }).code, 'ETIMEDOUT');
    assert.deepEqual(seen, [['timeout', 'outbound']]);
    assert.equal(client.transport.stats.sendErrors, 1);
    assert.equal(clock.pendingTimers(), 0);
  });
});
