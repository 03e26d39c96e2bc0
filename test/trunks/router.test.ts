import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { trunkSchema } from '../../src/config/index.js';
import { attemptHealth, type HealthView, OutboundRouter } from '../../src/trunks/index.js';
import { FakeClock, seededRandom } from '../../src/util/index.js';

const trunk = trunkSchema.parse({
  name: 'c',
  outbound: {
    gateways: [
      { name: 'p1a', host: 'a', priority: 1, weight: 1 },
      { name: 'p1b', host: 'b', priority: 1, weight: 1 },
      { name: 'p2', host: 'c', priority: 2 },
      { name: 'p0', host: 'd', priority: 0 },
    ],
    maxAttempts: 3,
  },
});

function view(scores: Record<string, number>, down: string[] = []): HealthView {
  return { health: (id) => ({ score: scores[id] ?? 1, available: !down.includes(id) }) };
}

describe('OutboundRouter', () => {
  it('orders by priority, then by score-weighted draw inside a priority', () => {
    const counts = new Map<string, number>();
    const router = new OutboundRouter(
      view({ 'c/p1a': 0.9, 'c/p1b': 0.1 }),
      new FakeClock(),
      seededRandom(42),
    );
    for (let i = 0; i < 2000; i++) {
      const order = router.order(trunk).map((c) => c.gatewayId);
      assert.equal(order[0], 'c/p0');
      assert.equal(order[3], 'c/p2');
      counts.set(order[1] ?? '', (counts.get(order[1] ?? '') ?? 0) + 1);
    }
    const share = (counts.get('c/p1a') ?? 0) / 2000;
    assert.ok(share > 0.86 && share < 0.94, `p1a first in ${share} of draws, expected ~0.9`);
  });

  it('skips gateways marked down and is deterministic for a seed', () => {
    const health = view({}, ['c/p0', 'c/p1b']);
    const first = new OutboundRouter(health, new FakeClock(), seededRandom(1))
      .order(trunk)
      .map((c) => c.gatewayId);
    assert.deepEqual(first, ['c/p1a', 'c/p2']);
  });

  it('fails over on failover codes, timeouts and transport errors, recording each attempt', () => {
    const clock = new FakeClock();
    const plan = new OutboundRouter(view({}), clock, seededRandom(3)).plan(trunk);
    const first = plan.next();
    assert.equal(first?.gatewayId, 'c/p0');
    assert.equal(first?.timeoutMs, 8000);
    clock.advance(100);
    const second = plan.next({ status: 503 });
    clock.advance(8000);
    const third = plan.next('timeout');
    assert.ok(second && third);
    clock.advance(50);
    assert.equal(plan.next('transport_error'), undefined); // maxAttempts 3
    assert.equal(plan.result, 'exhausted');
    assert.deepEqual(
      plan.attempts.map((a) => [a.startedAtMs, a.endedAtMs, a.outcome]),
      [
        [0, 100, '503'],
        [100, 8100, 'timeout'],
        [8100, 8150, 'transport_error'],
      ],
    );
    assert.match(plan.attempts[2]?.reason ?? '', /no attempts left/);
  });

  it('never fails over on 404, 486 or 603, nor after early media; stops on 2xx', () => {
    const router = new OutboundRouter(view({}), new FakeClock(), seededRandom(3));
    for (const status of [404, 486, 603, 403]) {
      const plan = router.plan(trunk);
      plan.next();
      assert.equal(plan.next({ status }), undefined);
      assert.equal(plan.result, 'failed');
      assert.match(plan.attempts[0]?.reason ?? '', /final/);
    }
    const early = router.plan(trunk);
    early.next();
    assert.equal(early.next({ status: 503, earlyMedia: true }), undefined);
    assert.match(early.attempts[0]?.reason ?? '', /early media/);
    const answered = router.plan(trunk);
    answered.next();
    assert.equal(answered.next({ status: 200 }), undefined);
    assert.equal(answered.result, 'answered');
    const careless = router.plan(trunk);
    careless.next();
    assert.throws(() => careless.next(), TypeError);
  });

  it('an empty plan (every gateway down) ends at once', () => {
    const all = ['c/p0', 'c/p1a', 'c/p1b', 'c/p2'];
    const plan = new OutboundRouter(view({}, all), new FakeClock()).plan(trunk);
    assert.equal(plan.next(), undefined);
    assert.equal(plan.result, 'exhausted');
  });
});

describe('attemptHealth', () => {
  it('counts timeouts, transport errors, 408 and 5xx as network failures, 2xx as answered', () => {
    const table = [
      { status: 200 },
      { status: 486 },
      { status: 408 },
      { status: 503 },
      'timeout',
      'transport_error',
      'cancelled',
    ] as const;
    assert.deepEqual(
      table.map((o) => {
        const { answered, networkFailure } = attemptHealth(o);
        return `${answered ? 'A' : '-'}${networkFailure ? 'F' : '-'}`;
      }),
      ['A-', '--', '-F', '-F', '-F', '-F', '--'],
    );
  });
});
