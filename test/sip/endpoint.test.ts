import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type EndpointApplication,
  type EndpointMessageOps,
  type EndpointTransport,
  SipEndpoint,
  type SipEndpointOptions,
} from '../../src/sip/endpoint.js';
import { SipParseError } from '../../src/sip/grammar.js';
import type { RequestView, ResponseView } from '../../src/sip/transaction/index.js';
import type { CSeq, TransportAddress, Via } from '../../src/sip/types.js';
import { FakeClock } from '../../src/util/index.js';

class Request implements RequestView {
  readonly isRequest = true;
  readonly vias: Via[] = [];
  constructor(
    readonly method: string,
    readonly callIdValue = 'call-1',
    readonly toTagValue?: string,
  ) {}
  topVia(): Via | undefined {
    return this.vias[0];
  }
  cseq(): CSeq {
    return { seq: 1, method: this.method === 'ACK' ? 'ACK' : this.method };
  }
  callId(): string {
    return this.callIdValue;
  }
  fromTag(): string {
    return 'from-tag';
  }
  toTag(): string | undefined {
    return this.toTagValue;
  }
}

class Response implements ResponseView {
  readonly isRequest = false;
  constructor(
    readonly status: number,
    readonly request: Request,
  ) {}
  topVia(): Via | undefined {
    return this.request.topVia();
  }
  cseq(): CSeq {
    return this.request.cseq();
  }
}

let branchCounter = 0;
const ops: EndpointMessageOps<Request, Response> = {
  createResponse: (request, status) => new Response(status, request),
  createAck: (invite) => Object.assign(new Request('ACK', invite.callIdValue), { vias: invite.vias }),
  serialize: (response) => Buffer.from(String(response.status)),
  moveTopVia: () => undefined,
  wireLength: () => 0,
  addVia: (request, sentBy) => {
    request.vias.unshift({
      transport: sentBy.transport.toUpperCase(),
      host: sentBy.address,
      port: sentBy.port,
      params: new Map([['branch', `z9hG4bK-${++branchCounter}`]]),
    });
  },
};

class LoopTransport implements EndpointTransport<Request | Response> {
  readonly sent: { message: Request | Response | Buffer; destination: TransportAddress }[] = [];
  handler:
    | ((message: Request | Response, source: TransportAddress, local: TransportAddress) => void)
    | undefined;
  send(message: Request | Response | Buffer, destination: TransportAddress): Promise<void> {
    this.sent.push({ message, destination });
    return Promise.resolve();
  }
  onMessage(
    handler: (message: Request | Response, source: TransportAddress, local: TransportAddress) => void,
  ): void {
    this.handler = handler;
  }
  isReliable(transport: TransportAddress['transport']): boolean {
    return transport !== 'udp';
  }
  deliver(message: Request | Response): void {
    this.handler?.(message, remote, local);
  }
  describe(): string[] {
    return this.sent.map(({ message }) => {
      if (Buffer.isBuffer(message)) return message.toString();
      return message.isRequest ? message.method : `${message.status}`;
    });
  }
}

const local: TransportAddress = { transport: 'udp', address: '127.0.0.1', port: 5060 };
const remote: TransportAddress = { transport: 'udp', address: '127.0.0.1', port: 5070 };

/** Answers every request 200 unless the test's application says otherwise. */
const answerOk: EndpointApplication<Request, Response> = {
  onRequest: (request, transaction) => transaction.respond(new Response(200, request)),
};

function setup(
  application: EndpointApplication<Request, Response> = answerOk,
  extra: Partial<SipEndpointOptions<Request, Response>> = {},
) {
  const clock = new FakeClock();
  const transport = new LoopTransport();
  const endpoint = new SipEndpoint<Request, Response>({
    transport,
    application,
    ops,
    clock,
    sentBy: (kind) => ({ ...local, transport: kind }),
    ...extra,
  });
  return { clock, transport, endpoint };
}

/** A request as a peer would send it: its own Via already on top. */
function incoming(method: string, callId = 'call-1', toTag?: string): Request {
  const request = new Request(method, callId, toTag);
  ops.addVia(request, remote);
  return request;
}

describe('SipEndpoint', () => {
  it('adds a Via with a fresh branch and our sent-by, and matches the response', () => {
    const { transport, endpoint } = setup();
    const finals: number[] = [];
    const invite = new Request('INVITE');
    endpoint.sendRequest(invite, remote, { onFinal: (response) => finals.push(response.status) });
    const via = invite.topVia();
    assert.equal(via?.host, '127.0.0.1');
    assert.equal(via?.port, 5060);
    assert.match(via?.params.get('branch') ?? '', /^z9hG4bK/);
    transport.deliver(new Response(200, invite));
    assert.deepEqual(finals, [200]);
  });

  it('serves a UAS call: INVITE -> 180/200, 2xx ACK to the app, BYE -> 200, nothing left behind', () => {
    const acks: string[] = [];
    const { clock, transport, endpoint } = setup({
      onAck: (ack) => acks.push(ack.callId()),
      onRequest: (request, transaction) => {
        if (request.method === 'INVITE') transaction.respond(new Response(180, request));
        transaction.respond(new Response(200, request));
      },
    });
    transport.deliver(incoming('INVITE'));
    transport.deliver(incoming('ACK', 'call-1', 'to-tag'));
    transport.deliver(incoming('BYE', 'call-1', 'to-tag'));
    assert.deepEqual(transport.describe(), ['180', '200', '200']);
    assert.deepEqual(acks, ['call-1']);
    clock.advance(64 * 500);
    assert.equal(endpoint.transactions.size, 0);
  });

  it('auto-answers out-of-dialog OPTIONS with the hook status, e.g. 503 while draining', () => {
    const { transport } = setup(answerOk, { optionsStatus: () => 503 });
    transport.deliver(incoming('OPTIONS'));
    assert.deepEqual(transport.describe(), ['503']);
  });

  it('a throwing handler gets its request answered 500 and nothing escapes the socket handler', () => {
    const errors: unknown[] = [];
    const { transport, endpoint } = setup(
      {
        onRequest: () => {
          throw new Error('application bug');
        },
      },
      { onError: (error) => errors.push(error) },
    );
    transport.deliver(incoming('INVITE'));
    const malformed = incoming('OPTIONS', 'call-2');
    malformed.cseq = () => {
      throw new Error('bad CSeq');
    };
    assert.doesNotThrow(() => transport.deliver(malformed));
    assert.deepEqual(transport.describe(), ['500']);
    assert.equal(errors.length, 2);
    assert.equal(endpoint.transactions.serverCount, 1, 'no transaction left for the malformed request');
  });

  it('a header that fails to parse before any transaction exists is answered 400 statelessly', () => {
    const { transport, endpoint } = setup();
    const malformed = incoming('OPTIONS');
    malformed.fromTag = () => {
      throw new SipParseError('unterminated quoted string');
    };
    assert.doesNotThrow(() => transport.deliver(malformed));
    assert.deepEqual(transport.describe(), ['400']);
    assert.equal(endpoint.transactions.serverCount, 0);
  });

  it('passes 2xx retransmissions after Timer M to the stray handler so the UAC can re-ACK', () => {
    const strays: number[] = [];
    const { clock, transport, endpoint } = setup({
      ...answerOk,
      onStrayResponse: (response) => strays.push(response.status),
    });
    const invite = new Request('INVITE');
    endpoint.sendRequest(invite, remote, {});
    transport.deliver(new Response(200, invite));
    clock.advance(32_000);
    transport.deliver(new Response(200, invite));
    assert.deepEqual(strays, [200]);
  });
});
