import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gatewayFileSchema, makeSnapshot, trunkSchema } from '../../src/config/index.js';
import {
  type GatewayTarget,
  HealthRegistry,
  OptionsProber,
  type OptionsResult,
  type ProbeTransition,
} from '../../src/trunks/index.js';
import { FakeClock, seededRandom } from '../../src/util/index.js';
import { fakeLocator } from './helpers/fake-dns.js';

const trunk = trunkSchema.parse({
  name: 'carrier',
  outbound: { gateways: [{ name: 'a', host: 'a.example', port: 5060 }] },
  probing: {
    intervalMs: 10_000,
    jitter: 0,
    failuresToMarkDown: 2,
    successesToMarkUp: 2,
    acceptedCodes: [200, 405],
  },
});
const target: GatewayTarget = {
  id: 'carrier/a',
  host: 'a.example',
  port: 5060,
  transport: 'udp',
  domain: 'a.example',
};
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Answers probes from a script, one result per probe. */
function scripted(results: OptionsResult[]) {
  let sent = 0;
  const send = async () => {
    const result = results[sent++];
    if (result === undefined) throw new Error('script exhausted');
    return result;
  };
  return { send, sent: () => sent };
}

describe('OptionsProber', () => {
  it('marks up on the first success, down after N failures, up again after M successes', async () => {
    const clock = new FakeClock();
    const script = scripted([
      { status: 405 },
      'timeout',
      { status: 503 },
      { status: 200 },
      'transport_error',
      { status: 200 },
      { status: 200 },
    ]);
    const prober = new OptionsProber(clock, script.send, () => 0);
    const transitions: ProbeTransition[] = [];
    prober.on('transition', (t) => transitions.push(t));
    prober.add('carrier/a', target, trunk.probing);
    for (let i = 0; i < 7; i++) {
      clock.advance(i === 0 ? 0 : 10_000);
      await settle();
    }
    assert.equal(script.sent(), 7);
    assert.deepEqual(
      transitions.map((t) => `${t.atMs} ${t.from}->${t.to} (${t.lastResult})`),
      ['0 unknown->up (405)', '20000 up->down (503)', '60000 down->up (200)'],
    );
    const snapshot = prober.snapshot()[0];
    assert.equal(snapshot?.consecutiveSuccesses, 2);
    assert.equal(snapshot?.probes, 7);
    prober.stop();
    assert.equal(clock.pendingTimers(), 0);
  });

  it('a throwing transition listener does not stop probing', async () => {
    const clock = new FakeClock();
    const script = scripted([{ status: 200 }, 'timeout', 'timeout', { status: 200 }]);
    const prober = new OptionsProber(clock, script.send, () => 0);
    const transitions: string[] = [];
    prober.on('transition', () => {
      throw new Error('subscriber bug');
    });
    prober.on('transition', (t) => transitions.push(t.to));
    prober.add('carrier/a', target, trunk.probing);
    for (let i = 0; i < 4; i++) {
      clock.advance(i === 0 ? 0 : 10_000);
      await settle();
    }
    assert.equal(script.sent(), 4);
    assert.deepEqual(transitions, ['up', 'down']);
    assert.equal(prober.state('carrier/a'), 'down');
    prober.stop();
  });

  it('spreads probes with jitter on the injected clock and never overlaps them', async () => {
    const clock = new FakeClock();
    let inFlight = 0;
    let maxInFlight = 0;
    const sendTimes: number[] = [];
    const send = () =>
      new Promise<OptionsResult>((resolve) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        sendTimes.push(clock.now());
        clock.setTimer(3000, () => {
          inFlight--;
          resolve({ status: 200 });
        });
      });
    const prober = new OptionsProber(clock, send, seededRandom(7));
    prober.add('carrier/a', target, { ...trunk.probing, jitter: 0.2 });
    for (let t = 0; t < 100_000; t += 500) {
      clock.advance(500);
      await settle();
    }
    assert.equal(maxInFlight, 1);
    const gaps = sendTimes.slice(1).map((t, i) => t - (sendTimes[i] ?? 0) - 3000);
    assert.ok(gaps.length >= 5);
    assert.ok(
      gaps.every((gap) => gap >= 8000 - 500 && gap <= 12_000 + 500),
      `gaps ${gaps}`,
    );
    assert.ok(new Set(gaps).size > 1, 'intervals are jittered');
    prober.stop();
  });

  it('a gateway that never answers is marked down on the probe deadline, not Timer F', async () => {
    const clock = new FakeClock();
    let sent = 0;
    const silent = () => {
      sent++;
      return new Promise<OptionsResult>(() => undefined);
    };
    const prober = new OptionsProber(clock, silent, () => 0);
    const transitions: ProbeTransition[] = [];
    prober.on('transition', (t) => transitions.push(t));
    prober.add('carrier/a', target, { ...trunk.probing, timeoutMs: 2000 });
    for (let t = 0; t <= 30_000; t += 500) {
      clock.advance(t === 0 ? 0 : 500);
      await settle();
    }
    // Probes at 0, 12 000 and 24 000 ms; each times out 2 s later; the second one marks down.
    assert.equal(sent, 3);
    assert.deepEqual(
      transitions.map((t) => `${t.atMs} ${t.from}->${t.to} (${t.lastResult})`),
      ['14000 unknown->down (timeout)'],
    );
    prober.stop();
    assert.equal(clock.pendingTimers(), 0);
  });

  it('feeds the health registry: a gateway marked down is unavailable to the router', async () => {
    const clock = new FakeClock();
    const script = scripted(['timeout', 'timeout']);
    const prober = new OptionsProber(clock, script.send, () => 0);
    const registry = new HealthRegistry(clock, fakeLocator(clock), prober);
    registry.apply(makeSnapshot(gatewayFileSchema.parse({}), [trunk]));
    assert.deepEqual(registry.health('carrier/a'), { score: 1, available: true });
    clock.advance(0);
    await settle();
    clock.advance(10_000);
    await settle();
    assert.deepEqual(registry.health('carrier/a'), { score: 0, available: false });
    assert.equal(registry.snapshot()[0]?.liveness, 'down');
    registry.close();
  });
});

describe('HealthRegistry.apply on reload', () => {
  it('keeps history and probe state for unchanged gateways, drops removed ones, resets changed ones', async () => {
    const clock = new FakeClock();
    const prober = new OptionsProber(
      clock,
      async () => ({ status: 200 }),
      () => 0,
    );
    const registry = new HealthRegistry(clock, fakeLocator(clock), prober);
    const gatewayFile = gatewayFileSchema.parse({});
    registry.apply(makeSnapshot(gatewayFile, [trunk]));
    clock.advance(0);
    await settle();
    registry.get('carrier/a')?.recordAttempt({ answered: true, networkFailure: false });
    registry.apply(makeSnapshot(gatewayFile, [trunk]));
    assert.equal(registry.get('carrier/a')?.snapshot().window.calls, 1);
    assert.equal(prober.state('carrier/a'), 'up');

    const retuned = trunkSchema.parse({ ...trunk, health: { minCalls: 1 } });
    registry.apply(makeSnapshot(gatewayFile, [retuned]));
    assert.equal(registry.get('carrier/a')?.snapshot().window.calls, 0);
    assert.equal(registry.get('carrier/a')?.snapshot().liveness, 'up');

    registry.apply(makeSnapshot(gatewayFile, []));
    assert.equal(registry.get('carrier/a'), undefined);
    assert.equal(prober.state('carrier/a'), undefined);
    registry.close();
    assert.equal(clock.pendingTimers(), 0);
  });

  it("a Retry-After hold, this node's or the cluster's, outlives new health settings: it is the carrier's word", () => {
    const clock = new FakeClock();
    const registry = new HealthRegistry(clock, fakeLocator(clock));
    const gatewayFile = gatewayFileSchema.parse({});
    registry.apply(makeSnapshot(gatewayFile, [trunk]));
    registry.get('carrier/a')?.holdOff(60_000);
    registry.get('carrier/a')?.setSharedHold(90_000);
    clock.advance(10_000);
    registry.apply(makeSnapshot(gatewayFile, [trunkSchema.parse({ ...trunk, health: { minCalls: 1 } })]));
    const held = registry.get('carrier/a');
    assert.deepEqual(
      [held?.available, held?.ownHoldMs(), held?.snapshot().retryAfterMs],
      [false, 50_000, 80_000],
    );
    clock.advance(80_000);
    assert.equal(registry.get('carrier/a')?.available, true);
    registry.close();
  });
});
