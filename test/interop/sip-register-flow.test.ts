/**
 * A registration over TCP whose connection closes, against a real Kamailio registrar
 * (fixtures/kamailio/registrar.cfg: bindings in memory, lost on restart). A real
 * `patchbay start` registers for 60 s, so its own refresh is 30 s away; Kamailio is restarted,
 * which closes the connection our REGISTER went over and forgets our binding. patchbay
 * registers again over a new connection within seconds (RFC 5626 §4.4.1's flow failure,
 * src/sip/registration-flow.ts), and a SIPp caller reaches the trunk through Kamailio long
 * before the refresh would have come. Without that, Kamailio answers such a call 404 until then.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { type GatewayProcess, startGatewayProcess } from './helpers/gateway-process.js';
import {
  callThroughKamailio,
  type KamailioHandle,
  skipWithoutKamailio,
  startKamailio,
} from './helpers/kamailio.js';
import { freePort, skipWithoutSipp } from './helpers/sipp.js';
import { TestBot } from './helpers/test-bot.js';
import { waitFor } from './helpers/wait-for.js';

const skip = skipWithoutSipp() || skipWithoutKamailio();
const REGISTRAR_CFG = join(import.meta.dirname, '../../../fixtures/kamailio/registrar.cfg');
const AOR_USER = 'trunk-user';
/** Our own refresh comes at half the 60 s granted: the test is over well before. */
const EXPIRES_SEC = 60;

const trunkYaml = (kamailioPort: number): string =>
  [
    'name: kamailio',
    'outbound:',
    `  gateways: [{ host: 127.0.0.1, port: ${kamailioPort}, transport: tcp }]`,
    '  register:',
    `    registrar: "127.0.0.1:${kamailioPort}"`,
    `    username: ${AOR_USER}`,
    '    password: s3cret',
    '    realm: 127.0.0.1',
    `    expires: ${EXPIRES_SEC}`,
    '    transport: tcp',
    'probing: { enabled: false }',
    '',
  ].join('\n');

/** Bindings Kamailio logged as saved with this interval. */
function saves(kamailio: KamailioHandle): number {
  return kamailio.logs().split(`: saved, Expires ${EXPIRES_SEC}`).length - 1;
}

test('a registrar restart closes our TCP connection: registered again within seconds, and its calls come through', {
  skip,
  timeout: 60_000,
}, async () => {
  const kamailioPort = await freePort();
  let kamailio: KamailioHandle | undefined = await startKamailio(REGISTRAR_CFG, kamailioPort);
  const bot = await TestBot.start();
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess({ botUrl: bot.url, trunks: { kamailio: trunkYaml(kamailioPort) } });
    const running = gateway;
    const context = () =>
      `${running.logs().slice(-3000)}\n--- kamailio ---\n${kamailio?.logs().slice(-3000)}`;
    const first = kamailio;
    await waitFor(async () => saves(first) >= 1, 'registered for 60 s', 10_000);

    await kamailio.stop();
    kamailio = undefined;
    const restartedAt = Date.now();
    kamailio = await startKamailio(REGISTRAR_CFG, kamailioPort);
    const second = kamailio;
    await waitFor(async () => saves(second) >= 1, 'registered again after the restart', 15_000);
    const afterMs = Date.now() - restartedAt;
    assert.ok(afterMs < 15_000, `registered again ${afterMs} ms after the restart, not at the 30 s refresh`);
    assert.match(
      running.logs(),
      /connection to the registrar closed; binding refreshed over a new one/,
      context(),
    );

    const call = await callThroughKamailio(kamailio, AOR_USER);
    assert.equal(call.successfulCalls, 1, `${call.errors}\n${context()}`);
    assert.equal(bot.calls.length, 1, 'the call reached the bot');
    assert.ok(Date.now() - restartedAt < EXPIRES_SEC * 500, 'before our own refresh would have come');
  } finally {
    await gateway?.stop();
    await kamailio?.stop();
    await bot.close();
  }
});
