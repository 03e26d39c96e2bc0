import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  defaultConfig,
  gatewayFileSchema,
  makeSnapshot,
  type PatchbayConfig,
  trunkSchema,
} from '../../src/config/index.js';
import { BuiltinBot, namesBuiltinBot } from '../../src/gateway/builtin-bot.js';
import { silentLogger } from '../../src/util/index.js';

function configWith(routeUrl: string, rerouteTo?: string): PatchbayConfig {
  const cps = rerouteTo ? { rate: 1, burst: 1, overflow: { action: 'reroute', rerouteTo } } : undefined;
  return makeSnapshot(
    gatewayFileSchema.parse({ routes: [{ match: '*', target: { url: routeUrl }, ...(cps ? { cps } : {}) }] }),
    [trunkSchema.parse({ name: 'local', inbound: { allowedCidrs: ['127.0.0.0/8'] } })],
  );
}

describe('the built-in bot', () => {
  it('is named by a route target or a reroute at a CPS limit', () => {
    assert.equal(namesBuiltinBot(defaultConfig()), true);
    assert.equal(namesBuiltinBot(configWith('wss://bot.example/a')), false);
    assert.equal(namesBuiltinBot(configWith('wss://bot.example/a', 'builtin:echo')), true);
  });

  it('starts when a config first names it, once, and stops with the gateway', async () => {
    const bot = new BuiltinBot(silentLogger);
    await bot.ensure(configWith('wss://bot.example/a'));
    assert.equal(bot.url, undefined, 'not named: not started');
    await Promise.all([bot.ensure(defaultConfig()), bot.ensure(defaultConfig())]);
    const url = bot.url;
    assert.match(url ?? '', /^ws:\/\/127\.0\.0\.1:\d+/);
    await bot.ensure(configWith('wss://bot.example/a'));
    assert.equal(bot.url, url, 'a reload that drops it leaves it for calls in progress');
    await bot.close();
    await bot.close();
    assert.equal(bot.url, undefined);
    await bot.ensure(defaultConfig());
    assert.equal(bot.url, undefined, 'closed: never started again');
  });
});
