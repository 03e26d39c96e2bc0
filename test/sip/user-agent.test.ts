/**
 * What a user agent answers to requests whose headers only fail when read: a header the
 * parser does not check (Require, Accept) breaking while the request is validated is the
 * peer's fault, answered 400 naming the header, never 500 (RFC 3261 §8.2).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InboundSession } from '../../src/sip/call-legs.js';
import type { SipResponse } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parser.js';
import type { TransportAddress } from '../../src/sip/types.js';
import { SipUserAgent } from '../../src/sip/user-agent.js';
import { FakeClock, silentLogger } from '../../src/util/index.js';
import { MemoryNetwork } from './helpers/memory-transport.js';

const UAS: TransportAddress = { transport: 'udp', address: '127.0.0.1', port: 5100 };
const PEER: TransportAddress = { transport: 'udp', address: '127.0.0.2', port: 5128 };

function request(method: string, header: string): Buffer {
  return Buffer.from(
    [
      `${method} sip:sink@127.0.0.1:5100 SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.2:5128;branch=z9hG4bK-${method}-${header.length}`,
      'Max-Forwards: 70',
      'From: <sip:a@127.0.0.2>;tag=1',
      'To: <sip:sink@127.0.0.1>',
      `Call-ID: ${method}@repro`,
      `CSeq: 1 ${method}`,
      header,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

/** Sends one request from PEER to a user agent at UAS; its final answer, and the INVITEs handed on. */
async function finalAnswerTo(
  method: string,
  header: string,
): Promise<{ final: SipResponse | undefined; invites: number }> {
  const clock = new FakeClock();
  const network = new MemoryNetwork(clock);
  let invites = 0;
  const ua = new SipUserAgent({
    transport: network.bind(UAS),
    clock,
    logger: silentLogger,
    onInvite: (session) => {
      invites++;
      session.reject(486);
    },
  });
  const answers: SipResponse[] = [];
  network.bind(PEER).onMessage((message) => {
    if (!message.isRequest) answers.push(message);
  });
  network.transmit(parseMessage(request(method, header)), PEER, UAS);
  await new Promise((resolve) => setImmediate(resolve));
  ua.close();
  return { final: answers.find((answer) => answer.status >= 200), invites };
}

describe('SipUserAgent: headers that break when read', () => {
  for (const header of ['Require: "foo', 'Accept: "foo']) {
    for (const method of ['OPTIONS', 'INVITE', 'BYE']) {
      it(`${method} with '${header}' is answered 400 naming the header, not 500`, async () => {
        const { final } = await finalAnswerTo(method, header);
        assert.equal(final?.status, 400);
        const name = header.split(':')[0] as string;
        assert.match(final.reason, new RegExp(`${name}: unterminated quoted string`));
      });
    }
  }
});

describe('SipUserAgent over TLS', () => {
  const UAS_TLS: TransportAddress = { transport: 'tls', address: '127.0.0.1', port: 5101 };
  const PEER_TLS: TransportAddress = { transport: 'tls', address: '127.0.0.2', port: 5129 };

  for (const [scheme, contact] of [
    ['sips', '<sips:patchbay@127.0.0.1:5101>'],
    ['sip', '<sip:patchbay@127.0.0.1:5101;transport=tls>'],
  ] as const) {
    it(`answers a ${scheme}: INVITE over TLS with Contact ${contact} (RFC 3261 §12.1.1)`, async () => {
      const clock = new FakeClock();
      const network = new MemoryNetwork(clock);
      const ua = new SipUserAgent({
        transport: network.bind(UAS_TLS),
        clock,
        logger: silentLogger,
        onInvite: (session) => session.accept('v=0\r\n'),
      });
      const peer = network.bind(PEER_TLS);
      const answers: SipResponse[] = [];
      peer.onMessage((message) => {
        if (!message.isRequest) answers.push(message);
      });
      const invite = request('INVITE', `Contact: <${scheme}:a@127.0.0.2:5129>`)
        .toString()
        .replace('sip:sink@', `${scheme}:sink@`)
        .replace('SIP/2.0/UDP', 'SIP/2.0/TLS');
      network.transmit(parseMessage(Buffer.from(invite)), PEER_TLS, UAS_TLS);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(answers.find((answer) => answer.status === 200)?.get('contact'), contact);
      ua.close();
    });
  }
});

describe('SipUserAgent: extensions and the headers a dialog is made of', () => {
  it('an INVITE requiring Replaces gets 420: attended transfer is not implemented (RFC 3891)', async () => {
    const { final, invites } = await finalAnswerTo('INVITE', 'Require: replaces');
    assert.deepEqual([final?.status, final?.get('unsupported'), invites], [420, 'replaces', 0]);
  });

  // Contact is checked as the message is parsed; Record-Route only when it is read.
  it('an INVITE whose Record-Route does not parse is answered 400 before any call starts', async () => {
    const { final, invites } = await finalAnswerTo('INVITE', 'Record-Route: <sip:proxy.example;lr');
    assert.deepEqual([final?.status, invites], [400, 0]);
  });
});

describe('SipUserAgent: a caller that cannot be answered', () => {
  it('ends the pending session when its INVITE transaction cannot send, and later answers do nothing', async () => {
    const clock = new FakeClock();
    const caller: TransportAddress = { transport: 'tcp', address: '192.0.2.9', port: 40111 };
    let deliver: ((message: ReturnType<typeof parseMessage>, source: TransportAddress) => void) | undefined;
    // A TCP caller whose connection is gone: every send to it fails, as the stream pool's does.
    const transport = {
      send: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
      onMessage: (handler: typeof deliver) => {
        deliver = handler;
      },
      isReliable: (kind: string) => kind !== 'udp',
      local: (kind: TransportAddress['transport']) => ({ ...UAS, transport: kind }),
    };
    const sessions: InboundSession[] = [];
    const ua = new SipUserAgent({
      transport: transport as unknown as ConstructorParameters<typeof SipUserAgent>[0]['transport'],
      clock,
      logger: silentLogger,
      onInvite: (session) => sessions.push(session),
    });
    const invite = request('INVITE', 'Contact: <sip:a@192.0.2.9:40111;transport=tcp>')
      .toString()
      .replace('SIP/2.0/UDP 127.0.0.2:5128', 'SIP/2.0/TCP 192.0.2.9:40111');
    deliver?.(parseMessage(Buffer.from(invite), { datagram: false }), caller);
    const [session = assert.fail('no session')] = sessions;
    const ended: string[] = [];
    session.on('terminated', (cause) => ended.push(`${cause.by} ${cause.reason}: ${cause.detail}`));
    clock.advance(250); // the automatic 100 Trying goes out at 200 ms, and fails
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(ended, ['error transaction_failed: INVITE transaction transport']);
    assert.equal(session.pending, false);
    session.progress(180);
    session.reject(503);
    ua.close();
  });
});

describe('SipUserAgent: a registration Contact behind a NAT', () => {
  it('answers a call to a moved Contact with that Contact, where the registrar saw us; other calls with ours', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork(clock);
    const ua = new SipUserAgent({
      transport: network.bind(UAS),
      clock,
      logger: silentLogger,
      onInvite: (session) => session.accept('v=0\r\n'),
    });
    const answers: SipResponse[] = [];
    network.bind(PEER).onMessage((message) => {
      if (!message.isRequest) answers.push(message);
    });
    const invite = (user: string, branch: string) =>
      parseMessage(
        Buffer.from(
          request('INVITE', 'Contact: <sip:a@127.0.0.2:5128>')
            .toString()
            .replace('sip:sink@', `sip:${user}@`)
            .replace(/branch=\S+/, `branch=z9hG4bK-${branch}`)
            .replace('INVITE@repro', `${branch}@repro`),
        ),
      );
    ua.contactMoved('pb-0123', { address: '203.0.113.9', port: 40_000 });
    network.transmit(invite('pb-0123', 'moved'), PEER, UAS);
    network.transmit(invite('other', 'plain'), PEER, UAS);
    await new Promise((resolve) => setImmediate(resolve));
    const contactOf = (callId: string) =>
      answers.find((answer) => answer.status === 200 && answer.callId() === callId)?.get('contact');
    assert.equal(contactOf('moved@repro'), '<sip:patchbay@203.0.113.9:40000>');
    assert.equal(contactOf('plain@repro'), '<sip:patchbay@127.0.0.1:5100>');
    // Back at our address once the registration is gone.
    ua.contactMoved('pb-0123', undefined);
    network.transmit(invite('pb-0123', 'after'), PEER, UAS);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(contactOf('after@repro'), '<sip:patchbay@127.0.0.1:5100>');
    ua.close();
  });
});
