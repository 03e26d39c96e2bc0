/**
 * Inbound digest authentication against a real `patchbay start` (a trunk's
 * optional digest auth): a trunk that demands credentials answers SIPp's first INVITE with 401
 * (RFC 3261 §22.2, the trunk's `algorithms` offered, RFC 8760 §2.4); SIPp answers the challenge
 * with its own MD5 digest and the call reaches the bot. Wrong credentials get 403 and no bot call.
 * Outbound, two SIPp carriers challenge our INVITE (fixtures/sipp/carrier_digest.xml): the one
 * whose realm is not the trunk's `outbound.auth.realm` gets no credentials (its 401 fails the
 * attempt over), the other checks our answer and connects the call. A third answers our
 * credentials with a second 401 saying stale=true (fixtures/sipp/carrier_digest_stale.xml): we
 * answer it again with its new nonce and the call connects (RFC 7616 §3.3).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  answeredCallAttempts,
  callGateway,
  type GatewayProcess,
  startGatewayProcess,
} from './helpers/gateway-process.js';
import { freePort, type SippHandle, skipWithoutSipp, startSipp } from './helpers/sipp.js';
import { TestBot } from './helpers/test-bot.js';

const skip = skipWithoutSipp();
const UAC_DIGEST = join(import.meta.dirname, '../../../fixtures/sipp/uac_digest.xml');
const CARRIER_DIGEST = join(import.meta.dirname, '../../../fixtures/sipp/carrier_digest.xml');
const CARRIER_DIGEST_STALE = join(import.meta.dirname, '../../../fixtures/sipp/carrier_digest_stale.xml');

test('a trunk with digest auth: SIPp answers the 401 and is connected; a wrong password gets 403', {
  skip,
  timeout: 60_000,
}, async () => {
  const bot = await TestBot.start();
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess({
      botUrl: bot.url,
      // SIPp 3.6 answers only the first challenge and knows only MD5.
      inboundAuth: { username: 'carrier-a', password: 's3cret', algorithms: ['MD5'] },
    });
    const target = gateway;
    const call = async (password: string) =>
      (
        await callGateway(target, {
          scenario: UAC_DIGEST,
          calls: 1,
          timeoutMs: 20_000,
          extraArgs: ['-au', 'carrier-a', '-ap', password, '-d', '1000'],
          to: '15551230000',
        })
      ).result;

    const good = await call('s3cret');
    assert.equal(good.successfulCalls, 1, `${good.errors}\n${gateway.logs().slice(-3000)}`);
    assert.equal(bot.calls.length, 1, 'the authenticated call reached the bot');

    const bad = await call('wrong');
    assert.equal(bad.successfulCalls, 0);
    assert.match(bad.errors, /403/, 'the second INVITE with wrong credentials got 403');
    assert.equal(bot.calls.length, 1, 'no bot call for the refused caller');
  } finally {
    await gateway?.stop();
    await bot.close();
  }
});

/** A SIPp carrier on `port` challenging INVITEs with `scenario` for `realm`. */
function digestCarrier(scenario: string, port: number, realm: string): SippHandle {
  return startSipp({
    scenario,
    localPort: port,
    calls: 1,
    timeoutMs: 40_000,
    extraArgs: ['-key', 'realm', realm],
  });
}

/**
 * A gateway whose trunk `carrier` dials `gateways` (name and port, in priority order) with our
 * credentials for carrier.example; one call placed through it, hung up once the bot has it.
 * Returns each attempt's gateway and outcome, from the call record.
 */
async function dialThroughTrunk(
  bot: TestBot,
  gateways: Array<[name: string, port: number]>,
  extra: string[] = [],
): Promise<string[][]> {
  const gateway = await startGatewayProcess({
    botUrl: bot.url,
    trunks: {
      carrier: [
        'name: carrier',
        'outbound:',
        '  gateways:',
        ...gateways.map(
          ([name, port], index) =>
            `    - { name: ${name}, host: 127.0.0.1, port: ${port}, priority: ${index + 1} }`,
        ),
        '  auth: { username: patchbay, password: s3cret, realm: carrier.example }',
        ...extra,
        'codecs: [PCMU]',
        'probing: { enabled: false }',
        '',
      ].join('\n'),
    },
  });
  try {
    return await answeredCallAttempts(gateway, 'carrier', bot);
  } finally {
    await gateway.stop();
  }
}

test('outbound digest: only the challenge for outbound.auth.realm is answered', {
  skip,
  timeout: 60_000,
}, async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  const elsewhere = digestCarrier(CARRIER_DIGEST, portA, 'elsewhere.example');
  const sbc = digestCarrier(CARRIER_DIGEST, portB, 'carrier.example');
  const bot = await TestBot.start();
  try {
    const gateways: Array<[string, number]> = [
      ['elsewhere', portA],
      ['sbc', portB],
    ];
    const attempts = await dialThroughTrunk(bot, gateways, ['  failoverCodes: [401, 503]']);
    const [other, answered] = [await elsewhere.result, await sbc.result];
    assert.equal(answered.successfulCalls, 1, answered.errors);
    // Its wait for an INVITE with credentials ran out (SIPp counts the jump as a failed call).
    assert.match(other.errors, /receive timeout/, 'the other realm saw no INVITE with credentials');
    assert.deepEqual(attempts, [
      ['carrier/elsewhere', '401'],
      ['carrier/sbc', '200'],
    ]);
  } finally {
    await elsewhere.stop();
    await sbc.stop();
    await bot.close();
  }
});

test('outbound digest: a second 401 with stale=true is answered with its new nonce and the call connects', {
  skip,
  timeout: 60_000,
}, async () => {
  const port = await freePort();
  const sbc = digestCarrier(CARRIER_DIGEST_STALE, port, 'carrier.example');
  const bot = await TestBot.start();
  try {
    const attempts = await dialThroughTrunk(bot, [['sbc', port]]);
    const answered = await sbc.result;
    assert.equal(answered.successfulCalls, 1, answered.errors);
    assert.deepEqual(attempts, [['carrier/sbc', '200']]);
  } finally {
    await sbc.stop();
    await bot.close();
  }
});
