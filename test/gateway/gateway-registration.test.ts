/**
 * A registration trunk on the Gateway, in-process on real loopback UDP sockets: the trunk
 * registers at a bare UDP registrar, which then sends a call to the Contact it was given and is
 * answered; the same Request-URI from another address (one that read the Contact off a REGISTER
 * in clear) is refused like an unknown source, 403 as the trunk says.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { gatewayFileSchema, makeSnapshot, trunkSchema } from '../../src/config/index.js';
import type { Gateway } from '../../src/gateway/index.js';
import type { SipRequest } from '../../src/sip/message.js';
import { createResponse } from '../../src/sip/message-ops.js';
import { parseMessage, serializeMessage } from '../../src/sip/parser.js';
import { FakeClock } from '../../src/util/index.js';
import { freePort } from '../interop/helpers/sipp.js';
import { inviteText, startGateway } from './helpers/loopback-gateway.js';

async function udpSocket(address: string): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return socket;
}

describe('Gateway registration trunk (in-process, real loopback UDP)', () => {
  let gateway: Gateway | undefined;
  let sipPort: number;
  /** The registrar, on 127.0.0.3: it grants every REGISTER and later calls our Contact. */
  let registrar: Socket;
  /** Someone else, on 127.0.0.2, who saw the Contact go by. */
  let stranger: Socket;
  let contactUser: string | undefined;

  before(async () => {
    registrar = await udpSocket('127.0.0.3');
    stranger = await udpSocket('127.0.0.2');
    registrar.on('message', (data, from) => {
      const message = parseMessage(data);
      if (!message.isRequest || message.method !== 'REGISTER') return;
      const request = message as SipRequest;
      contactUser = request.contacts()[0]?.uri.user;
      const ok = createResponse(request, 200);
      ok.append('Contact', `${request.get('contact')};expires=${request.get('expires')}`);
      registrar.send(serializeMessage(ok), from.port, from.address);
    });
    sipPort = await freePort();
    const snapshot = makeSnapshot(
      gatewayFileSchema.parse({
        listen: [{ transport: 'udp', host: '127.0.0.1', port: sipPort }],
        api: { host: '127.0.0.1', port: await freePort() },
        routes: [{ match: '*', target: { url: 'builtin:echo' } }],
      }),
      [
        trunkSchema.parse({
          name: 'reg',
          inbound: { allowedCidrs: ['192.0.2.0/24'], unknownSourceAction: 403 },
          outbound: {
            gateways: [{ host: '127.0.0.3', port: registrar.address().port }],
            register: { registrar: `127.0.0.3:${registrar.address().port}`, username: 'u', password: 'p' },
          },
          probing: { enabled: false },
        }),
      ],
    );
    gateway = await startGateway(snapshot, new FakeClock());
    for (let tries = 0; gateway.registrations()[0]?.state !== 'registered'; tries++) {
      if (tries > 100) assert.fail('the trunk did not register');
      await delay(20);
    }
  });

  after(async () => {
    await gateway?.stop();
    registrar?.close();
    stranger?.close();
  });

  /** An INVITE to our Contact from `socket`; resolves with the status line of its first final response. */
  function inviteContact(socket: Socket, callId: string): Promise<string> {
    const { address, port } = socket.address();
    const text = inviteText({
      requestUri: `sip:${contactUser}@127.0.0.1:${sipPort}`,
      transport: 'UDP',
      local: `${address}:${port}`,
      callId,
    });
    return new Promise((resolve) => {
      const onMessage = (data: Buffer): void => {
        const line = data.toString('latin1').split('\r\n')[0] ?? '';
        if (!/^SIP\/2\.0 [2-6]/.test(line)) return;
        socket.off('message', onMessage);
        resolve(line);
      };
      socket.on('message', onMessage);
      socket.send(Buffer.from(text, 'latin1'), sipPort, '127.0.0.1');
    });
  }

  it('refuses a call to the registered Contact from an address that is not the registrar', async () => {
    assert.match(contactUser ?? '', /^pb-[0-9a-f]{24}$/);
    assert.match(await inviteContact(stranger, 'stranger-1'), /^SIP\/2\.0 403 /);
  });

  it('answers the call the registrar sends to the registered Contact', { timeout: 10_000 }, async () => {
    assert.match(await inviteContact(registrar, 'registrar-1'), /^SIP\/2\.0 200 /);
  });
});
