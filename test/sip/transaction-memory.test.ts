/**
 * What server transactions hold: a request only until its final response, then only that
 * response's bytes, so 60 KB requests are not kept for Timer J; and the bytes held are bounded
 * per source and in total (beyond: 503, shed as `memory`). Real parsed messages, FakeClock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { createResponse, messageOps } from '../../src/sip/message-ops.js';
import { parseMessage } from '../../src/sip/parser.js';
import {
  SERVER_TRANSACTION_BYTES,
  type ServerTransaction,
  TransactionManager,
  type TransactionMemoryLimits,
} from '../../src/sip/transaction/index.js';
import type { ShedReason, TransportAddress } from '../../src/sip/types.js';
import { FakeClock } from '../../src/util/index.js';

const PAD = 'x'.repeat(60_000);

/** A full collection, so heap use measures what is really kept. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function large(method: string, source: TransportAddress, n: number): SipRequest {
  const text = [
    `${method} sip:sink@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/UDP ${source.address}:${source.port};branch=z9hG4bK-${n}`,
    'Max-Forwards: 70',
    `From: <sip:a@${source.address}>;tag=${n}`,
    'To: <sip:sink@127.0.0.1>',
    `Call-ID: ${n}@memory`,
    `CSeq: 1 ${method}`,
    `X-Pad: ${PAD}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text), { datagram: true }) as SipRequest;
}

function setup(answer: boolean, memory?: Partial<TransactionMemoryLimits>) {
  const clock = new FakeClock();
  const sent: number[] = [];
  const wire: Buffer[] = [];
  const held: ServerTransaction<SipRequest, SipResponse>[] = [];
  const shed: ShedReason[] = [];
  const manager = new TransactionManager<SipRequest, SipResponse>({
    clock,
    factory: messageOps,
    send: (message) => {
      if (Buffer.isBuffer(message)) wire.push(message);
      const response = Buffer.isBuffer(message) ? parseMessage(message) : message;
      if (!response.isRequest) sent.push(response.status);
    },
    isReliable: () => false,
    onRequest: (request, transaction) => {
      held.push(transaction);
      if (answer) transaction.respond(createResponse(request, 200));
    },
    ...(memory ? { memory } : {}),
  });
  manager.on('shed', (reason) => shed.push(reason));
  return { clock, manager, sent, wire, held, shed };
}

const A: TransportAddress = { transport: 'udp', address: '127.0.0.2', port: 5060 };
const B: TransportAddress = { transport: 'udp', address: '127.0.0.3', port: 5060 };

describe('server transaction memory', () => {
  it('2,000 answered 60 KB OPTIONS in 10 s: every one served, none held past its response', () => {
    const { clock, manager, sent, held, shed } = setup(true);
    collectGarbage();
    const heapBefore = process.memoryUsage().heapUsed;
    let peak = 0;
    for (let n = 0; n < 2000; n++) {
      manager.receiveRequest(large('OPTIONS', A, n), A);
      peak = Math.max(peak, manager.bytesHeld);
      clock.advance(5);
    }
    assert.equal(sent.filter((status) => status === 200).length, 2000);
    assert.deepEqual(shed, []);
    assert.equal(manager.serverCount, 2000, 'all still in Completed for Timer J');
    assert.ok(held.every((transaction) => transaction.request === undefined));
    const bound = 2000 * (SERVER_TRANSACTION_BYTES + 1000);
    assert.ok(peak < bound, `peak ${peak} bytes: only the stored 200s' bytes, not the requests`);
    // The stored 200s copy the request's Via/From/To: they must not keep its 60 KB header text.
    collectGarbage();
    const kept = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(kept < 30_000_000, `${Math.round(kept / 1e6)} MB kept for 2,000 transactions`);
    clock.advance(32_000);
    assert.equal(manager.bytesHeld, 0);
  });

  it('unanswered large requests: one source is bounded, 503 and shed as memory beyond; others still served', () => {
    const limits = { maxBytesPerSource: 1_000_000, maxBytes: 1_500_000 };
    const { clock, manager, sent, shed } = setup(false, limits);
    for (let n = 0; n < 40; n++) manager.receiveRequest(large('INVITE', A, n), A);
    const admitted = manager.serverCount;
    assert.equal(admitted, 14, 'fourteen 60 KB INVITEs, parsed, with their transactions fit in 1 MB');
    assert.ok(manager.bytesHeld <= limits.maxBytesPerSource);
    assert.equal(sent.filter((status) => status === 503).length, 40 - admitted);
    assert.ok(shed.length === 40 - admitted && shed.every((reason) => reason === 'memory'));
    for (let n = 100; n < 140; n++) manager.receiveRequest(large('INVITE', B, n), B);
    assert.ok(manager.bytesHeld <= limits.maxBytes, 'the total bound holds across sources');
    assert.equal(manager.serverCount, 22, 'the other source got what the total bound leaves');
    manager.close();
    clock.advance(1);
    assert.equal(manager.bytesHeld, 0);
  });

  it('a retransmission gets the stored bytes again; the transaction keeps neither request nor response', async () => {
    const { manager, wire, held } = setup(false);
    let request: SipRequest | undefined = large('OPTIONS', A, 1);
    manager.receiveRequest(request, A);
    const transaction = held[0] as ServerTransaction<SipRequest, SipResponse>;
    let response: SipResponse | undefined = createResponse(request, 200);
    const requestRef = new WeakRef(request);
    const responseRef = new WeakRef(response);
    transaction.respond(response);
    request = undefined;
    response = undefined;
    manager.receiveRequest(large('OPTIONS', A, 1), A);
    manager.receiveRequest(large('OPTIONS', A, 1), A);
    assert.equal(wire.length, 3);
    assert.ok(
      wire.every((bytes) => bytes.equals(wire[0] as Buffer)),
      'identical bytes each time',
    );
    assert.ok(transaction.responseBytes?.equals(wire[0] as Buffer));
    assert.equal(transaction.request, undefined);
    await new Promise((resolve) => setImmediate(resolve)); // WeakRef targets live to the end of the turn
    collectGarbage();
    assert.equal(requestRef.deref(), undefined, 'the request was collected');
    assert.equal(responseRef.deref(), undefined, 'the response object was collected');
    assert.equal(manager.serverCount, 1);
    manager.close();
  });
});
