/**
 * A registration over UDP through a NAT, against a real Kamailio registrar
 * (fixtures/kamailio/registrar.cfg). The gateway advertises `publicAddress: 127.0.0.5`, where
 * nothing answers, while it sends from 127.0.0.1, as a host behind a NAT would. Kamailio's 200
 * says so in the top Via (RFC 3581 `received`, `rport`): patchbay moves its binding at once to a
 * Contact at 127.0.0.1 (removing the one at 127.0.0.5 in the same REGISTER), shows that address
 * in `GET /v1/trunks`, sends Kamailio a CRLF keep-alive every `keepAliveSec` (seen by tshark),
 * and a SIPp call to the address-of-record through Kamailio reaches it there, is answered with
 * a Contact at that address too, and ends with SIPp's BYE, which comes back the same way.
 *
 * The same over TCP: the REGISTER's connection comes from an ephemeral port of 127.0.0.1, so the
 * binding moves to that public end of the connection (`;transport=tcp`), which nothing listens
 * on either; Kamailio reuses the connection by its address and port, so the call and its BYE
 * come over the connection we opened, as through a NAT that lets no connection in.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { type GatewayProcess, startGatewayProcess } from './helpers/gateway-process.js';
import {
  callThroughKamailio,
  type KamailioHandle,
  skipWithoutKamailio,
  startKamailio,
} from './helpers/kamailio.js';
import { freePort, skipWithoutSipp } from './helpers/sipp.js';
import { TestBot } from './helpers/test-bot.js';
import { captureLoopback } from './helpers/tshark.js';
import { waitFor } from './helpers/wait-for.js';

const skip =
  skipWithoutSipp() ||
  skipWithoutKamailio() ||
  skipUnlessPresent(commandAvailable('tshark', ['-v']), 'needs tshark');
const FIXTURES = join(import.meta.dirname, '../../../fixtures');
const REGISTRAR_CFG = join(FIXTURES, 'kamailio/registrar.cfg');
const AOR_USER = 'trunk-user';
/** Where the gateway says it is: a loopback address nothing listens on, as a private address behind a NAT. */
const ADVERTISED = '127.0.0.5';

const trunkYaml = (kamailioPort: number, transport: 'udp' | 'tcp' = 'udp'): string =>
  [
    'name: natted',
    'outbound:',
    `  gateways: [{ host: 127.0.0.1, port: ${kamailioPort}, transport: ${transport} }]`,
    '  register:',
    `    registrar: "127.0.0.1:${kamailioPort}"`,
    `    username: ${AOR_USER}`,
    '    password: s3cret',
    '    realm: 127.0.0.1',
    '    expires: 60',
    '    keepAliveSec: 1',
    `    transport: ${transport}`,
    'probing: { enabled: false }',
    '',
  ].join('\n');

async function registration(gateway: GatewayProcess) {
  const body = (await (await fetch(`${gateway.apiUrl}/v1/trunks`)).json()) as {
    registrations: Array<{ trunk: string; state: string; publicAddress?: string }>;
  };
  return body.registrations.find((entry) => entry.trunk === 'natted');
}

test('behind a NAT over UDP: the binding moves to the address the registrar sees, kept open, and calls reach it', {
  skip,
  timeout: 60_000,
}, async () => {
  const kamailioPort = await freePort();
  const kamailio: KamailioHandle = await startKamailio(REGISTRAR_CFG, kamailioPort);
  const bot = await TestBot.start();
  // CRLF CRLF datagrams to Kamailio: a UDP length of 8 + 4.
  const keepAlives = captureLoopback(`udp and dst port ${kamailioPort} and udp[4:2] = 12`, ['udp.srcport']);
  let gateway: GatewayProcess | undefined;
  try {
    await keepAlives.ready;
    gateway = await startGatewayProcess({
      botUrl: bot.url,
      trunks: { natted: trunkYaml(kamailioPort) },
      extraGatewayYaml: `publicAddress: ${ADVERTISED}`,
    });
    const running = gateway;
    const context = () => `${running.logs().slice(-3000)}\n--- kamailio ---\n${kamailio.logs().slice(-3000)}`;
    const ours = `127.0.0.1:${running.sipPort}`;

    await waitFor(
      async () => (await registration(running))?.publicAddress === ours,
      'the binding moved to the address Kamailio saw',
      15_000,
    );
    assert.equal((await registration(running))?.state, 'registered', context());
    // The first binding named the advertised address; the move named ours first and removed it.
    assert.match(
      kamailio.logs(),
      new RegExp(`saved, Expires 60, Contact <sip:pb-[0-9a-f]{24}@${ADVERTISED.replaceAll('.', '\\.')}:`),
    );
    assert.match(
      kamailio.logs(),
      new RegExp(`saved, Expires 60, Contact <sip:pb-[0-9a-f]{24}@127\\.0\\.0\\.1:${running.sipPort}>`),
    );
    assert.match(running.logs(), /registrar sees us behind a NAT; Contact moved/);

    const call = await callThroughKamailio(kamailio, AOR_USER);
    assert.equal(call.successfulCalls, 1, `${call.errors}\n${context()}`);
    assert.match(
      kamailio.logs(),
      new RegExp(
        `INVITE for sip:trunk-user@.* relayed to sip:pb-[0-9a-f]{24}@127\\.0\\.0\\.1:${running.sipPort}`,
      ),
    );
    assert.equal(bot.calls.length, 1, 'the call reached the bot');
    // Our 200 OK named the address Kamailio saw too: SIPp's BYE came back through Kamailio.
    await waitFor(async () => running.records().length === 1, 'the call record', 10_000);
    assert.equal(
      (running.records()[0]?.['end'] as { cause?: string } | undefined)?.cause,
      'caller_bye',
      context(),
    );

    // Keep-alives from the gateway's SIP port, about one a second.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const seen = (await keepAlives.stop()).filter(([source]) => source === String(running.sipPort));
    assert.ok(seen.length >= 2, `${seen.length} keep-alives to Kamailio\n${context()}`);
  } finally {
    await keepAlives.stop().catch(() => undefined);
    await gateway?.stop();
    await kamailio.stop();
    await bot.close();
  }
});

test('behind a NAT over TCP: the binding moves to the public end of our connection, and calls come over it', {
  skip,
  timeout: 60_000,
}, async () => {
  const kamailioPort = await freePort();
  const kamailio: KamailioHandle = await startKamailio(REGISTRAR_CFG, kamailioPort);
  const bot = await TestBot.start();
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess({
      botUrl: bot.url,
      trunks: { natted: trunkYaml(kamailioPort, 'tcp') },
      extraGatewayYaml: `publicAddress: ${ADVERTISED}`,
    });
    const running = gateway;
    const context = () => `${running.logs().slice(-3000)}\n--- kamailio ---\n${kamailio.logs().slice(-3000)}`;

    await waitFor(
      async () => (await registration(running))?.publicAddress?.startsWith('127.0.0.1:') ?? false,
      'the binding moved to the public end of the connection',
      15_000,
    );
    const publicPort = Number((await registration(running))?.publicAddress?.split(':')[1]);
    assert.notEqual(publicPort, running.sipPort, 'the connection, not our listening port');
    assert.match(
      kamailio.logs(),
      new RegExp(
        `saved, Expires 60, Contact <sip:pb-[0-9a-f]{24}@127\\.0\\.0\\.1:${publicPort};transport=tcp>`,
      ),
      context(),
    );

    const call = await callThroughKamailio(kamailio, AOR_USER);
    assert.equal(call.successfulCalls, 1, `${call.errors}\n${context()}`);
    assert.match(
      kamailio.logs(),
      new RegExp(
        `INVITE for sip:trunk-user@.* relayed to sip:pb-[0-9a-f]{24}@127\\.0\\.0\\.1:${publicPort};transport=tcp`,
      ),
    );
    assert.equal(bot.calls.length, 1, 'the call reached the bot');
    await waitFor(async () => running.records().length === 1, 'the call record', 10_000);
    assert.equal(
      (running.records()[0]?.['end'] as { cause?: string } | undefined)?.cause,
      'caller_bye',
      context(),
    );
  } finally {
    await gateway?.stop();
    await kamailio.stop();
    await bot.close();
  }
});
