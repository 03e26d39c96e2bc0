/**
 * RFC 3261 §18.1.1: a request over 1300 bytes addressed to UDP goes over TCP to the same
 * address and port, its top Via saying so, and the requests that repeat its Via (CANCEL, a
 * repeated ACK) follow it. Real messages and message operations, a recording transport.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type EndpointTransport,
  MAX_NO_TCP_DESTINATIONS,
  MAX_UDP_REQUEST_BYTES,
  SipEndpoint,
} from '../../src/sip/endpoint.js';
import { SipRequest, type SipResponse, serializeMessage } from '../../src/sip/index.js';
import { addVia, createCancel, messageOps } from '../../src/sip/message-ops.js';
import type { SendOptions, TransportAddress } from '../../src/sip/types.js';
import { FakeClock } from '../../src/util/index.js';

type Message = SipRequest | SipResponse;

class RecordingTransport implements EndpointTransport<Message> {
  readonly sent: {
    message: SipRequest;
    destination: TransportAddress;
    via: string;
    options?: SendOptions;
  }[] = [];
  /** TCP connections are refused (a carrier that listens on UDP only). */
  refuseTcp = false;
  /** TCP connections never come up (a carrier that drops the SYN): a send fails at its connectWithinMs. */
  dropTcpSyn = false;
  constructor(
    readonly hasTcp: boolean,
    readonly clock: FakeClock,
  ) {}
  send(message: Message | Buffer, destination: TransportAddress, options?: SendOptions): Promise<void> {
    if (!Buffer.isBuffer(message) && message.isRequest)
      this.sent.push({
        message,
        destination,
        via: message.get('via') ?? '',
        ...(options ? { options } : {}),
      });
    if (this.refuseTcp && destination.transport === 'tcp')
      return Promise.reject(new Error('connect ECONNREFUSED'));
    const withinMs = options?.connectWithinMs;
    if (this.dropTcpSyn && destination.transport === 'tcp' && withinMs !== undefined)
      return new Promise((_resolve, reject) =>
        this.clock.setTimer(withinMs, () => reject(new Error('not up'))),
      );
    return Promise.resolve();
  }
  onMessage(): void {}
  isReliable(transport: TransportAddress['transport']): boolean {
    return transport !== 'udp';
  }
  supports(transport: TransportAddress['transport']): boolean {
    return transport === 'udp' || this.hasTcp;
  }
}

const carrier: TransportAddress = { transport: 'udp', address: '198.51.100.7', port: 5060 };
const ourUdp: TransportAddress = { transport: 'udp', address: '192.0.2.10', port: 5060 };
const ourTcp: TransportAddress = { transport: 'tcp', address: '192.0.2.10', port: 5062 };

function setup(hasTcp = true) {
  const clock = new FakeClock();
  const transport = new RecordingTransport(hasTcp, clock);
  const endpoint = new SipEndpoint<SipRequest, SipResponse>({
    transport,
    application: { onRequest: () => undefined },
    ops: messageOps,
    clock,
    sentBy: (kind) => (kind === 'tcp' ? ourTcp : ourUdp),
  });
  return { clock, transport, endpoint };
}

/** An INVITE whose wire size, once our Via is on it, is exactly `bytes`. */
function inviteOf(bytes: number): SipRequest {
  const build = (bodyBytes: number): SipRequest => {
    const invite = new SipRequest('INVITE', 'sip:+15550100@198.51.100.7');
    invite.append('From', '<sip:gw@192.0.2.10>;tag=a1');
    invite.append('To', '<sip:+15550100@198.51.100.7>');
    invite.append('Call-ID', 'size-test@192.0.2.10');
    invite.append('CSeq', '1 INVITE');
    invite.setBody('v'.repeat(bodyBytes), 'application/sdp');
    return invite;
  };
  const withVia = (bodyBytes: number): number => {
    const probe = build(bodyBytes);
    addVia(probe, ourUdp);
    return serializeMessage(probe).length;
  };
  // Twice: the Content-Length's own digits grow with the body.
  let bodyBytes = bytes - withVia(0);
  bodyBytes += bytes - withVia(bodyBytes);
  return build(bodyBytes);
}

describe('requests too large for UDP (RFC 3261 §18.1.1)', () => {
  it('a request of 1300 bytes goes over UDP, retransmitted on Timer A; one byte more goes over TCP', () => {
    const { clock, transport, endpoint } = setup();
    const fits = inviteOf(MAX_UDP_REQUEST_BYTES);
    endpoint.sendRequest(fits, carrier, {});
    assert.equal(serializeMessage(fits).length, MAX_UDP_REQUEST_BYTES);
    assert.deepEqual(transport.sent[0]?.destination, carrier);
    assert.equal(fits.topVia()?.transport, 'UDP');
    clock.advance(500);
    assert.equal(transport.sent.length, 2, 'Timer A retransmits over UDP');

    const tcp = setup();
    const large = inviteOf(MAX_UDP_REQUEST_BYTES + 1);
    tcp.endpoint.sendRequest(large, carrier, {});
    assert.deepEqual(tcp.transport.sent[0]?.destination, { ...carrier, transport: 'tcp' });
    const via = large.topVia();
    assert.equal(via?.transport, 'TCP');
    assert.equal(`${via?.host}:${via?.port}`, '192.0.2.10:5062', "our TCP listener's sent-by");
    assert.match(via?.params.get('branch') ?? '', /^z9hG4bK/);
    assert.match(
      serializeMessage(large).toString(),
      /\r\nVia: SIP\/2\.0\/TCP 192\.0\.2\.10:5062;branch=z9hG4bK/,
    );
    tcp.clock.advance(500 * 8);
    assert.equal(tcp.transport.sent.length, 1, 'no Timer A over TCP (§17.1.1.2)');
    assert.deepEqual(endpoint.largeRequests, { movedToTcp: 0, backToUdp: 0, keptOnUdp: 0 });
    assert.deepEqual(tcp.endpoint.largeRequests, { movedToTcp: 1, backToUdp: 0, keptOnUdp: 0 });
    assert.deepEqual(
      tcp.transport.sent[0]?.options,
      { connectWithinMs: 2000 },
      'its connection asked up within 4*T1',
    );
  });

  it('without a TCP transport a large request still goes over UDP', () => {
    const { transport, endpoint } = setup(false);
    const large = inviteOf(2000);
    endpoint.sendRequest(large, carrier, {});
    assert.deepEqual(transport.sent[0]?.destination, carrier);
    assert.equal(large.topVia()?.transport, 'UDP');
  });

  it('a CANCEL goes where its INVITE went: over TCP for a large INVITE, over UDP for a small one', () => {
    const { transport, endpoint } = setup();
    for (const [bytes, expected] of [
      [2000, 'tcp'],
      [800, 'udp'],
    ] as const) {
      transport.sent.length = 0;
      const invite = inviteOf(bytes);
      endpoint.sendRequest(invite, carrier, {});
      const cancel = createCancel(invite);
      endpoint.sendCancel(cancel, carrier);
      assert.equal(transport.sent[1]?.message.method, 'CANCEL');
      assert.equal(transport.sent[1]?.destination.transport, expected);
      assert.equal(cancel.get('via'), invite.get('via'), 'the CANCEL repeats the top Via (§9.1)');
    }
  });

  it('a large 2xx ACK goes over TCP, and again over TCP when the 2xx comes again', async () => {
    const { transport, endpoint } = setup();
    const ack = inviteOf(1500);
    ack.method = 'ACK';
    await endpoint.sendAck(ack, carrier);
    const via = ack.get('via');
    await endpoint.sendAck(ack, carrier);
    assert.deepEqual(
      transport.sent.map((sent) => sent.destination.transport),
      ['tcp', 'tcp'],
    );
    assert.equal(ack.get('via'), via, 'the same Via both times');
  });

  it('refused over TCP before any response, an INVITE goes over UDP after all, its Via back on UDP, Timer A and all', async () => {
    const { clock, transport, endpoint } = setup();
    transport.refuseTcp = true;
    const failures: unknown[] = [];
    const invite = inviteOf(1500);
    const transaction = endpoint.sendRequest(invite, carrier, {
      onTransportError: (error) => failures.push(error),
    });
    const branch = invite.topVia()?.params.get('branch');
    await Promise.resolve();
    assert.deepEqual(
      transport.sent.map((sent) => sent.destination.transport),
      ['tcp', 'udp'],
    );
    assert.match(transport.sent[0]?.via ?? '', /^SIP\/2\.0\/TCP 192\.0\.2\.10:5062;/);
    assert.match(transport.sent[1]?.via ?? '', /^SIP\/2\.0\/UDP 192\.0\.2\.10:5060;/);
    assert.equal(invite.topVia()?.params.get('branch'), branch, 'the same transaction');
    assert.equal(transaction.state, 'calling');
    assert.equal(transaction.reliable, false);
    clock.advance(500);
    assert.equal(transport.sent.length, 3, 'Timer A retransmits over UDP');
    assert.deepEqual(failures, []);
    assert.deepEqual(endpoint.largeRequests, { movedToTcp: 1, backToUdp: 1, keptOnUdp: 0 });
    endpoint.sendCancel(createCancel(invite), carrier);
    assert.equal(transport.sent.at(-1)?.destination.transport, 'udp', 'its CANCEL follows it to UDP');
  });

  it('a non-INVITE request falls back the same way, Timer E and all; a failure over UDP too ends it', async () => {
    const { clock, transport, endpoint } = setup();
    transport.refuseTcp = true;
    const failures: unknown[] = [];
    const message = inviteOf(1500);
    message.method = 'MESSAGE';
    endpoint.sendRequest(message, carrier, { onTransportError: (error) => failures.push(error) });
    await Promise.resolve();
    clock.advance(500);
    assert.deepEqual(
      transport.sent.map((sent) => sent.destination.transport),
      ['tcp', 'udp', 'udp'],
    );
    assert.deepEqual(failures, []);

    const once = setup();
    once.transport.refuseTcp = true;
    once.transport.send = (sent) => {
      once.transport.sent.push({ message: sent as SipRequest, destination: carrier, via: '' });
      return Promise.reject(new Error('unreachable'));
    };
    const lost: unknown[] = [];
    once.endpoint.sendRequest(inviteOf(1500), carrier, { onTransportError: (error) => lost.push(error) });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(once.transport.sent.length, 2, 'one fallback, no more');
    assert.equal(lost.length, 1, 'the second failure reaches the user as a transport error');
  });

  it('a large 2xx ACK refused over TCP goes over UDP, and so does its repetition', async () => {
    const { transport, endpoint } = setup();
    transport.refuseTcp = true;
    const ack = inviteOf(1500);
    ack.method = 'ACK';
    await endpoint.sendAck(ack, carrier);
    await endpoint.sendAck(ack, carrier);
    assert.deepEqual(
      transport.sent.map((sent) => sent.destination.transport),
      ['tcp', 'udp', 'udp'],
    );
  });
  it('a TCP connection not up within 4*T1 (a dropped SYN) sends the INVITE over UDP after all', async () => {
    const { clock, transport, endpoint } = setup();
    transport.dropTcpSyn = true;
    const failures: unknown[] = [];
    endpoint.sendRequest(inviteOf(1500), carrier, { onTransportError: (error) => failures.push(error) });
    clock.advance(1999);
    await Promise.resolve();
    assert.deepEqual(
      transport.sent.map((sent) => sent.destination.transport),
      ['tcp'],
    );
    clock.advance(1);
    await Promise.resolve();
    assert.deepEqual(
      transport.sent.map((sent) => sent.destination.transport),
      ['tcp', 'udp'],
    );
    assert.match(transport.sent[1]?.via ?? '', /^SIP\/2\.0\/UDP /);
    clock.advance(500);
    assert.equal(transport.sent.length, 3, 'Timer A retransmits over UDP');
    assert.deepEqual(failures, []);
  });

  it('a destination that took no TCP gets its large requests over UDP at once for 10 minutes; others still try TCP', async () => {
    const { clock, transport, endpoint } = setup();
    transport.refuseTcp = true;
    endpoint.sendRequest(inviteOf(1500), carrier, {});
    await Promise.resolve();
    transport.sent.length = 0;

    const next = inviteOf(1500);
    endpoint.sendRequest(next, carrier, {});
    assert.deepEqual(transport.sent[0]?.destination, carrier);
    assert.equal(next.topVia()?.transport, 'UDP');
    const otherPort: TransportAddress = { ...carrier, port: 5080 };
    endpoint.sendRequest(inviteOf(1500), otherPort, {});
    assert.deepEqual(
      transport.sent[1]?.destination,
      { ...otherPort, transport: 'tcp' },
      'another destination',
    );
    await Promise.resolve();
    assert.deepEqual(endpoint.largeRequests, { movedToTcp: 2, backToUdp: 2, keptOnUdp: 1 });

    transport.refuseTcp = false;
    clock.advance(10 * 60_000);
    transport.sent.length = 0; // the retransmissions until Timer B
    endpoint.sendRequest(inviteOf(1500), carrier, {});
    assert.deepEqual(
      transport.sent[0]?.destination,
      { ...carrier, transport: 'tcp' },
      'tried over TCP afresh',
    );
  });
  it('remembers at most MAX_NO_TCP_DESTINATIONS destinations without TCP, forgetting the oldest first', async () => {
    const { transport, endpoint } = setup();
    transport.refuseTcp = true;
    const port = (index: number): TransportAddress => ({ ...carrier, port: 10_000 + index });
    for (let index = 0; index <= MAX_NO_TCP_DESTINATIONS; index++)
      endpoint.sendRequest(inviteOf(1500), port(index), {});
    await Promise.resolve();
    transport.sent.length = 0;
    endpoint.sendRequest(inviteOf(1500), port(MAX_NO_TCP_DESTINATIONS), {});
    endpoint.sendRequest(inviteOf(1500), port(1), {});
    endpoint.sendRequest(inviteOf(1500), port(0), {});
    assert.deepEqual(
      transport.sent.map((sent) => sent.destination.transport),
      ['udp', 'udp', 'tcp'],
      'the first one remembered is the one forgotten',
    );
  });
});
