/**
 * A registration trunk against a real Kamailio registrar (fixtures/kamailio/registrar.cfg:
 * digest against a static password, bindings in memory, Min-Expires 4 s answered with 423):
 * a real `patchbay start` registers over TCP asking for 2 s, retries with the 4 s of the 423
 * and refreshes every 2 s; Kamailio is stopped and started again (its bindings are gone), and
 * patchbay's refreshes fail with a growing backoff until it is registered again; then a SIPp
 * caller sends an INVITE to the registered address-of-record through Kamailio
 * (lookup("location"), t_relay), which reaches patchbay on our Contact and is answered by the
 * test bot as the registration trunk's call, though its source also matches another trunk.
 * Stopping patchbay removes the binding.
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
const FIXTURES = join(import.meta.dirname, '../../../fixtures');
const REGISTRAR_CFG = join(FIXTURES, 'kamailio/registrar.cfg');
const AOR_USER = 'trunk-user';

const trunkYaml = (kamailioPort: number): string =>
  [
    'name: kamailio',
    'trustPai: true',
    'outbound:',
    `  gateways: [{ host: 127.0.0.1, port: ${kamailioPort}, transport: tcp }]`,
    '  register:',
    `    registrar: "127.0.0.1:${kamailioPort}"`,
    `    username: ${AOR_USER}`,
    '    password: s3cret',
    '    realm: 127.0.0.1', // Kamailio challenges for the To domain
    '    expires: 2',
    '    transport: tcp',
    'probing: { enabled: false }',
    '',
  ].join('\n');

interface Registration {
  trunk: string;
  state: string;
  failures: number;
  expiresSec?: number;
}

async function registration(gateway: GatewayProcess): Promise<Registration | undefined> {
  const body = (await (await fetch(`${gateway.apiUrl}/v1/trunks`)).json()) as {
    registrations: Registration[];
  };
  return body.registrations.find((entry) => entry.trunk === 'kamailio');
}

/** `patchbay_registrations_total{trunk="kamailio",result}`. */
async function attempts(gateway: GatewayProcess, result: string): Promise<number> {
  const text = await (await fetch(`${gateway.apiUrl}/metrics`)).text();
  const line = new RegExp(
    `^patchbay_registrations_total\\{trunk="kamailio",result="${result}"\\} (\\d+)`,
    'm',
  );
  return Number(line.exec(text)?.[1] ?? 0);
}

/** How long each logged registration failure said it would wait before the next attempt. */
function retryDelaysMs(logs: string): number[] {
  return logs
    .split('\n')
    .filter((line) => line.includes('"trunk registration failed"'))
    .map((line) => JSON.parse(line) as { time: number; retryAt: string })
    .map((entry) => Date.parse(entry.retryAt) - entry.time);
}

test('registers at Kamailio (423, digest), refreshes, re-registers after a restart with backoff, and takes a call on its Contact', {
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

    // First registration (after a 401 and a 423) and two refreshes, 2 s apart.
    await waitFor(
      async () => (await attempts(running, 'registered')) >= 3,
      'registered and refreshed twice',
      15_000,
    );
    const registered = await registration(running);
    assert.equal(registered?.state, 'registered', context());
    assert.equal(registered?.expiresSec, 4, 'asked for 2 s, retried with the Min-Expires of the 423');
    assert.match(kamailio.logs(), /REGISTER sip:trunk-user@127\.0\.0\.1 .*: saved, Expires 4/);
    assert.match(kamailio.logs(), /challenged/, 'Kamailio challenged the REGISTER');

    // Kamailio goes away with our binding; refreshes fail and back off; it comes back.
    await kamailio.stop();
    kamailio = undefined;
    await waitFor(
      async () => (await attempts(running, 'transport_error')) >= 2,
      'two failed attempts',
      10_000,
    );
    kamailio = await startKamailio(REGISTRAR_CFG, kamailioPort);
    const before = await attempts(running, 'registered');
    await waitFor(async () => (await attempts(running, 'registered')) > before, 'registered again', 10_000);
    const delays = retryDelaysMs(running.logs());
    assert.ok(delays.length >= 2, context());
    assert.ok(
      delays.every((delayMs, index) => index === 0 || delayMs > (delays[index - 1] ?? 0)),
      `each retry waits longer than the one before: ${delays.join(', ')} ms`,
    );
    assert.equal((await registration(running))?.state, 'registered');

    // A caller reaches the registered address-of-record through Kamailio.
    const call = await callThroughKamailio(kamailio, AOR_USER);
    assert.equal(call.successfulCalls, 1, `${call.errors}\n${context()}`);
    assert.match(
      kamailio.logs(),
      /INVITE for sip:trunk-user@.* relayed to sip:pb-[0-9a-f]{24}@127\.0\.0\.1:/,
    );
    assert.equal(bot.calls.length, 1, 'the call reached the bot');
    // The caller's identity headers in the bot's start (the trunk is trusted with PAI).
    const {
      sipFrom,
      sipPAssertedIdentity,
      sipPrivacy,
      test: routeParameter,
    } = bot.calls[0]?.customParameters ?? {};
    assert.match(sipFrom ?? '', /^"sipp" <sip:sipp@127\.0\.0\.1:\d+>$/);
    assert.equal(sipPAssertedIdentity, '<sip:+15551230000@127.0.0.1;user=phone>');
    assert.equal(sipPrivacy, 'none');
    assert.equal(routeParameter, 'e2e', "the route's own parameters are still there");
    await waitFor(async () => running.records().length === 1, 'the call record', 5000);
    const { trunk, to } = running.records()[0] ?? {};
    assert.equal(trunk, 'kamailio', "the registration trunk's call, not the loopback trunk's");
    assert.equal(to, AOR_USER, 'the called number is the To user');

    // Stopping removes the binding (REGISTER with Expires: 0).
    await running.stop();
    assert.match(kamailio.logs(), /REGISTER sip:trunk-user@127\.0\.0\.1 .*: saved, Expires 0/);
  } finally {
    await gateway?.stop();
    await kamailio?.stop();
    await bot.close();
  }
});
