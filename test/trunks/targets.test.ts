import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gatewayFileSchema, makeSnapshot, type PatchbayConfig, trunkSchema } from '../../src/config/index.js';
import {
  type GatewayTarget,
  HealthRegistry,
  OptionsProber,
  type OptionsResult,
  OutboundRouter,
} from '../../src/trunks/index.js';
import { FakeClock } from '../../src/util/index.js';
import { FakeDns, fakeLocator } from './helpers/fake-dns.js';

const settle = () => new Promise((resolve) => setImmediate(resolve));

function config(probing: Record<string, unknown> = { enabled: false }): PatchbayConfig {
  const trunk = trunkSchema.parse({
    name: 'c',
    outbound: {
      gateways: [
        { name: 'srv', host: 'carrier.test' },
        { name: 'fixed', host: '192.0.2.9' },
      ],
    },
    probing,
  });
  return makeSnapshot(gatewayFileSchema.parse({}), [trunk]);
}

function carrierDns(): FakeDns {
  const dns = new FakeDns();
  dns.addService('carrier.test', [
    { host: 'a.carrier.test', port: 5061, priority: 10, weight: 1, address: '127.0.0.1' },
    { host: 'b.carrier.test', port: 5062, priority: 20, weight: 1, address: '127.0.0.2' },
  ]);
  return dns;
}

const ids = (registry: HealthRegistry) => registry.snapshot().map((s) => s.gatewayId);

describe('health and probing per resolved target', () => {
  it('a named gateway has one health entry per SRV target, a fixed gateway its own', async () => {
    const clock = new FakeClock();
    const registry = new HealthRegistry(clock, fakeLocator(clock, carrierDns()));
    registry.apply(config());
    assert.deepEqual(ids(registry), ['c/fixed'], 'SRV targets arrive once looked up');
    await settle();
    assert.deepEqual(ids(registry), ['c/fixed', 'c/srv/a.carrier.test:5061', 'c/srv/b.carrier.test:5062']);
    registry.close();
    assert.equal(clock.pendingTimers(), 0);
  });

  it('probes each target; a dead one is marked down and skipped while its sibling is used', async () => {
    const clock = new FakeClock();
    const probed: string[] = [];
    const prober = new OptionsProber(
      clock,
      async (target: GatewayTarget): Promise<OptionsResult> => {
        probed.push(`${target.host}:${target.port}`);
        return target.host === 'a.carrier.test' ? 'timeout' : { status: 200 };
      },
      () => 0,
    );
    const locator = fakeLocator(clock, carrierDns());
    const registry = new HealthRegistry(clock, locator, prober);
    registry.apply(config({ intervalMs: 1000, jitter: 0, failuresToMarkDown: 1 }));
    await settle();
    clock.advance(0);
    await settle();
    assert.deepEqual(probed.sort(), ['192.0.2.9:5060', 'a.carrier.test:5061', 'b.carrier.test:5062']);
    assert.equal(registry.get('c/srv/a.carrier.test:5061')?.snapshot().liveness, 'down');
    assert.deepEqual(registry.health('c/srv'), { score: 1, available: true }, 'the gateway lives on b');

    const plan = new OutboundRouter(registry, locator, clock, () => 0).plan(
      config().trunks.get('c') ?? assert.fail('trunk'),
    );
    const first = await plan.next();
    assert.equal(first?.gatewayId, 'c/srv/b.carrier.test:5062');
    assert.deepEqual(first?.destination, {
      ok: true,
      to: { host: 'b.carrier.test', port: 5062, address: '127.0.0.2' },
    });
    registry.close();
  });

  it('looks the name up again when the answer expires: new targets join, vanished ones are dropped', async () => {
    const clock = new FakeClock();
    const dns = carrierDns();
    const registry = new HealthRegistry(clock, fakeLocator(clock, dns));
    registry.apply(config());
    await settle();
    registry.get('c/srv/a.carrier.test:5061')?.recordAttempt({ answered: true, networkFailure: false });
    dns.addService('carrier.test', [
      { host: 'a.carrier.test', port: 5061, priority: 10, weight: 1, address: '127.0.0.1' },
      { host: 'c.carrier.test', port: 5063, priority: 20, weight: 1, address: '127.0.0.3' },
    ]);
    clock.advance(9_999);
    await settle();
    assert.ok(ids(registry).includes('c/srv/b.carrier.test:5062'), 'the answer is kept minTtlSec (10 s)');
    clock.advance(1);
    await settle();
    assert.deepEqual(ids(registry), ['c/fixed', 'c/srv/a.carrier.test:5061', 'c/srv/c.carrier.test:5063']);
    assert.equal(registry.get('c/srv/a.carrier.test:5061')?.snapshot().window.calls, 1, 'history kept');

    // A failing server keeps the targets known (the expired answer is served stale).
    dns.serverError = 'ESERVFAIL';
    clock.advance(10_000);
    await settle();
    assert.deepEqual(ids(registry), ['c/fixed', 'c/srv/a.carrier.test:5061', 'c/srv/c.carrier.test:5063']);
    registry.close();
    assert.equal(clock.pendingTimers(), 0);
  });

  it('metrics see each configured gateway by its name, whatever DNS answers, until a reload drops it', async () => {
    const clock = new FakeClock();
    const dns = carrierDns();
    const registry = new HealthRegistry(clock, fakeLocator(clock, dns));
    const summary = () =>
      registry
        .gateways()
        .map(({ trunk, gateway, score, targets }) => [trunk, gateway, score, targets.length]);
    registry.apply(config());
    assert.deepEqual(summary(), [['c', 'fixed', 1, 1]], 'an SRV gateway once its targets are known');
    await settle();
    assert.deepEqual(summary(), [
      ['c', 'srv', 1, 2],
      ['c', 'fixed', 1, 1],
    ]);
    // Health stays per target: a failing target lowers its own score; the gateway's is its best.
    const failing = registry.get('c/srv/a.carrier.test:5061') ?? assert.fail('target a');
    for (let i = 0; i < 20; i++) failing.recordAttempt({ answered: false, networkFailure: true });
    assert.ok(failing.score() < 1);
    assert.equal(registry.health('c/srv/b.carrier.test:5062').score, 1);
    assert.deepEqual(summary()[0], ['c', 'srv', 1, 2]);

    dns.addService('carrier.test', [
      { host: 'd.carrier.test', port: 5070, priority: 10, weight: 1, address: '127.0.0.4' },
    ]);
    clock.advance(10_000);
    await settle();
    assert.deepEqual(summary(), [
      ['c', 'srv', 1, 1],
      ['c', 'fixed', 1, 1],
    ]);
    const labels = JSON.stringify(registry.gateways().map(({ trunk, gateway }) => [trunk, gateway]));
    assert.ok(!labels.includes('carrier.test'), labels);

    registry.apply(makeSnapshot(gatewayFileSchema.parse({}), []));
    assert.deepEqual(summary(), []);
    registry.close();
  });

  it('a reload that drops the gateway stops its lookups', async () => {
    const clock = new FakeClock();
    const dns = carrierDns();
    const registry = new HealthRegistry(clock, fakeLocator(clock, dns));
    registry.apply(config());
    await settle();
    registry.apply(makeSnapshot(gatewayFileSchema.parse({}), []));
    assert.deepEqual(ids(registry), []);
    const asked = dns.asked.length;
    clock.advance(60_000);
    await settle();
    assert.equal(dns.asked.length, asked);
    registry.close();
  });
});
