/**
 * The SIP layer under slow clients and floods, on real loopback sockets with the system
 * clock: idle and slowloris TCP connections are closed within their (short) deadlines, and
 * a source flooding INVITEs at ten times its rate limit neither gets a retransmission storm
 * of 503s (its ACKs pass the limit and stop Timer G) nor slows another source's OPTIONS,
 * judged against a baseline measured in the same run. Every loop is bounded.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { SourceRateLimiter } from '../../src/gateway/flood.js';
import { SipTransport, type TcpCloseReason } from '../../src/sip/transport/index.js';
import { SipUserAgent } from '../../src/sip/user-agent.js';
import { SystemClock, silentLogger } from '../../src/util/index.js';

const RATE = 50;
const clock = new SystemClock();
const limiter = new SourceRateLimiter(clock, RATE);
const transport = new SipTransport({
  listen: [
    { transport: 'udp', address: '127.0.0.1', port: 0 },
    { transport: 'tcp', address: '127.0.0.1', port: 0 },
  ],
  logger: silentLogger,
  clock,
  tcp: { idleTimeoutMs: 500, headerTimeoutMs: 300, maxConnectionsPerSource: 200 },
  allowSource: (source) => limiter.allow(source.address),
});
const ua = new SipUserAgent({
  transport,
  clock,
  logger: silentLogger,
  onInvite: (session) => session.reject(503),
});

function request(method: string, from: string, branch: string, toTag = ''): Buffer {
  return Buffer.from(
    [
      `${method} sip:sink@127.0.0.1 SIP/2.0`,
      `Via: SIP/2.0/UDP ${from};branch=z9hG4bK-${branch}`,
      'Max-Forwards: 70',
      `From: <sip:a@${from}>;tag=${branch}`,
      `To: <sip:sink@127.0.0.1>${toTag}`,
      `Call-ID: ${branch}@hardening`,
      `CSeq: 1 ${method}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

async function udpFrom(address: string): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return socket;
}

/** Resolves when `done` holds, polling every 10 ms; fails after `ms`. */
async function within(ms: number, done: () => boolean, what: string): Promise<void> {
  for (const start = Date.now(); !done(); await delay(10)) {
    if (Date.now() - start > ms) assert.fail(`${what} not within ${ms} ms`);
  }
}

before(() => transport.start());
after(async () => {
  ua.close();
  await transport.close();
});

describe('SIP hardening on real sockets', () => {
  it('closes 50 idle and 10 slowloris TCP connections from one source within their deadlines', async () => {
    const closed: TcpCloseReason[] = [];
    transport.on('tcpClosed', (reason) => closed.push(reason));
    const port = transport.local('tcp')?.port ?? 0;
    const open = (): Socket => {
      const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
      socket.on('error', () => undefined);
      return socket;
    };
    const idle = Array.from({ length: 50 }, open);
    const slow = Array.from({ length: 10 }, open);
    const text = request('OPTIONS', '127.0.0.2:5999', 'slow').toString('latin1');
    // One byte per 100 ms: the headers never complete within 300 ms. Bounded by the text.
    const trickle = (async () => {
      for (let i = 0; i < text.length && slow.some((socket) => !socket.closed); i++) {
        for (const socket of slow) if (!socket.closed) socket.write(text[i] as string);
        await delay(100);
      }
    })();
    await within(3_000, () => [...idle, ...slow].every((socket) => socket.closed), 'all connections closed');
    await trickle;
    assert.equal(closed.filter((reason) => reason === 'idle').length, 50);
    assert.equal(closed.filter((reason) => reason === 'header_timeout').length, 10);
  });

  it("a source at 10x its rate limit gets no 503 storm and does not slow another source's OPTIONS", async () => {
    const flooder = await udpFrom('127.0.0.2');
    const prober = await udpFrom('127.0.0.3');
    const target = transport.local('udp')?.port ?? 0;
    let finals = 0;
    const answered = new Set<string>();
    // The flooder behaves like a UAC: every final response is ACKed (RFC 3261 §17.1.1.3).
    flooder.on('message', (data) => {
      const text = data.toString('latin1');
      if (!text.startsWith('SIP/2.0 503')) return;
      finals++;
      const branch = /branch=z9hG4bK-([^\s;]+)/.exec(text)?.[1] ?? '';
      answered.add(branch);
      const toTag = /^To: .*(;tag=[^\s;]+)/m.exec(text)?.[1] ?? '';
      flooder.send(request('ACK', '127.0.0.2:5999', branch, toTag), target, '127.0.0.1');
    });
    const pending = new Map<string, number>();
    const latencies: number[] = [];
    prober.on('message', (data) => {
      const branch = /branch=z9hG4bK-([^\s;]+)/.exec(data.toString('latin1'))?.[1] ?? '';
      const sentAt = pending.get(branch);
      if (sentAt !== undefined) latencies.push(performance.now() - sentAt);
      pending.delete(branch);
    });
    let probes = 0;
    /** 20 OPTIONS, one per 25 ms; the 95th percentile of their answer times. */
    const probe = async (): Promise<number> => {
      latencies.length = 0;
      for (let i = 0; i < 20; i++) {
        const branch = `probe-${++probes}`;
        pending.set(branch, performance.now());
        prober.send(request('OPTIONS', '127.0.0.3:5998', branch), target, '127.0.0.1');
        await delay(25);
      }
      await within(2_000, () => latencies.length === 20, 'every OPTIONS answered');
      return [...latencies].sort((a, b) => a - b)[18] as number;
    };
    const baseline = await probe();
    // 10x the limit for 2 s: 10 INVITEs every 20 ms.
    let invites = 0;
    const flood = (async () => {
      for (let tick = 0; tick < 100; tick++) {
        for (let i = 0; i < 10; i++)
          flooder.send(request('INVITE', '127.0.0.2:5999', `flood-${++invites}`), target, '127.0.0.1');
        await delay(20);
      }
    })();
    const underFlood = await probe();
    await flood;
    await delay(1_500); // long enough for Timer G to have retransmitted twice without the ACKs
    assert.ok(answered.size < invites / 2, 'most of the flood was shed unread');
    assert.ok(
      finals <= answered.size * 1.1,
      `${finals} 503s for ${answered.size} admitted INVITEs: no Timer G storm`,
    );
    // On a 2-core box the flood's sender and the gateway share the cores with the prober: a
    // 50 ms floor, still a quarter of the 200 ms a balancer's OPTIONS probe allows.
    assert.ok(
      underFlood < Math.max(baseline * 5, 50),
      `OPTIONS p95 ${underFlood.toFixed(1)} ms under flood vs ${baseline.toFixed(1)} ms before`,
    );
    flooder.close();
    prober.close();
  });
});
