/**
 * Outbound reliable provisional responses (RFC 3262) against a real `patchbay start`: a SIPp
 * carrier (fixtures/sipp/carrier_100rel.xml) answers our first INVITE 421 requiring 100rel, so
 * we retry it supporting 100rel; it then answers our offer in a reliable 183, which we PRACK
 * (RAck checked by SIPp), and sends its 200 without SDP. The call is answered with the 183's
 * answer, streams to the bot, stays up, and ends with our BYE.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { placeCall, startGatewayProcess } from './helpers/gateway-process.js';
import { freePort, skipWithoutSipp, startSipp } from './helpers/sipp.js';
import { TestBot } from './helpers/test-bot.js';

const skip = skipWithoutSipp();
const CARRIER_100REL = join(import.meta.dirname, '../../../fixtures/sipp/carrier_100rel.xml');

test('a carrier requiring 100rel: the 421 is retried, the reliable 183 PRACKed, and its SDP answers the call', {
  skip,
  timeout: 60_000,
}, async () => {
  const port = await freePort();
  const carrier = startSipp({ scenario: CARRIER_100REL, localPort: port, calls: 1, timeoutMs: 40_000 });
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
      const id = await placeCall(gateway, 'carrier', { streamUrl: bot.url });
      for (let i = 0; i < 100 && bot.calls.length === 0; i++) await delay(100);
      assert.equal(bot.calls.length, 1, `the call was answered\n${gateway.logs().slice(-3000)}`);
      // Held a while: the 183 is not retransmitted at us until the carrier gives up.
      await delay(2000);
      const hangup = await fetch(`${gateway.apiUrl}/v1/calls/${id}`, { method: 'DELETE' });
      assert.equal(hangup.status, 204, 'the call was still up');
      const records = await gateway.recordsWhen((written) => written.some((r) => r['id'] === id));
      const record = records.find((r) => r['id'] === id);
      const attempts = (record?.['attempts'] ?? []) as Array<{ gateway: string; outcome: string }>;
      assert.deepEqual(
        attempts.map((a) => [a.gateway, a.outcome]),
        [['carrier/sbc', '200']],
      );
    } finally {
      await gateway.stop();
    }
    const result = await carrier.result;
    assert.equal(result.successfulCalls, 1, result.errors);
  } finally {
    await carrier.stop();
    await bot.close();
  }
});
