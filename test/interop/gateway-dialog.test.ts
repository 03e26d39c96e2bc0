/**
 * Dialog edge cases against a real `patchbay start` over UDP: SIPp re-INVITEs the answered
 * call without SDP, so the gateway's 200 carries the offer and the ACK the answer, and sends an
 * UPDATE with an offer before that ACK (fixtures/sipp/uac_update_glare.xml). RFC 3311 §5.2: the
 * UPDATE gets 491; once the ACK brought the answer, the next UPDATE offer gets 200.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { callGateway, type GatewayProcess, startGatewayProcess } from './helpers/gateway-process.js';
import { skipWithoutSipp } from './helpers/sipp.js';
import { TestBot } from './helpers/test-bot.js';

const skip = skipWithoutSipp();
const UAC_UPDATE_GLARE = join(import.meta.dirname, '../../../fixtures/sipp/uac_update_glare.xml');

test('an UPDATE offer while the offer in our 200 awaits its ACK gets 491; after the ACK one gets 200', {
  skip,
  timeout: 60_000,
}, async () => {
  const bot = await TestBot.start();
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess({ botUrl: bot.url });
    const running = gateway;
    const sipp = await callGateway(running, {
      scenario: UAC_UPDATE_GLARE,
      calls: 1,
      timeoutMs: 30_000,
      to: '15551230000',
    });
    const result = await sipp.result;
    assert.equal(result.successfulCalls, 1, `${result.errors}\n${running.logs().slice(-3000)}`);
    assert.equal(bot.calls.length, 1);
    const record = (await running.recordsWhen((written) => written.length > 0))[0];
    assert.equal((record?.['end'] as { cause?: string } | undefined)?.cause, 'caller_bye');
  } finally {
    await gateway?.stop();
    await bot.close();
  }
});
