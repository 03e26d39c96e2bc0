/**
 * The Gateway's transport admission, in-process on real loopback sockets: a request from a
 * source no trunk knows is dropped without an answer (unknownSourceAction drop), a To tag
 * included; an in-dialog request for a call the gateway carries passes from any address
 * (carriers send BYE from addresses of their own).
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Gateway } from '../../src/gateway/index.js';
import { FakeClock } from '../../src/util/index.js';
import { freePort } from '../interop/helpers/sipp.js';
import { ANSWER_SDP, type StackUa, startStackUa } from '../interop/helpers/stack-ua.js';
import { startLoopbackGateway } from './helpers/loopback-gateway.js';

const recordsDir = mkdtempSync(join(tmpdir(), 'patchbay-admission-'));
let gateway: Gateway | undefined;
let sipPort: number;
/** The trunk's own source: 127.0.0.1. */
let carrier: StackUa;
/** A source no trunk knows: 127.0.0.2. */
let stranger: Socket;

before(async () => {
  sipPort = await freePort();
  gateway = await startLoopbackGateway({
    clock: new FakeClock(),
    sipPort,
    recordsFile: join(recordsDir, 'calls.jsonl'),
    allowedCidrs: ['127.0.0.1/32'],
  });
  carrier = await startStackUa('udp', false);
  stranger = createSocket('udp4');
  await new Promise<void>((resolve) => stranger.bind(0, '127.0.0.2', resolve));
});

after(async () => {
  stranger?.close();
  await carrier?.close();
  await gateway?.stop();
  rmSync(recordsDir, { recursive: true, force: true });
});

/** Sends `request` from the stranger's socket; resolves with the status line of the answer, or 'silence'. */
function fromStranger(request: string, waitMs = 400): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stranger.off('message', onMessage);
      resolve('silence');
    }, waitMs);
    const onMessage = (data: Buffer): void => {
      clearTimeout(timer);
      stranger.off('message', onMessage);
      resolve(data.toString('latin1').split('\r\n')[0] ?? '');
    };
    stranger.on('message', onMessage);
    stranger.send(Buffer.from(request, 'latin1'), sipPort, '127.0.0.1');
  });
}

function request(
  method: string,
  headers: { callId: string; from: string; to: string; cseq: number },
): string {
  const port = stranger.address().port;
  return [
    `${method} sip:patchbay@127.0.0.1:${sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.2:${port};branch=z9hG4bK-${method}-${headers.cseq}-${Math.random().toString(36).slice(2)}`,
    'Max-Forwards: 70',
    `From: ${headers.from}`,
    `To: ${headers.to}`,
    `Call-ID: ${headers.callId}`,
    `CSeq: ${headers.cseq} ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

describe('Gateway admission of unknown sources (in-process, real loopback sockets)', () => {
  it('drops an unknown source silently, also when its request carries a To tag', async () => {
    const scan = { callId: 'scan-1@127.0.0.2', from: '<sip:scan@127.0.0.2>;tag=s1', cseq: 1 };
    assert.equal(
      await fromStranger(request('OPTIONS', { ...scan, to: '<sip:patchbay@127.0.0.1>' })),
      'silence',
    );
    assert.equal(
      await fromStranger(
        request('OPTIONS', { ...scan, to: '<sip:patchbay@127.0.0.1>;tag=guessed', cseq: 2 }),
      ),
      'silence',
      'a To tag is enough to be answered (481, with our Server header)',
    );
  });

  it('lets an in-dialog request for a call it carries in from any address', { timeout: 10_000 }, async () => {
    const session = carrier.ua.call({
      requestUri: `sip:+15550100@127.0.0.1:${sipPort}`,
      destination: { transport: 'udp', address: '127.0.0.1', port: sipPort },
      from: `<sip:carrier@127.0.0.1:${carrier.port}>`,
      to: `<sip:+15550100@127.0.0.1:${sipPort}>`,
      sdp: ANSWER_SDP,
    });
    assert.equal((await session.outcome).kind, 'answered');
    const dialog = session.dialog ?? assert.fail('a dialog');
    const bye = request('BYE', {
      callId: dialog.callId,
      from: `<sip:carrier@127.0.0.1>;tag=${dialog.localTag}`,
      to: `<sip:+15550100@127.0.0.1>;tag=${dialog.remoteTag}`,
      cseq: 1000,
    });
    assert.equal(await fromStranger(bye, 2000), 'SIP/2.0 200 OK');
  });
});
