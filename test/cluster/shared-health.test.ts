import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keys } from '../../src/cluster/scripts.js';
import { SharedHealth } from '../../src/cluster/shared-health.js';
import { gatewayFileSchema, makeSnapshot, trunkSchema } from '../../src/config/index.js';
import { emptyWindowTotals, HealthRegistry } from '../../src/trunks/index.js';
import { FakeClock } from '../../src/util/index.js';
import { fakeLocator } from '../trunks/helpers/fake-dns.js';

/** A RedisLink stand-in: records each script run and answers with `reply` (or fails as Redis away). */
class FakeLink {
  readonly runs: Array<{ name: string; keys: readonly string[]; args: ReadonlyArray<string | number> }> = [];
  readonly scripts = new Set<string>();
  reply: (name: string) => unknown = () => [];
  down = false;
  defineScript(name: string): void {
    this.scripts.add(name);
  }
  run(name: string, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    this.runs.push({ name, keys, args });
    return this.down ? Promise.reject(new Error('redis connecting')) : Promise.resolve(this.reply(name));
  }
}

function setup() {
  const clock = new FakeClock();
  const registry = new HealthRegistry(clock, fakeLocator(clock));
  const trunk = trunkSchema.parse({
    name: 'c',
    outbound: { gateways: [{ name: 'a', host: '192.0.2.1' }] },
  });
  registry.apply(makeSnapshot(gatewayFileSchema.parse({}), [trunk]));
  const link = new FakeLink();
  const shared = new SharedHealth(link, registry, 'node-a', 15_000);
  const target = () => registry.get('c/a') ?? assert.fail('target');
  return { clock, registry, link, shared, target };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('SharedHealth: a 503 Retry-After hold shared by every node (RFC 3261 §21.5.4)', () => {
  it('writes a hold at once, bounded to 5 minutes, keyed by target; nothing waits on it', async () => {
    const { link, shared, target } = setup();
    target().holdOff(24 * 3600_000);
    assert.deepEqual(link.runs, [
      { name: 'patchbayHoldTarget', keys: [keys.hold('c/a')], args: [300_000, 300_000] },
    ]);
    link.down = true;
    target().holdOff(1000);
    await settle(); // the rejection is swallowed: Redis away leaves the node-local hold
    assert.equal(target().available, false);
    shared.close();
    target().holdOff(1000);
    assert.equal(link.runs.length, 2, 'a closed cluster shares nothing more');
  });

  it('sends its own hold and takes in the cluster’s at each heartbeat, with the window sums', async () => {
    const { clock, link, registry, shared, target } = setup();
    target().holdOff(10_000);
    clock.advance(4000);
    const peer = { ...emptyWindowTotals(), seized: 3 };
    link.reply = () => [[[JSON.stringify(peer)], 6000]];
    await shared.share();
    const run = link.runs.at(-1);
    assert.deepEqual(run?.keys, [keys.health('c/a'), keys.hold('c/a')]);
    assert.deepEqual(run?.args.slice(0, 3), ['node-a', 15_000, 300_000]);
    assert.equal(run?.args[4], 6000, 'what is left of its own hold');
    assert.equal(target().snapshot().window.calls, 3);
    assert.equal(registry.snapshot()[0]?.retryAfterMs, 6000);
    shared.close();
  });

  it('learns a hold it never got, which ends on its own clock, Redis reachable or not', async () => {
    const { clock, link, shared, target } = setup();
    link.reply = () => [[[], 3000]];
    await shared.share();
    assert.deepEqual(
      [target().available, target().snapshot().retryAfterMs, target().ownHoldMs()],
      [false, 3000, 0],
    );
    link.down = true;
    await shared.share();
    clock.advance(2999);
    assert.equal(target().available, false, 'a failed read keeps the hold it knows');
    clock.advance(1);
    assert.equal(target().available, true);
    shared.close();
  });

  it('a reply it cannot read holds nothing and drops nothing else', async () => {
    const { link, shared, target } = setup();
    for (const reply of [[[[], 'soon']], [['not a list']], ['x'], [], [[[42, '{"seized":2}'], -5]]]) {
      link.reply = () => reply;
      await shared.share();
      assert.equal(target().available, true, JSON.stringify(reply));
    }
    assert.equal(target().snapshot().window.calls, 2, 'the readable sums of the last reply');
    shared.close();
  });
});
