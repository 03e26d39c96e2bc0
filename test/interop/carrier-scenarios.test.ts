/**
 * Outbound calls against a real `patchbay start`, to SIPp carriers with scripted behaviour
 * (fixtures/sipp), each call answered, streamed to the bot, held and ended with our BYE (whose
 * Reason SIPp checks):
 * - carrier_100rel.xml answers our first INVITE 421 requiring 100rel, so we retry it supporting
 *   100rel (RFC 3262); it then answers our offer in a reliable 183, which we PRACK (RAck checked
 *   by SIPp), and sends its 200 without SDP: the call runs on the 183's answer;
 * - carrier_early_update.xml then offers anew in an UPDATE of the early dialog (RFC 3311 §5.2),
 *   which we answer in the trunk's codec before its 200 answers the call;
 * - carrier_redirect.xml answers 302 naming another number on another host (RFC 3261
 *   §8.1.3.4): we follow it to that number, through the same gateway.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { answeredCallAttempts, startGatewayProcess } from './helpers/gateway-process.js';
import { freePort, skipWithoutSipp, startSipp } from './helpers/sipp.js';
import { TestBot } from './helpers/test-bot.js';

const skip = skipWithoutSipp();
const scenario = (name: string) => join(import.meta.dirname, '../../../fixtures/sipp', name);

/** One call to a SIPp carrier running `scenario`, answered, held 2 s and hung up by us. */
async function callCarrier(scenarioFile: string): Promise<void> {
  const port = await freePort();
  const carrier = startSipp({ scenario: scenarioFile, localPort: port, calls: 1, timeoutMs: 40_000 });
  const bot = await TestBot.start();
  try {
    const gateway = await startGatewayProcess({
      botUrl: bot.url,
      trunks: {
        carrier: [
          'name: carrier',
          'outbound:',
          '  gateways:',
          `    - { name: sbc, host: 127.0.0.1, port: ${port} }`,
          'codecs: [PCMU]',
          'probing: { enabled: false }',
          '',
        ].join('\n'),
      },
    });
    try {
      // Held 2 s: a carrier whose reliable 183 went unPRACKed would retransmit it and give up.
      assert.deepEqual(await answeredCallAttempts(gateway, 'carrier', bot, 2000), [['carrier/sbc', '200']]);
    } finally {
      await gateway.stop();
    }
    const result = await carrier.result;
    assert.equal(result.successfulCalls, 1, result.errors);
  } finally {
    await carrier.stop();
    await bot.close();
  }
}

test(
  'a carrier requiring 100rel: the 421 is retried, the reliable 183 PRACKed, and its SDP answers the call',
  {
    skip,
    timeout: 60_000,
  },
  () => callCarrier(scenario('carrier_100rel.xml')),
);

test(
  'a carrier offering in an UPDATE after its reliable 183: answered in PCMU, then its 200 answers the call',
  {
    skip,
    timeout: 60_000,
  },
  () => callCarrier(scenario('carrier_early_update.xml')),
);

test(
  'a carrier redirecting with 302: followed to the number its Contact names, through the same gateway',
  { skip, timeout: 60_000 },
  () => callCarrier(scenario('carrier_redirect.xml')),
);
