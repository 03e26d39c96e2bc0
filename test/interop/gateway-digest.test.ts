/**
 * Inbound digest authentication against a real `patchbay start` (a trunk's
 * optional digest auth): a trunk that demands credentials answers SIPp's first INVITE with 401
 * (RFC 3261 §22.2, the trunk's `algorithms` offered, RFC 8760 §2.4); SIPp answers the challenge
 * with its own MD5 digest and the call reaches the bot. Wrong credentials get 403 and no bot call.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { callGateway, type GatewayProcess, startGatewayProcess } from './helpers/gateway-process.js';
import { skipWithoutSipp } from './helpers/sipp.js';
import { TestBot } from './helpers/test-bot.js';

const skip = skipWithoutSipp();
const UAC_DIGEST = join(import.meta.dirname, '../../../fixtures/sipp/uac_digest.xml');

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
