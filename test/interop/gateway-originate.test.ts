/**
 * Outbound call through the control API against a real `patchbay
 * start`: SIPp plays two carrier gateways of one trunk, the first answering 503, the second
 * 200 only to an INVITE carrying an X- header of the trunk's `outbound.headers` and the
 * User-to-User the request asked for. The call fails over, the bot stream opens on answer, the API shows the call
 * with live media stats, and the status callback receives initiated, ringing, answered and
 * completed, in order.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type GatewayProcess, placeCall, startGatewayProcess } from './helpers/gateway-process.js';
import { freePort, skipWithoutSipp, startSipp } from './helpers/sipp.js';
import { TestBot } from './helpers/test-bot.js';

const skip = skipWithoutSipp();
const CARRIER_503 = join(import.meta.dirname, '../../../fixtures/sipp/carrier_503.xml');
const CARRIER_CHECKING_HEADERS = join(import.meta.dirname, '../../../fixtures/sipp/carrier_headers_uas.xml');

test('POST /v1/calls fails over 503 -> 200, streams on answer, and reports every status', {
  skip,
  timeout: 60_000,
}, async () => {
  const portA = await freePort();
  const portB = await freePort();
  const carrierA = startSipp({ scenario: CARRIER_503, localPort: portA, calls: 1, timeoutMs: 40_000 });
  const carrierB = startSipp({
    scenario: CARRIER_CHECKING_HEADERS,
    localPort: portB,
    calls: 1,
    timeoutMs: 40_000,
  });
  const bot = await TestBot.start();
  const statuses: Array<Record<string, unknown>> = [];
  const callback = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      statuses.push(JSON.parse(body) as Record<string, unknown>);
      response.end();
    });
  });
  await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', resolve));
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess({
      botUrl: bot.url,
      trunks: {
        carrier: [
          'name: carrier',
          'outbound:',
          // Gateway a by host name with a port: A/AAAA only (RFC 3263 §4.2); localhost is
          // the loopback address without asking DNS (RFC 6761).
          '  gateways:',
          `    - { name: a, host: localhost, port: ${portA}, priority: 1 }`,
          `    - { name: b, host: 127.0.0.1, port: ${portB}, priority: 2 }`,
          '  attemptTimeoutMs: 5000',
          "  headers: { X-Campaign: '42' }", // the trunk's own; User-to-User comes from the request
          'codecs: [PCMU, PCMA]',
          'probing: { enabled: false }',
          '',
        ].join('\n'),
      },
    });
    const id = await placeCall(gateway, 'carrier', {
      streamUrl: bot.url,
      headers: { 'User-to-User': '56a390f3d2b7310023a2;encoding=hex' },
      statusCallback: `http://127.0.0.1:${(callback.address() as AddressInfo).port}/status`,
    });
    for (let i = 0; i < 100 && !statuses.some((s) => s['status'] === 'answered'); i++) await delay(100);
    await delay(1000);
    const live = (await (await fetch(`${gateway.apiUrl}/v1/calls/${id}`)).json()) as {
      state: string;
      media: Record<string, unknown>;
    };
    assert.equal(live.state, 'answered');
    assert.ok(live.media['rtp'], 'live media stats while answered');
    const hangup = await fetch(`${gateway.apiUrl}/v1/calls/${id}`, { method: 'DELETE' });
    assert.equal(hangup.status, 204);
    for (let i = 0; i < 50 && !statuses.some((s) => s['status'] === 'completed'); i++) await delay(100);

    assert.deepEqual(
      statuses.map((s) => s['status']),
      ['initiated', 'ringing', 'answered', 'completed'],
    );
    assert.ok(statuses.every((s) => s['callId'] === id));
    const botCall = bot.calls.at(-1);
    assert.ok(botCall, 'the bot stream opened on answer');
    const start = JSON.parse(botCall.messages.find((m) => m.includes('"start"')) ?? '{}') as {
      start?: { callSid?: string };
    };
    assert.equal(start.start?.callSid, id);
    const carrierBResult = await carrierB.result;
    assert.equal(carrierBResult.successfulCalls, 1, carrierBResult.errors);
    assert.equal((await carrierA.result).successfulCalls, 1, 'carrier A saw its 503 ACKed');
    const record = (await gateway.recordsWhen((written) => written.some((r) => r['id'] === id))).find(
      (r) => r['id'] === id,
    );
    assert.ok(record, 'a call record');
    assert.deepEqual(
      (record['attempts'] as Array<{ gateway: string; outcome: string }>).map((a) => [a.gateway, a.outcome]),
      [
        ['carrier/a', '503'],
        ['carrier/b', '200'],
      ],
    );
    assert.equal(record['direction'], 'outbound');
    assert.equal(record['hangupBy'], 'api');
  } finally {
    await gateway?.stop();
    await carrierA.stop();
    await carrierB.stop();
    await bot.close();
    callback.close();
  }
});
