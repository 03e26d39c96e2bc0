import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { trunkSchema } from '../../src/config/index.js';
import { attemptHealth, type HealthView, OutboundRouter } from '../../src/trunks/index.js';
import { type Clock, FakeClock, seededRandom } from '../../src/util/index.js';
import { FakeDns, fakeLocator } from './helpers/fake-dns.js';

const trunk = trunkSchema.parse({
  name: 'c',
  outbound: {
    gateways: [
      { name: 'p1a', host: '192.0.2.1', priority: 1, weight: 1 },
      { name: 'p1b', host: '192.0.2.2', priority: 1, weight: 1 },
      { name: 'p2', host: '192.0.2.3', priority: 2 },
      { name: 'p0', host: '192.0.2.4', priority: 0 },
    ],
    maxAttempts: 3,
  },
});

function view(scores: Record<string, number>, down: string[] = []): HealthView {
  return { health: (id) => ({ score: scores[id] ?? 1, available: !down.includes(id) }) };
}

function makeRouter(
  health: HealthView,
  clock: Clock = new FakeClock(),
  random: () => number = Math.random,
  dns = new FakeDns(),
): OutboundRouter {
  return new OutboundRouter(health, fakeLocator(clock, dns), clock, random);
}

describe('OutboundRouter', () => {
  it('orders by priority, then by score-weighted draw inside a priority', () => {
    const counts = new Map<string, number>();
    const router = makeRouter(view({ 'c/p1a': 0.9, 'c/p1b': 0.1 }), new FakeClock(), seededRandom(42));
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
    const first = makeRouter(health, new FakeClock(), seededRandom(1))
      .order(trunk)
      .map((c) => c.gatewayId);
    assert.deepEqual(first, ['c/p1a', 'c/p2']);
  });

  it('fails over on failover codes, timeouts and transport errors, recording each attempt', async () => {
    const clock = new FakeClock();
    const plan = makeRouter(view({}), clock, seededRandom(3)).plan(trunk);
    const first = await plan.next();
    assert.equal(first?.gatewayId, 'c/p0');
    assert.equal(first?.timeoutMs, 8000);
    assert.deepEqual(first?.destination, {
      ok: true,
      to: { host: '192.0.2.4', port: 5060, address: '192.0.2.4' },
    });
    clock.advance(100);
    const second = await plan.next({ status: 503 });
    clock.advance(8000);
    const third = await plan.next('timeout');
    assert.ok(second && third);
    clock.advance(50);
    assert.equal(await plan.next('transport_error'), undefined); // maxAttempts 3
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

  it('never fails over on 404, 486 or 603, nor after early media; stops on 2xx', async () => {
    const router = makeRouter(view({}), new FakeClock(), seededRandom(3));
    for (const status of [404, 486, 603, 403]) {
      const plan = router.plan(trunk);
      await plan.next();
      assert.equal(await plan.next({ status }), undefined);
      assert.equal(plan.result, 'failed');
      assert.match(plan.attempts[0]?.reason ?? '', /final/);
    }
    const early = router.plan(trunk);
    await early.next();
    assert.equal(await early.next({ status: 503, earlyMedia: true }), undefined);
    assert.match(early.attempts[0]?.reason ?? '', /early media/);
    const answered = router.plan(trunk);
    await answered.next();
    assert.equal(await answered.next({ status: 200 }), undefined);
    assert.equal(answered.result, 'answered');
    const careless = router.plan(trunk);
    await careless.next();
    await assert.rejects(careless.next(), TypeError);
  });

  it('an empty plan (every gateway down) ends at once', async () => {
    const all = ['c/p0', 'c/p1a', 'c/p1b', 'c/p2'];
    const plan = makeRouter(view({}, all)).plan(trunk);
    assert.equal(await plan.next(), undefined);
    assert.equal(plan.result, 'exhausted');
  });
});

describe('OutboundRouter with gateways given by DNS name (RFC 3263)', () => {
  const named = trunkSchema.parse({
    name: 'c',
    outbound: {
      gateways: [
        { name: 'srv', host: 'carrier.test', priority: 1 },
        { name: 'backup', host: '192.0.2.9', priority: 2 },
      ],
      maxAttempts: 5,
    },
  });
  const ids = {
    s1: 'c/srv/s1.carrier.test:5061',
    s2: 'c/srv/s2.carrier.test:5062',
    s3: 'c/srv/s3.carrier.test:5063',
  };
  function carrierDns(): FakeDns {
    const dns = new FakeDns();
    dns.addService('carrier.test', [
      { host: 's3.carrier.test', port: 5063, priority: 20, weight: 5, address: '192.0.2.3' },
      { host: 's1.carrier.test', port: 5061, priority: 10, weight: 90, address: '192.0.2.1' },
      { host: 's2.carrier.test', port: 5062, priority: 10, weight: 10, address: '192.0.2.2' },
    ]);
    return dns;
  }
  async function walk(
    router: OutboundRouter,
    trunkConfig = named,
  ): Promise<Array<{ id: string; to: string }>> {
    const plan = router.plan(trunkConfig);
    const seen: Array<{ id: string; to: string }> = [];
    for (let attempt = await plan.next(); attempt; attempt = await plan.next('timeout')) {
      const { destination } = attempt;
      const to = destination.ok ? `${destination.to.address}:${destination.to.port}` : destination.detail;
      seen.push({ id: attempt.gatewayId, to });
    }
    return seen;
  }

  it('tries the SRV targets in priority order, drawn by weight within a priority, then the next gateway', async () => {
    const dns = carrierDns();
    const router = makeRouter(view({}), new FakeClock(), seededRandom(7), dns);
    let s1First = 0;
    for (let i = 0; i < 500; i++) {
      const order = await walk(router);
      assert.deepEqual(
        order.slice(2).map((o) => o.id),
        [ids.s3, 'c/backup'],
      );
      if (order[0]?.id === ids.s1) s1First++;
    }
    assert.ok(s1First > 420 && s1First < 480, `s1 first in ${s1First} of 500 plans, weights say 450`);
    assert.deepEqual((await walk(router)).find((o) => o.id === ids.s2)?.to, '192.0.2.2:5062');
    // One NAPTR, one SRV and one A query per target: the rest came from the cache.
    assert.equal(dns.count('SRV _sip._udp.carrier.test'), 1);
    assert.equal(dns.count('A s1.carrier.test'), 1);
  });

  it('skips a target marked down and uses its sibling; the gateway goes while one target is up', async () => {
    const router = makeRouter(view({}, [ids.s1]), new FakeClock(), seededRandom(1), carrierDns());
    assert.deepEqual(
      (await walk(router)).map((o) => o.id),
      [ids.s2, ids.s3, 'c/backup'],
    );
  });

  it('counts every target against maxAttempts', async () => {
    const limited = trunkSchema.parse({ ...named, outbound: { ...named.outbound, maxAttempts: 2 } });
    const router = makeRouter(view({}), new FakeClock(), () => 0, carrierDns());
    assert.deepEqual(
      (await walk(router, limited)).map((o) => o.id),
      [ids.s1, ids.s2],
    );
  });

  it('a lookup that fails is one dns_failure attempt, then the next gateway', async () => {
    const dns = carrierDns();
    dns.errors.set('SRV _sip._udp.carrier.test', 'ESERVFAIL');
    const clock = new FakeClock();
    const plan = makeRouter(view({}), clock, () => 0, dns).plan(named);
    const first = await plan.next();
    assert.deepEqual(first?.destination, { ok: false, detail: 'SRV _sip._udp.carrier.test: ESERVFAIL' });
    assert.equal(first?.gatewayId, 'c/srv');
    const second = await plan.next('dns_failure');
    assert.equal(second?.gatewayId, 'c/backup');
    assert.match(
      plan.attempts[0]?.reason ?? '',
      /^dns_failure \(SRV _sip._udp.carrier.test: ESERVFAIL\): failover/,
    );
    assert.equal(plan.attempts[0]?.outcome, 'dns_failure');
  });

  it('a target whose name has no address is a dns_failure attempt; its sibling is tried next', async () => {
    const dns = carrierDns();
    dns.aRecords.delete('s1.carrier.test');
    const router = makeRouter(view({}), new FakeClock(), () => 0, dns);
    assert.deepEqual((await walk(router)).slice(0, 2), [
      { id: ids.s1, to: 'A/AAAA s1.carrier.test: ENOTFOUND' },
      { id: ids.s2, to: '192.0.2.2:5062' },
    ]);
  });

  it('a name with a port is one target: A/AAAA only, never NAPTR or SRV (RFC 3263 §4.2)', async () => {
    const dns = carrierDns();
    dns.aRecords.set('sbc.carrier.test', [{ address: '192.0.2.77', ttl: 60 }]);
    const withPort = trunkSchema.parse({
      name: 'c',
      outbound: { gateways: [{ name: 'sbc', host: 'sbc.carrier.test', port: 5080 }] },
    });
    assert.deepEqual(
      await walk(
        makeRouter(view({}), new FakeClock(), () => 0, dns),
        withPort,
      ),
      [{ id: 'c/sbc', to: '192.0.2.77:5080' }],
    );
    assert.deepEqual(dns.asked, ['A sbc.carrier.test']);
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
      'dns_failure',
      'cancelled',
    ] as const;
    assert.deepEqual(
      table.map((o) => {
        const { answered, networkFailure } = attemptHealth(o);
        return `${answered ? 'A' : '-'}${networkFailure ? 'F' : '-'}`;
      }),
      ['A-', '--', '-F', '-F', '-F', '-F', '-F', '--'],
    );
  });
});
