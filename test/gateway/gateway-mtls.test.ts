/**
 * The Gateway's TLS listener with `requireClientCert`, in-process on real loopback sockets with
 * a throwaway PKI: a client certificate that chains to the trusted CA is not enough, it must
 * name the trunk the request comes from (its outbound gateway's host by default). A client
 * whose certificate names another host, on the trunk's own address, is refused like an unknown
 * source (the trunk's 403).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { gatewayFileSchema, makeSnapshot, trunkSchema } from '../../src/config/index.js';
import type { Gateway } from '../../src/gateway/index.js';
import { FakeClock } from '../../src/util/index.js';
import { type Leaf, skipWithoutOpenssl, TestPki } from '../helpers/test-pki.js';
import { freePort } from '../interop/helpers/sipp.js';
import { closeAll, rawTlsClient } from '../sip/helpers/tls-peers.js';
import { inviteText, startGateway } from './helpers/loopback-gateway.js';

describe('Gateway over mutual TLS (in-process, real loopback sockets)', { skip: skipWithoutOpenssl }, () => {
  let pki: TestPki;
  let gateway: Gateway | undefined;
  let tlsPort: number;
  let carrier: Leaf;
  let stranger: Leaf;

  before(async () => {
    pki = TestPki.create();
    const leaf = pki.issue('patchbay', { san: ['DNS:localhost', 'IP:127.0.0.1'] });
    carrier = pki.issue('carrier', { san: ['DNS:sbc.carrier.example'] });
    stranger = pki.issue('stranger', { san: ['DNS:sbc.stranger.example'] });
    tlsPort = await freePort();
    const snapshot = makeSnapshot(
      gatewayFileSchema.parse({
        listen: [
          { transport: 'udp', host: '127.0.0.1', port: await freePort() },
          {
            transport: 'tls',
            host: '127.0.0.1',
            port: tlsPort,
            tls: { certFile: 'gw.crt', keyFile: 'gw.key', caFile: 'ca.crt', requireClientCert: true },
          },
        ],
        api: { host: '127.0.0.1', port: await freePort() },
        routes: [{ match: '*', target: { url: 'builtin:echo' } }],
      }),
      [
        trunkSchema.parse({
          name: 'carrier',
          inbound: { allowedCidrs: ['127.0.0.0/8'], transports: ['tls'], unknownSourceAction: 403 },
          outbound: { gateways: [{ host: 'sbc.carrier.example', port: 5061, transport: 'tls' }] },
          probing: { enabled: false },
        }),
      ],
      [],
      [],
      new Map([
        ['gw.crt', leaf.cert],
        ['gw.key', leaf.key],
        ['ca.crt', pki.ca.cert],
      ]),
    );
    gateway = await startGateway(snapshot, new FakeClock());
  });

  after(async () => {
    await closeAll();
    await gateway?.stop();
    pki?.close();
  });

  /** Sends an INVITE over `socket`; resolves with the status line of its first final response. */
  function invite(socket: TLSSocket, callId: string): Promise<string> {
    const text = inviteText({
      requestUri: `sip:+15550100@127.0.0.1:${tlsPort};transport=tls`,
      transport: 'TLS',
      local: `${socket.localAddress}:${socket.localPort}`,
      callId,
    });
    return new Promise((resolve) => {
      let received = '';
      const onData = (chunk: Buffer): void => {
        received += chunk.toString('latin1');
        const final = /^SIP\/2\.0 [2-6]\d\d [^\r]*/m.exec(received);
        if (!final) return;
        socket.off('data', onData);
        resolve(final[0]);
      };
      socket.on('data', onData);
      socket.write(text);
    });
  }

  it("refuses a client whose certificate chains to the CA but names none of the trunk's hosts", async () => {
    const socket = await rawTlsClient(tlsPort, { ca: pki.ca.cert, cert: stranger.cert, key: stranger.key });
    assert.match(await invite(socket, 'stranger-1'), /^SIP\/2\.0 403 /);
  });

  it("takes a call from a client whose certificate names the trunk's gateway host", {
    timeout: 10_000,
  }, async () => {
    const socket = await rawTlsClient(tlsPort, { ca: pki.ca.cert, cert: carrier.cert, key: carrier.key });
    assert.match(await invite(socket, 'carrier-1'), /^SIP\/2\.0 200 /);
  });
});
