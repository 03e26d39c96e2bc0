/**
 * A registration trunk over TLS against a real Kamailio registrar (fixtures/kamailio/registrar.cfg
 * with WITH_TLS): a real `patchbay start` registers over TLS, checking Kamailio's certificate
 * against the trunk's `tlsCaFile` and the registrar's address; a SIPp caller's INVITE to the
 * address-of-record is relayed by Kamailio over TLS to our Contact (`;transport=tls`) and
 * answered by the test bot. With a CA that did not sign Kamailio's certificate, no REGISTER is
 * sent: the handshake fails and is counted. Behind a NAT (the gateway advertises 127.0.0.5,
 * where nothing listens), the binding moves to the public end of our TLS connection and the
 * call comes over it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { skipUnlessPresent } from '../helpers/peers.js';
import { opensslAvailable, type PemPair, TestPki } from '../helpers/test-pki.js';
import { type GatewayProcess, startGatewayProcess } from './helpers/gateway-process.js';
import {
  callThroughKamailio,
  type KamailioHandle,
  skipWithoutKamailioTls,
  startKamailio,
} from './helpers/kamailio.js';
import { freePort, skipWithoutSipp } from './helpers/sipp.js';
import { TestBot } from './helpers/test-bot.js';
import { waitFor } from './helpers/wait-for.js';

const skip =
  skipWithoutSipp() || skipWithoutKamailioTls() || skipUnlessPresent(opensslAvailable, 'needs openssl');
const FIXTURES = join(import.meta.dirname, '../../../fixtures');
const REGISTRAR_CFG = join(FIXTURES, 'kamailio/registrar.cfg');
const AOR_USER = 'trunk-user';

const trunkYaml = (tlsPort: number, caFile: string): string =>
  [
    'name: kamailio',
    'outbound:',
    `  gateways: [{ host: 127.0.0.1, port: ${tlsPort}, transport: tls, tlsCaFile: "${caFile}" }]`,
    '  register:',
    `    registrar: "127.0.0.1:${tlsPort}"`,
    `    username: ${AOR_USER}`,
    '    password: s3cret',
    '    realm: 127.0.0.1', // Kamailio challenges for the To domain
    '    expires: 60',
    '    transport: tls',
    `    tlsCaFile: "${caFile}"`,
    'probing: { enabled: false }',
    '',
  ].join('\n');

async function metric(gateway: GatewayProcess, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${gateway.apiUrl}/metrics`)).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

const attempts = (gateway: GatewayProcess, result: string) =>
  metric(
    gateway,
    new RegExp(`^patchbay_registrations_total\\{trunk="kamailio",result="${result}"\\} (\\d+)`, 'm'),
  );

describe('a registration trunk over TLS, against Kamailio', { skip }, () => {
  let pki: TestPki;
  let otherCa: TestPki;
  let kamailio: KamailioHandle;
  let kamailioTlsPort: number;
  let ours: PemPair;
  let bot: TestBot;

  before(async () => {
    pki = TestPki.create();
    otherCa = TestPki.create();
    const registrar = pki.issue('kamailio', { san: ['IP:127.0.0.1'] });
    ours = pki.issue('patchbay', { san: ['DNS:localhost', 'IP:127.0.0.1'] });
    kamailioTlsPort = await freePort();
    const tls = { port: kamailioTlsPort, certFile: registrar.certFile, keyFile: registrar.keyFile };
    kamailio = await startKamailio(REGISTRAR_CFG, await freePort(), tls);
    bot = await TestBot.start();
  });

  after(async () => {
    await bot?.close();
    await kamailio?.stop();
    pki?.close();
    otherCa?.close();
  });

  /**
   * A gateway with a TLS listener whose trunk registers at Kamailio trusting `caFile`, with
   * `extraGatewayYaml` in its gateway file; stopped after `body`.
   */
  async function withGateway(
    caFile: string,
    body: (gateway: GatewayProcess) => Promise<void>,
    extraGatewayYaml?: string,
  ): Promise<void> {
    const gateway = await startGatewayProcess({
      botUrl: bot.url,
      tls: { certFile: ours.certFile, keyFile: ours.keyFile },
      trunks: { kamailio: trunkYaml(kamailioTlsPort, caFile) },
      ...(extraGatewayYaml ? { extraGatewayYaml } : {}),
    });
    try {
      await body(gateway);
    } finally {
      await gateway.stop();
    }
  }

  const registers = () => kamailio.logs().match(/REGISTER sip:trunk-user@/g)?.length ?? 0;

  it('registers over TLS, and a call relayed over TLS to its Contact is answered', {
    timeout: 40_000,
  }, async () => {
    await withGateway(pki.ca.certFile, async (gateway) => {
      const context = () =>
        `${gateway.logs().slice(-3000)}\n--- kamailio ---\n${kamailio.logs().slice(-3000)}`;
      await waitFor(async () => (await attempts(gateway, 'registered')) >= 1, 'registered', 15_000);
      assert.match(
        kamailio.logs(),
        /REGISTER sip:trunk-user@127\.0\.0\.1 from 127\.0\.0\.1:\d+ over tls: saved/,
      );

      const call = await callThroughKamailio(kamailio, AOR_USER);
      assert.equal(call.successfulCalls, 1, `${call.errors}\n${context()}`);
      const relayed = `relayed to sip:pb-[0-9a-f]{24}@127\\.0\\.0\\.1:${gateway.tlsPort};transport=tls`;
      assert.match(kamailio.logs(), new RegExp(`INVITE for sip:trunk-user@.* ${relayed}`));
      assert.equal(bot.calls.length, 1, 'the call reached the bot');
      const [record] = await gateway.recordsWhen((records) => records.length === 1);
      assert.equal(record?.['trunk'], 'kamailio', context());

      await gateway.stop();
      assert.match(kamailio.logs(), /REGISTER sip:trunk-user@127\.0\.0\.1 .* over tls: saved, Expires 0/);
    });
  });

  it('behind a NAT: the binding moves to the public end of our TLS connection, and the call comes over it', {
    timeout: 40_000,
  }, async () => {
    const callsBefore = bot.calls.length;
    // Kamailio serves every test here: only what it logs from now on is this gateway's.
    const logsFrom = kamailio.logs().length;
    const logs = () => kamailio.logs().slice(logsFrom);
    await withGateway(
      pki.ca.certFile,
      async (gateway) => {
        const context = () =>
          `${gateway.logs().slice(-3000)}\n--- kamailio ---\n${kamailio.logs().slice(-3000)}`;
        const publicEnd = /saved, Expires 60, Contact <sip:pb-[0-9a-f]{24}@127\.0\.0\.1:(\d+);transport=tls>/;
        await waitFor(async () => publicEnd.test(logs()), 'the binding moved', 15_000);
        const port = Number(publicEnd.exec(logs())?.[1]);
        assert.notEqual(port, gateway.tlsPort, 'the connection, not our TLS listener');

        const call = await callThroughKamailio(kamailio, AOR_USER);
        assert.equal(call.successfulCalls, 1, `${call.errors}\n${context()}`);
        const relayed = `relayed to sip:pb-[0-9a-f]{24}@127\\.0\\.0\\.1:${port};transport=tls`;
        assert.match(logs(), new RegExp(`INVITE for sip:trunk-user@.* ${relayed}`));
        assert.equal(bot.calls.length, callsBefore + 1, 'the call reached the bot');
        const [record] = await gateway.recordsWhen((records) => records.length === 1);
        assert.equal((record?.['end'] as { cause?: string } | undefined)?.cause, 'caller_bye', context());
      },
      'publicAddress: 127.0.0.5',
    );
  });

  it('sends no REGISTER to a registrar whose certificate its tlsCaFile did not sign', {
    timeout: 30_000,
  }, async () => {
    const registersBefore = registers();
    await withGateway(otherCa.ca.certFile, async (gateway) => {
      const refused =
        /^patchbay_sip_tls_handshake_failures_total\{reason="certificate",direction="outbound"\} (\d+)/m;
      await waitFor(async () => (await metric(gateway, refused)) >= 1, 'a refused handshake', 15_000);
      assert.ok((await attempts(gateway, 'transport_error')) >= 1, gateway.logs().slice(-3000));
      assert.equal(await attempts(gateway, 'registered'), 0);
      assert.equal(registers(), registersBefore, 'Kamailio saw no REGISTER');
    });
  });
});
