/**
 * GatewayControl behind the real control API: what `POST /v1/calls` answers when the gateway
 * refuses to place a call (the statuses OriginateError carries, never a 500).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { gatewayFileSchema, makeSnapshot, trunkSchema } from '../../src/config/index.js';
import { createControlServer, GatewayMetrics } from '../../src/control/index.js';
import { apiLimits, type ControlledGateway, GatewayControl } from '../../src/gateway/control-adapter.js';
import { OutboundRefusal } from '../../src/gateway/ports.js';

const TOKEN = 'control-adapter-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };

/** A gateway stand-in: one outbound trunk, `draining` and `refuse` switchable; the last request kept. */
const gateway = {
  draining: false,
  refuse: false,
  lastRequest: undefined as { headers?: ReadonlyArray<[string, string]> } | undefined,
  config: () => makeSnapshot(gatewayFileSchema.parse({}), [trunk]),
  originate: async (request: { headers?: ReadonlyArray<[string, string]> }) => {
    gateway.lastRequest = request;
    if (gateway.refuse) throw new OutboundRefusal('gateway at maxCalls');
    return { summary: () => ({ id: 'call-1', state: 'initiated' }) };
  },
};
const trunk = trunkSchema.parse({ name: 'carrier', outbound: { gateways: [{ host: 'g' }] } });

let app: FastifyInstance;
const logged: unknown[] = [];

before(async () => {
  app = await createControlServer({
    backend: new GatewayControl(gateway as unknown as ControlledGateway),
    metrics: new GatewayMetrics({ eventLoopDelayP99Ms: () => 0 }),
    token: TOKEN,
    logger: { error: (...args: unknown[]) => logged.push(args) } as never,
    limits: apiLimits(gatewayFileSchema.parse({}).api),
  });
});
after(async () => {
  await app.close();
});

async function originate(body: object) {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/calls',
    headers: auth,
    payload: { to: '+15550100', from: '+15550199', stream: { url: 'wss://bot.example/ws' }, ...body },
  });
  return { status: response.statusCode, body: response.json() as { error?: string; message?: string } };
}

describe('POST /v1/calls refused by the gateway', () => {
  it('answers 404 for a trunk that does not exist or has no outbound section', async () => {
    const answer = await originate({ trunk: 'nope' });
    assert.equal(answer.status, 404);
    assert.match(answer.body.message ?? '', /no outbound trunk named 'nope'/);
  });

  it('answers 400 naming the field for a caller ID or stream the gateway refuses', async () => {
    const callerId = await originate({ callerId: { privacy: ['none', 'id'] } });
    assert.equal(callerId.status, 400);
    assert.match(callerId.body.message ?? '', /^callerId\.privacy/);
    const stream = await originate({
      stream: { url: 'wss://bot.example/ws', dialect: 'twilio', sampleRate: 16000 },
    });
    assert.equal(stream.status, 400);
    assert.match(stream.body.message ?? '', /twilio dialect is 8000 Hz/);
  });

  it('answers 503 while draining or when the call cannot be admitted', async () => {
    gateway.draining = true;
    const draining = await originate({});
    gateway.draining = false;
    assert.equal(draining.status, 503);
    assert.equal(draining.body.message, 'draining');
    gateway.refuse = true;
    const refused = await originate({});
    gateway.refuse = false;
    assert.equal(refused.status, 503);
    assert.equal(refused.body.message, 'gateway at maxCalls');
  });

  it('takes X- headers and User-to-User for the INVITE, and nothing that could break its SIP', async () => {
    const placed = await originate({
      headers: { 'X-Campaign': '42', 'User-to-User': '56a390f3;encoding=hex' },
    });
    assert.equal(placed.status, 201);
    assert.deepEqual(gateway.lastRequest?.headers, [
      ['X-Campaign', '42'],
      ['User-to-User', '56a390f3;encoding=hex'],
    ]);
    for (const headers of [
      { Via: 'SIP/2.0/UDP evil.example' }, // not an X- header
      { 'P-Asserted-Identity': '<sip:+1@x>' }, // caller ID has its own field
      { 'X-Bad Name': '1' },
      { 'X-Injected': 'a\r\nVia: SIP/2.0/UDP evil.example' },
      { 'X-Empty': '' },
      { 'X-Long': 'x'.repeat(513) },
      Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`X-${i}`, '1'])),
    ]) {
      const refused = await originate({ headers });
      assert.equal(refused.status, 400, JSON.stringify(headers).slice(0, 60));
    }
  });

  it('places the call otherwise, and logs none of the refusals as a handler failure', async () => {
    const placed = await originate({ trunk: 'carrier' });
    assert.equal(placed.status, 201);
    assert.deepEqual(logged, []);
  });
});

it("the API's limits reach the server in whole milliseconds, as Node takes them", () => {
  const api = gatewayFileSchema.parse({
    api: { maxConnections: 9, headerTimeoutSec: 1.1, requestTimeoutSec: 2.3, idleTimeoutSec: 0.7 },
  }).api;
  assert.deepEqual(apiLimits(api), {
    maxConnections: 9,
    headerTimeoutMs: 1100,
    requestTimeoutMs: 2300,
    idleTimeoutMs: 700,
  });
});
