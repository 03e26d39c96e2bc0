/**
 * A route's bot: a URL the WebSocket client can open (ws: or wss:, a host, no fragment) or
 * builtin:echo, refused at load otherwise, without quoting the URL (it may carry a token).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkedStreamTargetSchema, gatewayFileSchema, parseConfigText } from '../../src/config/index.js';

const routeTo = (url: string): string =>
  `routes:\n  - match: "*"\n    target:\n      url: ${JSON.stringify(url)}\n`;

function issuesOf(text: string): string[] {
  const result = parseConfigText(text, 'gw.yaml', gatewayFileSchema, {});
  return result.ok ? [] : result.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
}

describe('a stream target URL', () => {
  it('takes ws:// and wss:// URLs with a host, and builtin:echo', () => {
    for (const url of [
      'wss://bot.example/media?token=abc',
      'ws://127.0.0.1:8080/',
      'ws://[::1]:9000/a',
      'wss://user:pw@bot.example/',
      'builtin:echo',
    ])
      assert.deepEqual(issuesOf(routeTo(url)), [], url);
  });

  it('refuses what new URL() or the WebSocket client would refuse, at its path and line', () => {
    const cases: Array<[string, RegExp]> = [
      ['ws://bot.example:abc/x?token=SECRET', /not a valid URL/],
      ['wss://bot example/x', /not a valid URL/],
      ['wss://bot.example/x#part', /no #fragment/],
      ['http://bot.example/x', /ws:\/\/, wss:\/\/ or builtin:echo/],
      ['builtin:parrot', /ws:\/\/, wss:\/\/ or builtin:echo/],
    ];
    for (const [url, message] of cases) {
      const [issue, ...more] = issuesOf(routeTo(url));
      assert.deepEqual(more, [], url);
      assert.match(issue ?? '', /^4:12 routes\[0\]\.target\.url: /, url);
      assert.match(issue ?? '', message, url);
    }
  });

  it('never quotes the query or user info of a refused URL', () => {
    for (const url of ['wss://bot.example:x/a?token=SECRET', 'wss://admin:SECRET@bot example/a']) {
      const result = checkedStreamTargetSchema.safeParse({ url });
      assert.equal(result.success, false);
      assert.doesNotMatch(JSON.stringify(result.error?.issues.map((i) => i.message)), /SECRET/);
      assert.doesNotMatch(issuesOf(routeTo(url)).join('\n'), /SECRET/);
    }
  });

  it("checks a route's rerouteTo the same way", () => {
    const text = `${routeTo('wss://bot.example/a')}    cps: { rate: 1, burst: 1, overflow: { action: reroute, rerouteTo: "wss://spare example/b" } }\n`;
    assert.deepEqual(issuesOf(text), [
      "5:71 routes[0].cps.overflow.rerouteTo: a route's rerouteTo is the bot to stream to instead: ws://, wss:// or builtin:echo",
    ]);
  });
});

describe('a stream target', () => {
  const target = (fields: string): string =>
    `routes:\n  - match: "*"\n    target: { url: "wss://bot.example/a", dialect: stereo, ${fields} }\n`;

  it('refuses vad where the speech detector does not run (24 kHz)', () => {
    assert.deepEqual(issuesOf(target('sampleRate: 8000, vad: true')), []);
    assert.deepEqual(issuesOf(target('sampleRate: 16000, vad: true')), []);
    assert.deepEqual(issuesOf(target('sampleRate: 24000, vad: false')), []);
    assert.deepEqual(issuesOf(target('sampleRate: 24000, vad: true')), [
      '3:84 routes[0].target.vad: the speech detector runs at 8000 or 16000 Hz: drop vad or use one of those sampleRates',
    ]);
  });
});
