import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { gatewayFileSchema } from '../../src/config/index.js';
import {
  type CallSummary,
  type ControlBackend,
  type CpsLimit,
  createControlServer,
  GatewayMetrics,
  type OriginateRequest,
  type RequestOrigin,
  type TrunkRegistration,
} from '../../src/control/index.js';
import { apiLimits } from '../../src/gateway/control-adapter.js';

const TOKEN = 'test-token';
/** A number the fake backend fails on as a bug would: an Error without a status. */
const UNEXPECTED_FAILURE = '+15550666';

class FakeBackend implements ControlBackend {
  calls = new Map<string, CallSummary>();
  limits: CpsLimit[] = [{ key: 'trunk:carrier-a', rate: 10, burst: 5 }];
  draining = false;
  dtmfSent: string[] = [];

  async originate(request: OriginateRequest): Promise<CallSummary> {
    if (request.to === UNEXPECTED_FAILURE) throw new Error('redis://:hunter2@cache.internal/0 unreachable');
    const call: CallSummary = {
      id: `call-${this.calls.size + 1}`,
      direction: 'outbound',
      state: 'initiated',
      from: request.from,
      to: request.to,
      startedAt: new Date(0).toISOString(),
    };
    this.calls.set(call.id, call);
    return call;
  }
  async listCalls() {
    return { calls: [...this.calls.values()] };
  }
  origins: RequestOrigin[] = [];
  async getCall(id: string, origin: RequestOrigin) {
    this.origins.push(origin);
    const call = this.calls.get(id);
    return call
      ? ({ ok: true, call: { ...call, media: { packetsReceived: 0 } } } as const)
      : ({ ok: false, status: 404, error: 'no such call' } as const);
  }
  async hangup(id: string, origin: RequestOrigin) {
    this.origins.push(origin);
    return this.calls.delete(id)
      ? ({ ok: true } as const)
      : ({ ok: false, status: 404, error: 'no such call' } as const);
  }
  async sendDtmf(id: string, digits: string) {
    if (!this.calls.has(id)) return { ok: false, status: 404, error: 'no such call' } as const;
    this.dtmfSent.push(digits);
    return { ok: true } as const;
  }
  trunkHealth(): unknown[] {
    return [{ trunk: 'carrier-a', score: 1 }];
  }
  trunkRegistrations(): TrunkRegistration[] {
    return [
      {
        trunk: 'registered',
        registrar: 'sip.carrier.example',
        aor: 'sip:u@sip.carrier.example',
        state: 'registered',
        failures: 0,
        expiresSec: 600,
        expiresAt: new Date(0).toISOString(),
      },
    ];
  }
  cpsLimits(): CpsLimit[] {
    return this.limits;
  }
  setCpsLimit(limit: CpsLimit): boolean {
    const index = this.limits.findIndex((l) => l.key === limit.key);
    if (index < 0) return false;
    this.limits[index] = limit;
    return true;
  }
  drain() {
    this.draining = true;
    return { draining: true, activeCalls: this.calls.size };
  }
  isReady(): boolean {
    return !this.draining;
  }
}

let app: FastifyInstance;
let backend: FakeBackend;
let metrics: GatewayMetrics;
const auth = { authorization: `Bearer ${TOKEN}` };

before(async () => {
  backend = new FakeBackend();
  metrics = new GatewayMetrics({ eventLoopDelayP99Ms: () => 0 });
  app = await createControlServer({
    backend,
    metrics,
    token: TOKEN,
    limits: apiLimits(gatewayFileSchema.parse({}).api),
  });
});
after(async () => {
  await app.close();
});

test('the API refuses requests without the bearer token, but health stays open', async () => {
  assert.equal((await app.inject({ method: 'GET', url: '/v1/calls' })).statusCode, 401);
  const wrong = await app.inject({
    method: 'GET',
    url: '/v1/calls',
    headers: { authorization: 'Bearer nope' },
  });
  assert.equal(wrong.statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/calls', headers: auth })).statusCode, 200);
});

test('the auth scheme is matched case-insensitively (RFC 7235 §2.1), the token exactly', async () => {
  const status = async (authorization: string) =>
    (await app.inject({ method: 'GET', url: '/v1/calls', headers: { authorization } })).statusCode;
  assert.equal(await status(`bearer ${TOKEN}`), 200);
  assert.equal(await status(`BEARER ${TOKEN}`), 200);
  assert.equal(await status(`Bearer ${TOKEN.toUpperCase()}`), 401);
  assert.equal(await status(`Basic ${TOKEN}`), 401);
  assert.equal(await status(`Bearer${TOKEN}`), 401);
});

test('originate validates its body and answers 400 with the reason', async () => {
  const missing = await app.inject({
    method: 'POST',
    url: '/v1/calls',
    headers: auth,
    payload: { to: '+15550100' },
  });
  assert.equal(missing.statusCode, 400);
  assert.match(missing.json().message, /from|stream/);
  const extra = await app.inject({
    method: 'POST',
    url: '/v1/calls',
    headers: auth,
    payload: { to: '+1', from: '+2', stream: { url: 'wss://bot' }, bogus: 1 },
  });
  assert.equal(extra.statusCode, 400);
  const credentials = await app.inject({
    method: 'POST',
    url: '/v1/calls',
    headers: auth,
    payload: {
      to: '+1',
      from: '+2',
      stream: { url: 'wss://bot' },
      statusCallback: 'https://acct:S3CRET@hooks.example/cb',
    },
  });
  assert.equal(credentials.statusCode, 400);
  assert.doesNotMatch(credentials.body, /S3CRET/);
  const badJson = await app.inject({
    method: 'POST',
    url: '/v1/calls',
    headers: { ...auth, 'content-type': 'application/json' },
    payload: '{"to":',
  });
  assert.equal(badJson.statusCode, 400);
  const ok = await app.inject({
    method: 'POST',
    url: '/v1/calls',
    headers: auth,
    payload: {
      to: '+15550100',
      from: '+15550199',
      stream: { url: 'wss://bot.example/ws', dialect: 'twilio' },
    },
  });
  assert.equal(ok.statusCode, 201);
  assert.equal(ok.json().state, 'initiated');
});

test('an unexpected backend failure is a 500 whose answer does not quote the error', async () => {
  const failed = await app.inject({
    method: 'POST',
    url: '/v1/calls',
    headers: auth,
    payload: { to: UNEXPECTED_FAILURE, from: '+2', stream: { url: 'wss://bot' } },
  });
  assert.equal(failed.statusCode, 500);
  assert.deepEqual(failed.json(), { error: 'internal_error', message: 'internal error' });
  const tooLarge = await app.inject({
    method: 'POST',
    url: '/v1/calls',
    headers: { ...auth, 'content-type': 'application/json' },
    payload: `{"to":"${'1'.repeat(70 * 1024)}"}`,
  });
  assert.equal(tooLarge.statusCode, 413);
  assert.equal(tooLarge.json().error, 'payload_too_large');
});

test('originate bounds every string: URLs and customParameters names included', async () => {
  const long = 'a'.repeat(5000);
  const bodies = [
    { stream: { url: `wss://bot.example/${long}` } },
    { stream: { url: 'wss://bot.example/' }, statusCallback: `https://hooks.example/${long}` },
    { stream: { url: 'wss://bot.example/', customParameters: { [long]: 'v' } } },
  ];
  for (const body of bodies) {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/calls',
      headers: auth,
      payload: { to: '+1', from: '+2', ...body },
    });
    assert.equal(response.statusCode, 400, JSON.stringify(body).slice(0, 80));
  }
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  const schema = doc.paths['/v1/calls'].post.requestBody.content['application/json'].schema;
  assert.ok(schema.properties.statusCallback.maxLength > 0);
  assert.ok(schema.properties.stream.properties.url.maxLength > 0);
  assert.ok(schema.properties.stream.properties.customParameters.propertyNames.maxLength > 0);
});

test('call operations map to 204 and 404', async () => {
  const created = await backend.originate({ to: '1', from: '2', stream: { url: 'wss://x' } });
  const dtmf = await app.inject({
    method: 'POST',
    url: `/v1/calls/${created.id}/dtmf`,
    headers: auth,
    payload: { digits: '12#' },
  });
  assert.equal(dtmf.statusCode, 204);
  assert.deepEqual(backend.dtmfSent, ['12#']);
  const badDigits = await app.inject({
    method: 'POST',
    url: `/v1/calls/${created.id}/dtmf`,
    headers: auth,
    payload: { digits: '12x' },
  });
  assert.equal(badDigits.statusCode, 400);
  assert.equal(
    (await app.inject({ method: 'GET', url: `/v1/calls/${created.id}`, headers: auth })).statusCode,
    200,
  );
  assert.equal(
    (await app.inject({ method: 'DELETE', url: `/v1/calls/${created.id}`, headers: auth })).statusCode,
    204,
  );
  assert.equal(
    (await app.inject({ method: 'DELETE', url: `/v1/calls/${created.id}`, headers: auth })).statusCode,
    404,
  );
});

test('a hang-up forwarded by another cluster node says so to the backend (no second hop)', async () => {
  backend.origins = [];
  await app.inject({ method: 'DELETE', url: '/v1/calls/nope', headers: auth });
  await app.inject({
    method: 'DELETE',
    url: '/v1/calls/nope',
    headers: { ...auth, 'x-patchbay-forwarded-by': 'node-a' },
  });
  assert.deepEqual(backend.origins, [{ forwarded: false }, { forwarded: true }]);
});

test('/v1/trunks lists the gateways health and the registrations', async () => {
  const body = (await app.inject({ method: 'GET', url: '/v1/trunks', headers: auth })).json();
  assert.deepEqual(body.trunks, backend.trunkHealth());
  assert.equal(body.registrations[0]?.trunk, 'registered');
  assert.equal(body.registrations[0]?.state, 'registered');
});

test('CPS limits change at run time and unknown buckets are 404', async () => {
  const changed = await app.inject({
    method: 'PUT',
    url: '/v1/cps/trunk:carrier-a',
    headers: auth,
    payload: { rate: 20, burst: 10 },
  });
  assert.equal(changed.statusCode, 200);
  assert.deepEqual(backend.limits[0], { key: 'trunk:carrier-a', rate: 20, burst: 10 });
  const unknown = await app.inject({
    method: 'PUT',
    url: '/v1/cps/nope',
    headers: auth,
    payload: { rate: 1, burst: 1 },
  });
  assert.equal(unknown.statusCode, 404);
  const negative = await app.inject({
    method: 'PUT',
    url: '/v1/cps/trunk:carrier-a',
    headers: auth,
    payload: { rate: -1, burst: 1 },
  });
  assert.equal(negative.statusCode, 400);
});

test('path parameters as long as the schema allows reach the handler; longer ones are 400', async () => {
  // Trunk names have no length limit in the config: a CPS key is `trunk:` and the name.
  const key = `trunk:${'k'.repeat(250)}`;
  backend.limits.push({ key, rate: 1, burst: 1 });
  try {
    const put = (cpsKey: string) =>
      app.inject({ method: 'PUT', url: `/v1/cps/${cpsKey}`, headers: auth, payload: { rate: 2, burst: 2 } });
    assert.equal((await put(key)).statusCode, 200);
    assert.equal((await put(`${key}x`)).statusCode, 400);
    const get = (id: string) => app.inject({ method: 'GET', url: `/v1/calls/${id}`, headers: auth });
    assert.equal((await get('a'.repeat(128))).statusCode, 404);
    assert.equal((await get('a'.repeat(129))).statusCode, 400);
  } finally {
    backend.limits.pop();
  }
});

test('/metrics is valid Prometheus text and the OpenAPI document lists the API', async () => {
  metrics.activeCalls.set({ direction: 'inbound' }, 3);
  metrics.callsTotal.inc({ trunk: 'carrier-a', direction: 'inbound', outcome: 'completed' });
  const response = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(response.statusCode, 200);
  const families = parsePrometheusTextFormat(response.body);
  const active = families.find((f) => f.name === 'patchbay_active_calls');
  assert.equal(active?.metrics[0]?.value, '3');
  assert.ok(families.some((f) => f.name === 'patchbay_event_loop_lag_seconds'));
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  assert.ok(doc.paths['/v1/calls'].post);
  assert.ok(doc.paths['/v1/cps/{key}'].put);
});

/** Keywords whose meaning in OpenAPI 3.0's schema dialect is not JSON Schema's, or that it lacks. */
function openApi30Mismatches(node: unknown, path = '#'): string[] {
  if (typeof node !== 'object' || node === null) return [];
  const found: string[] = [];
  for (const [key, value] of Object.entries(node)) {
    // 3.0: exclusiveMinimum/Maximum are booleans beside minimum/maximum; no propertyNames, no const.
    if ((key === 'exclusiveMinimum' || key === 'exclusiveMaximum') && typeof value === 'number')
      found.push(`${path}/${key}`);
    if (key === 'propertyNames' || key === 'const') found.push(`${path}/${key}`);
    found.push(...openApi30Mismatches(value, `${path}/${key}`));
  }
  return found;
}

test('the OpenAPI document declares the schema dialect its schemas are written in', async () => {
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  if (doc.openapi.startsWith('3.0.')) assert.deepEqual(openApi30Mismatches(doc.paths), []);
  else assert.match(doc.openapi, /^3\.1\./);
  // What the validator refuses, the document says: a rate of 0 is outside it either way.
  const rate = doc.paths['/v1/cps/{key}'].put.requestBody.content['application/json'].schema.properties.rate;
  assert.equal(rate.exclusiveMinimum, 0);
});

test('drain flips readiness', async () => {
  assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  assert.equal((await app.inject({ method: 'POST', url: '/v1/admin/drain', headers: auth })).statusCode, 202);
  assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
});
