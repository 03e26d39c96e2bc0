/**
 * UDP admission order on a loopback socket: garbage and oversize datagrams are dropped
 * before the per-source hook and the parser; ACKs and retransmissions of a live server
 * transaction skip the hook, so a source at its rate limit still stops our Timer G
 * retransmissions with its ACK (RFC 3261 §17.2.1). The user agent runs on a FakeClock; the
 * test waits only for datagrams, using an allowed OPTIONS as a barrier (loopback keeps order).
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { SipTransport } from '../../../src/sip/transport/index.js';
import type { ShedReason } from '../../../src/sip/types.js';
import { SipUserAgent } from '../../../src/sip/user-agent.js';
import { FakeClock, silentLogger } from '../../../src/util/index.js';

function request(method: string, branch: string, extra: string[] = []): Buffer {
  return Buffer.from(
    [
      `${method} sip:sink@127.0.0.1 SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-${branch}`,
      'Max-Forwards: 70',
      'From: <sip:a@127.0.0.1>;tag=1',
      `To: <sip:sink@127.0.0.1>${method === 'ACK' ? ';tag=ours' : ''}`,
      `Call-ID: ${branch}@udp-test`,
      `CSeq: 1 ${method}`,
      ...extra,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

describe('SIP UDP admission before parsing', () => {
  const clock = new FakeClock();
  /** Whether the source is at its rate limit. */
  let limited = false;
  let asked = 0;
  const transport = new SipTransport({
    listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
    logger: silentLogger,
    maxMessageBytes: 2000,
    allowSource: () => {
      asked++;
      return !limited;
    },
  });
  const ua = new SipUserAgent({
    transport,
    clock,
    logger: silentLogger,
    onInvite: (session) => session.reject(486),
  });
  const client = createSocket('udp4');
  const received: string[] = [];
  const shed: ShedReason[] = [];
  transport.on('shed', (reason) => shed.push(reason));

  before(async () => {
    await transport.start();
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    client.on('message', (data) =>
      received.push(/^SIP\/2\.0 (\d{3})/.exec(data.toString('latin1'))?.[1] ?? '?'),
    );
  });

  after(async () => {
    ua.close();
    client.close();
    await transport.close();
  });

  function send(data: Buffer): void {
    client.send(data, transport.local('udp')?.port ?? 0, '127.0.0.1');
  }

  /** Lets the event loop run until `done` holds; fails after a bounded number of turns. */
  async function until(done: () => boolean, what: string): Promise<void> {
    for (let turn = 0; !done(); turn++) {
      if (turn > 20_000) assert.fail(`no ${what}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  let barriers = 0;
  /**
   * Every datagram sent before has been handled, and every answer to it has arrived: an
   * allowed OPTIONS (loopback keeps order), whose 200 and ask of the hook are left out.
   */
  async function barrier(): Promise<void> {
    const before = received.length;
    send(request('OPTIONS', `barrier-${++barriers}`));
    await until(() => received.slice(before).includes('200'), '200 to the barrier OPTIONS');
    received.splice(received.lastIndexOf('200'), 1);
    asked--;
  }

  it('drops a datagram that does not start like SIP, and an oversize one, without asking the hook', async () => {
    send(Buffer.from('\x16\x03\x01 not sip at all\r\n\r\n'));
    send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    send(request('OPTIONS', 'big', [`X-Pad: ${'x'.repeat(2500)}`]));
    await barrier();
    assert.deepEqual(shed, ['malformed', 'malformed', 'oversize']);
    assert.equal(asked, 0);
    assert.deepEqual(received, []);
  });

  it('a rate-limited source still gets its retransmission answered and its ACK stops Timer G', async () => {
    shed.length = 0;
    send(request('INVITE', 'call'));
    await barrier();
    assert.deepEqual(received, ['486']);
    assert.equal(asked, 1);
    limited = true;
    send(request('INVITE', 'call')); // a retransmission: the stored 486 again
    send(request('ACK', 'call'));
    send(request('INVITE', 'another-call')); // a new transaction: refused unread
    // This phase's barrier: a retransmission of the last barrier OPTIONS, answered from its
    // Completed transaction without asking the hook.
    send(request('OPTIONS', `barrier-${barriers}`));
    await until(() => received.includes('200'), '200 to the retransmitted OPTIONS');
    assert.deepEqual(received, ['486', '486', '200']);
    received.pop();
    assert.equal(asked, 2, 'only the new INVITE asked the hook');
    assert.deepEqual(shed, ['rate_limited']);
    limited = false;
    clock.advance(32_000); // Timer G would have fired six times by now
    await barrier();
    assert.deepEqual(received, ['486', '486'], 'the ACK stopped Timer G');
  });
});
