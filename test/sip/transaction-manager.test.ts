import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type MessageFactory,
  type RequestView,
  type ResponseView,
  type ServerTransaction,
  type TransactionEnd,
  TransactionManager,
} from '../../src/sip/transaction/index.js';
import type { CSeq, TransportAddress, Via } from '../../src/sip/types.js';
import { FakeClock } from '../../src/util/index.js';

interface Ids {
  branch: string;
  host?: string;
  port?: number;
  callId?: string;
  fromTag?: string;
  toTag?: string;
  seq?: number;
}

class FakeRequest implements RequestView {
  readonly isRequest = true;
  constructor(
    readonly method: string,
    readonly ids: Ids,
    readonly cseqMethod = method,
  ) {}
  topVia(): Via {
    return via(this.ids);
  }
  cseq(): CSeq {
    return { seq: this.ids.seq ?? 1, method: this.cseqMethod };
  }
  callId(): string {
    return this.ids.callId ?? 'call-1';
  }
  fromTag(): string | undefined {
    return this.ids.fromTag ?? 'from-1';
  }
  toTag(): string | undefined {
    return this.ids.toTag;
  }
}

class FakeResponse implements ResponseView {
  readonly isRequest = false;
  constructor(
    readonly status: number,
    readonly request: FakeRequest,
  ) {}
  topVia(): Via {
    return via(this.request.ids);
  }
  cseq(): CSeq {
    return this.request.cseq();
  }
}

function via(ids: Ids): Via {
  return {
    transport: 'UDP',
    host: ids.host ?? '10.0.0.1',
    port: ids.port ?? 5060,
    params: new Map([['branch', ids.branch]]),
  };
}

const factory: MessageFactory<FakeRequest, FakeResponse> = {
  createResponse: (request, status) => new FakeResponse(status, request),
  createAck: (invite) => new FakeRequest('ACK', invite.ids, 'ACK'),
  serialize: (response) => Buffer.from(wireText(response)),
};

function wireText(message: FakeRequest | FakeResponse | Buffer): string {
  if (Buffer.isBuffer(message)) return message.toString();
  return message.isRequest ? message.method : `${message.status} ${message.cseq().method}`;
}

const peer: TransportAddress = { transport: 'udp', address: '10.0.0.1', port: 5060 };

function setup(maxTransactions?: number) {
  const clock = new FakeClock();
  const sent: string[] = [];
  const requests: { request: FakeRequest; tx: ServerTransaction<FakeRequest, FakeResponse> }[] = [];
  const acks: FakeRequest[] = [];
  const strays: FakeResponse[] = [];
  const cancelled: string[] = [];
  const failures: string[] = [];
  const manager = new TransactionManager<FakeRequest, FakeResponse>({
    clock,
    factory,
    send: (message) => {
      sent.push(wireText(message));
    },
    isReliable: (transport) => transport !== 'udp',
    onRequest: (request, tx) => requests.push({ request, tx }),
    onAck: (ack) => acks.push(ack),
    onStrayResponse: (response) => strays.push(response),
    onCancel: (invite) => cancelled.push(invite.state),
    onServerFailure: (tx, reason) => failures.push(`${tx.state} ${reason}`),
    ...(maxTransactions === undefined ? {} : { maxTransactions }),
  });
  return { clock, sent, requests, acks, strays, cancelled, failures, manager };
}

const BRANCH = 'z9hG4bK-1';

describe('TransactionManager (RFC 3261 §17.1.3, §17.2.3)', () => {
  it('matches responses to client transactions by branch and CSeq method', () => {
    const { clock, manager, sent, strays } = setup();
    const finals: number[] = [];
    const invite = new FakeRequest('INVITE', { branch: BRANCH });
    manager.sendRequest(invite, peer, { onFinal: (response) => finals.push(response.status) });
    manager.receiveResponse(new FakeResponse(200, new FakeRequest('BYE', { branch: BRANCH })), peer);
    assert.equal(strays.length, 1, 'same branch, other method is not a match');
    manager.receiveResponse(new FakeResponse(486, invite), peer);
    assert.deepEqual(finals, [486]);
    assert.deepEqual(sent, ['INVITE', 'ACK']);
    clock.advance(32_000);
    assert.equal(manager.size, 0);
  });

  it('absorbs request retransmissions by re-sending the last response', () => {
    const { manager, requests, sent } = setup();
    const bye = new FakeRequest('BYE', { branch: BRANCH, toTag: 't' });
    manager.receiveRequest(bye, peer);
    manager.receiveRequest(bye, peer);
    assert.equal(requests.length, 1);
    requests[0]?.tx.respond(new FakeResponse(200, bye));
    manager.receiveRequest(bye, peer);
    assert.deepEqual(sent, ['200 BYE', '200 BYE']);
  });

  it('tells transactions apart by sent-by when branches collide', () => {
    const { manager, requests } = setup();
    manager.receiveRequest(new FakeRequest('OPTIONS', { branch: BRANCH, toTag: 'a' }), peer);
    manager.receiveRequest(
      new FakeRequest('OPTIONS', { branch: BRANCH, host: '10.0.0.2', toTag: 'a' }),
      peer,
    );
    assert.equal(requests.length, 2);
  });

  it('ACK for a non-2xx is absorbed by its INVITE transaction; ACK for 2xx goes to the TU', () => {
    const { clock, manager, requests, acks } = setup();
    const invite = new FakeRequest('INVITE', { branch: BRANCH });
    manager.receiveRequest(invite, peer);
    requests[0]?.tx.respond(new FakeResponse(486, invite));
    manager.receiveRequest(new FakeRequest('ACK', { branch: BRANCH }), peer);
    assert.equal(acks.length, 0);
    assert.equal(requests[0]?.tx.state, 'confirmed');

    const invite2 = new FakeRequest('INVITE', { branch: 'z9hG4bK-2', callId: 'call-2' });
    manager.receiveRequest(invite2, peer);
    requests[1]?.tx.respond(new FakeResponse(200, invite2));
    manager.receiveRequest(
      new FakeRequest('ACK', { branch: 'z9hG4bK-3', callId: 'call-2', toTag: 'x' }),
      peer,
    );
    assert.equal(acks.length, 1);
    clock.advance(40_000);
    assert.equal(manager.size, 0);
  });

  it('CANCEL gets 200 and its pending INVITE 487 (RFC 3261 §9.2); unknown CANCEL gets 481', () => {
    const { manager, sent, cancelled } = setup();
    const invite = new FakeRequest('INVITE', { branch: BRANCH });
    manager.receiveRequest(invite, peer);
    manager.receiveRequest(new FakeRequest('CANCEL', { branch: BRANCH }), peer);
    assert.deepEqual(sent, ['200 CANCEL', '487 INVITE']);
    assert.deepEqual(cancelled, ['completed']);
    manager.receiveRequest(new FakeRequest('CANCEL', { branch: 'z9hG4bK-none' }), peer);
    assert.equal(sent.at(-1), '481 CANCEL');
  });

  it('CANCEL after the final response gets 200 only; ACK retransmissions in Confirmed are absorbed', () => {
    const { manager, requests, sent, cancelled, acks } = setup();
    const invite = new FakeRequest('INVITE', { branch: BRANCH });
    manager.receiveRequest(invite, peer);
    requests[0]?.tx.respond(new FakeResponse(486, invite));
    manager.receiveRequest(new FakeRequest('CANCEL', { branch: BRANCH }), peer);
    manager.receiveRequest(new FakeRequest('ACK', { branch: BRANCH }), peer);
    manager.receiveRequest(new FakeRequest('ACK', { branch: BRANCH }), peer);
    assert.deepEqual(sent, ['486 INVITE', '200 CANCEL']);
    assert.deepEqual(cancelled, []);
    assert.equal(acks.length, 0);
  });

  it('answers a merged request with 482 (RFC 3261 §8.2.2.2)', () => {
    const { manager, requests, sent } = setup();
    manager.receiveRequest(new FakeRequest('INVITE', { branch: BRANCH }), peer);
    manager.receiveRequest(new FakeRequest('INVITE', { branch: 'z9hG4bK-forked', port: 5070 }), peer);
    assert.equal(requests.length, 1);
    assert.deepEqual(sent, ['482 INVITE']);
  });

  it('rejects requests without a magic-cookie branch with 400', () => {
    const { manager, requests, sent } = setup();
    manager.receiveRequest(new FakeRequest('OPTIONS', { branch: 'rfc2543' }), peer);
    assert.equal(requests.length, 0);
    assert.deepEqual(sent, ['400 OPTIONS']);
  });

  it('bounds live transactions: 503 beyond the limit, RangeError for new client requests', () => {
    const { manager, requests, sent } = setup(2);
    for (let i = 0; i < 3; i++) {
      manager.receiveRequest(new FakeRequest('OPTIONS', { branch: `z9hG4bK-${i}`, callId: `c${i}` }), peer);
    }
    assert.equal(requests.length, 2);
    assert.deepEqual(sent, ['503 OPTIONS']);
    assert.throws(
      () => manager.sendRequest(new FakeRequest('OPTIONS', { branch: 'z9hG4bK-x' }), peer, {}),
      RangeError,
    );
  });

  it('reports client transport errors and drops the transaction', async () => {
    const clock = new FakeClock();
    const manager = new TransactionManager<FakeRequest, FakeResponse>({
      clock,
      factory,
      send: () => Promise.reject(new Error('ECONNREFUSED')),
      isReliable: () => true,
      onRequest: () => undefined,
    });
    const errors: unknown[] = [];
    manager.sendRequest(
      new FakeRequest('OPTIONS', { branch: BRANCH }),
      { ...peer, transport: 'tcp' },
      {
        onTransportError: (error) => errors.push(error),
      },
    );
    await Promise.resolve();
    assert.equal(errors.length, 1);
    assert.equal(manager.size, 0);
  });

  it('tells the TU of a server transaction ended by Timer H, not of one that completed', () => {
    const { clock, manager, requests, failures } = setup();
    const rejected = new FakeRequest('INVITE', { branch: BRANCH });
    const answered = new FakeRequest('OPTIONS', { branch: 'z9hG4bK-2', callId: 'call-2' });
    manager.receiveRequest(rejected, peer);
    manager.receiveRequest(answered, peer);
    requests[0]?.tx.respond(new FakeResponse(486, rejected));
    requests[1]?.tx.respond(new FakeResponse(200, answered));
    clock.advance(32_000);
    assert.deepEqual(failures, ['terminated timeout']);
    assert.deepEqual(
      requests.map(({ tx }) => tx.end?.cause),
      ['timeout', 'completed'],
    );
    assert.equal(manager.size, 0);
  });

  it('tells the TU of a server transaction whose response could not be sent', async () => {
    const failures: string[] = [];
    let tx: ServerTransaction<FakeRequest, FakeResponse> | undefined;
    const manager = new TransactionManager<FakeRequest, FakeResponse>({
      clock: new FakeClock(),
      factory,
      send: () => Promise.reject(new Error('EPIPE')),
      isReliable: () => true,
      onRequest: (_request, transaction) => {
        tx = transaction;
      },
      onServerFailure: (_transaction, reason) => failures.push(reason),
    });
    const bye = new FakeRequest('BYE', { branch: BRANCH, toTag: 't' });
    manager.receiveRequest(bye, { ...peer, transport: 'tcp' });
    tx?.respond(new FakeResponse(200, bye));
    await Promise.resolve();
    assert.deepEqual(failures, ['transport']);
    assert.deepEqual(tx?.end, { cause: 'transport_error', detail: 'EPIPE' });
    assert.equal(manager.size, 0);
  });

  it('close() aborts every live transaction, each ended once, and frees them', () => {
    const { clock, manager, failures } = setup();
    const ends: TransactionEnd[] = [];
    manager.receiveRequest(new FakeRequest('INVITE', { branch: BRANCH }), peer);
    const client = manager.sendRequest(new FakeRequest('OPTIONS', { branch: 'z9hG4bK-out' }), peer, {});
    client.on('ended', (end) => ends.push(end));
    manager.close();
    manager.close();
    assert.deepEqual(ends, [{ cause: 'aborted', detail: 'transaction manager closed' }]);
    assert.deepEqual(failures, [], 'an abort is no failure to report');
    assert.equal(manager.size, 0);
    assert.equal(clock.pendingTimers(), 0);
  });

  it('cleans up every map after a burst of completed exchanges', () => {
    const { clock, manager, requests } = setup();
    for (let i = 0; i < 100; i++) {
      const invite = new FakeRequest('INVITE', { branch: `z9hG4bK-i${i}`, callId: `c${i}` });
      manager.receiveRequest(invite, peer);
      manager.sendRequest(new FakeRequest('BYE', { branch: `z9hG4bK-b${i}`, callId: `c${i}` }), peer, {});
    }
    for (const { request, tx } of requests) tx.respond(new FakeResponse(200, request));
    clock.advance(100_000);
    assert.equal(manager.size, 0);
    assert.equal(clock.pendingTimers(), 0);
  });
});
