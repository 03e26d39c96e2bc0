/**
 * A registrar named by DNS without a port, located by SRV (RFC 3263) through a real dnsmasq:
 * `_sip._tcp.registrar.test` names a dead server at priority 10 and a real Kamailio
 * (fixtures/kamailio/registrar.cfg) at priority 20. A real `patchbay start` sends its first
 * REGISTER to the dead one (refused: a transport error), and after its backoff registers at
 * Kamailio, the Request-URI and address-of-record naming the domain.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DnsmasqHandle, skipWithoutDnsmasq, startDnsmasq } from './helpers/dnsmasq.js';
import { type GatewayProcess, startGatewayProcess } from './helpers/gateway-process.js';
import { type KamailioHandle, skipWithoutKamailio, startKamailio } from './helpers/kamailio.js';
import { REGISTRAR_CFG, registrationAttempts } from './helpers/registrar.js';
import { freePort } from './helpers/sipp.js';
import { waitFor } from './helpers/wait-for.js';

const skip = skipWithoutKamailio() || skipWithoutDnsmasq();
const attempts = (gateway: GatewayProcess, result: string) => registrationAttempts(gateway, 'srv', result);

test('a registrar named by DNS is located by SRV, and the next server is tried after one that failed', {
  skip,
  timeout: 40_000,
}, async () => {
  const [dnsPort, deadPort, kamailioPort] = [await freePort(), await freePort(), await freePort()];
  let dns: DnsmasqHandle | undefined;
  let kamailio: KamailioHandle | undefined;
  let gateway: GatewayProcess | undefined;
  try {
    kamailio = await startKamailio(REGISTRAR_CFG, kamailioPort);
    dns = await startDnsmasq(dnsPort, {
      srv: [
        `_sip._tcp.registrar.test,dead.registrar.test,${deadPort},10,1`,
        `_sip._tcp.registrar.test,live.registrar.test,${kamailioPort},20,1`,
      ],
      hosts: ['dead.registrar.test,127.0.0.1,1', 'live.registrar.test,127.0.0.1,1'],
    });
    gateway = await startGatewayProcess({
      botUrl: 'builtin:echo',
      extraGatewayYaml: ['dns:', `  servers: ["${dns.server}"]`, '  timeoutMs: 500', '  tries: 1'].join('\n'),
      trunks: {
        srv: [
          'name: srv',
          'outbound:',
          `  gateways: [{ host: 127.0.0.1, port: ${kamailioPort}, transport: tcp }]`,
          '  register:',
          '    registrar: registrar.test',
          '    username: trunk-user',
          '    password: s3cret',
          '    expires: 60',
          '    transport: tcp',
          'probing: { enabled: false }',
          '',
        ].join('\n'),
      },
    });
    const running = gateway;
    const context = () =>
      `${running.logs().slice(-3000)}\n--- kamailio ---\n${kamailio?.logs().slice(-2000)}`;
    await waitFor(
      async () => (await attempts(running, 'registered')) >= 1,
      `registered\n${context()}`,
      15_000,
    );
    assert.ok((await attempts(running, 'transport_error')) >= 1, 'the dead server was tried first');
    assert.match(
      kamailio.logs(),
      /REGISTER sip:trunk-user@registrar\.test from 127\.0\.0\.1:\d+ over tcp: saved/,
      'the address-of-record names the domain',
    );
  } finally {
    await gateway?.stop();
    await kamailio?.stop();
    await dns?.stop();
  }
});
