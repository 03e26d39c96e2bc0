import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterSlot, LeaseRequest } from '../../src/cluster/index.js';
import { trunkSchema } from '../../src/config/index.js';
import type { CallSummary } from '../../src/control/index.js';
import { GatewayAdmission } from '../../src/gateway/admission.js';
import { ConcurrencyLimiter, CpsLimiter, MemoryCpsStore } from '../../src/trunks/index.js';
import { FakeClock } from '../../src/util/index.js';

const trunk = trunkSchema.parse({
  name: 't',
  inbound: { allowedCidrs: ['10.0.0.0/8'] },
  maxConcurrentCalls: 7,
});

function call(id: string) {
  const summary: CallSummary = {
    id,
    direction: 'inbound',
    state: 'initiated',
    from: 'a',
    to: 'b',
    startedAt: '',
  };
  return { id, summary: () => summary };
}

test('with cluster leases: the lease decides the trunk cap, and admissions in flight count against maxCalls', async () => {
  const requests: LeaseRequest[] = [];
  const grants: Array<(slot: ClusterSlot) => void> = [];
  const admission = new GatewayAdmission({
    concurrency: new ConcurrencyLimiter(),
    leases: {
      acquire: (request) => {
        requests.push(request);
        return new Promise((resolve) => grants.push(resolve));
      },
    },
    cps: new CpsLimiter(new MemoryCpsStore(), new FakeClock()),
    liveCalls: () => 0,
    maxCalls: () => 2,
  });
  const first = admission.admit(trunk, call('c1'));
  const second = admission.admit(trunk, call('c2'));
  assert.deepEqual(
    await admission.admit(trunk, call('c3')),
    { ok: false, cause: 'rejected_concurrency', retryAfterSec: 5 },
    'two in flight fill maxCalls 2',
  );
  assert.deepEqual(
    requests.map((request) => [request.callId, request.trunk, request.trunkMax, request.summary().id]),
    [
      ['c1', 't', 7, 'c1'],
      ['c2', 't', 7, 'c2'],
    ],
  );
  let released = 0;
  grants[0]?.({ ok: true, release: () => released++ });
  grants[1]?.({ ok: false, scope: 'trunk' });
  const granted = await first;
  assert.equal(granted.ok, true);
  assert.deepEqual(await second, { ok: false, cause: 'rejected_concurrency', retryAfterSec: 5 });
  if (granted.ok) granted.release();
  assert.equal(released, 1);
  admission.drain();
  assert.deepEqual(await admission.admit(trunk, call('c4')), {
    ok: false,
    cause: 'draining',
    retryAfterSec: 5,
  });
});

test('while overloaded every new call is refused with the configured Retry-After, before any slot is taken', async () => {
  let retryAfterSec: number | undefined = 7;
  const concurrency = new ConcurrencyLimiter();
  const admission = new GatewayAdmission({
    concurrency,
    cps: new CpsLimiter(new MemoryCpsStore(), new FakeClock()),
    liveCalls: () => 0,
    maxCalls: () => 2,
    overloadRetryAfterSec: () => retryAfterSec,
  });
  assert.deepEqual(await admission.admit(trunk, call('c1')), {
    ok: false,
    cause: 'rejected_overload',
    retryAfterSec: 7,
  });
  assert.equal(concurrency.inUse('t'), 0);
  retryAfterSec = undefined;
  const slot = await admission.admit(trunk, call('c2'));
  assert.equal(slot.ok, true, 'taken again once the node is no longer overloaded');
  if (slot.ok) slot.release();
  admission.drain();
  retryAfterSec = 7;
  assert.deepEqual(
    await admission.admit(trunk, call('c3')),
    { ok: false, cause: 'draining', retryAfterSec: 5 },
    'draining is told first',
  );
});
