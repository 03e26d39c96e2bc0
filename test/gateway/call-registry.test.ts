/**
 * What the registry keeps of a finished call: its final detail as plain data, never the
 * CallController (with its session, media leg and bot stream), so 1,000 remembered calls cost
 * their JSON and nothing more. Checked with a WeakRef and a full garbage collection.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CallController } from '../../src/gateway/call-controller.js';
import { CallRegistry } from '../../src/gateway/call-registry.js';
import { CARRIER_A, CallHarness, flush } from './helpers/call-harness.js';

/** A full collection: global.gc under --expose-gc, else V8's, switched on here (the test runner passes no node flags). */
function collector(): () => void {
  if (global.gc) return global.gc;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Whether `ref`'s target survives a full collection (after the turn that made or read the ref). */
async function survivesCollection(ref: WeakRef<object>): Promise<boolean> {
  await nextTurn();
  collector()();
  return ref.deref() !== undefined;
}

/** A call placed through the harness that nothing but `registry` could still hold once it is done. */
function unrunCall(registry: CallRegistry): { ref: WeakRef<CallController>; id: string } {
  const harness = new CallHarness();
  const target = harness.config.gateway.routes[0]?.target ?? assert.fail('no route');
  const { call } = CallController.outbound(harness.ports, {
    trunk: harness.trunk,
    target,
    from: '+15551230000',
    to: '+15559876543',
    ringTimeoutMs: 60_000,
  });
  registry.add(call);
  harness.close();
  return { ref: new WeakRef(call), id: call.id };
}

/** Hangs the live call up and removes it, as the gateway does on its `ended` (no local outlives this). */
function endAndRemove(registry: CallRegistry, id: string): void {
  const call = registry.get(id) ?? assert.fail('live call missing');
  call.hangup('api_hangup');
  registry.remove(call);
}

/** An inbound call answered, bridged and hung up by the carrier, in a harness dropped afterwards. */
async function finishedCall(): Promise<{ registry: CallRegistry; ref: WeakRef<CallController>; id: string }> {
  const harness = new CallHarness();
  const outbound = harness.carrier(CARRIER_A).call();
  await flush();
  assert.equal((await outbound.outcome).kind, 'answered');
  await outbound.bye();
  await flush();
  const call = harness.observed(0).call;
  assert.equal(call.state, 'completed');
  harness.close();
  return { registry: harness.registry, ref: new WeakRef(call), id: call.id };
}

describe('CallRegistry', () => {
  it('holds a live call, and lets it go once it is removed', async () => {
    const registry = new CallRegistry();
    const { ref, id } = unrunCall(registry);
    assert.ok(await survivesCollection(ref), 'the registry holds a live call');

    endAndRemove(registry, id);
    assert.equal(registry.get(id), undefined);
    assert.equal(await survivesCollection(ref), false, 'a removed call is not retained');
    assert.equal(registry.detail(id)?.state, 'completed');
  });

  it('keeps a finished call as plain data and does not retain its controller', async () => {
    const { registry, ref, id } = await finishedCall();
    assert.equal(await survivesCollection(ref), false, 'the finished call was collected');
    const detail = registry.detail(id) ?? assert.fail('finished call forgotten');
    // structuredClone turns class instances into plain objects and refuses functions, so a
    // strict deep-equal clone means the detail is data only.
    assert.deepStrictEqual(structuredClone(detail), detail);
    assert.equal(detail.state, 'completed');
    assert.ok(detail.endedAt);
    assert.ok(detail.media.stream, 'the bot stream statistics as the call ended');
  });
});
