import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayMetrics } from '../../src/control/metrics.js';
import type { CallController } from '../../src/gateway/call-controller.js';
import type { CallRegistry } from '../../src/gateway/call-registry.js';
import { scheduleGauges } from '../../src/gateway/gauges.js';
import type { HealthSnapshot } from '../../src/trunks/health.js';
import { CpsLimiter, type HealthRegistry, MemoryCpsStore } from '../../src/trunks/index.js';
import { FakeClock, silentLogger } from '../../src/util/index.js';

function healthOf(gatewayId: string, score: number, lossFraction?: number): HealthSnapshot {
  return {
    gatewayId,
    score,
    media: { lossFraction, jitterMs: undefined, rttMs: undefined },
    metrics: {},
  } as unknown as HealthSnapshot;
}

test('the sampled gauges: queued bot audio in frames, and no series left for a gateway or input that went', async () => {
  const clock = new FakeClock();
  const metrics = new GatewayMetrics({ processMetrics: false });
  let live = [{ queuedBotFrames: () => 2.5 }, { queuedBotFrames: () => 4 }];
  let health = [healthOf('carrier/a', 1, 0.02), healthOf('carrier/b/sbc.example:5060', 0.5)];
  const gauges = scheduleGauges({
    clock,
    logger: silentLogger,
    metrics,
    calls: { live: () => live as unknown as CallController[] } as unknown as CallRegistry,
    health: { snapshot: () => health } as unknown as HealthRegistry,
    cps: new CpsLimiter(new MemoryCpsStore(), clock),
  });
  const series = async (): Promise<string[]> =>
    [
      ...(await metrics.streamQueueDepth.get()).values,
      ...(await metrics.trunkScore.get()).values,
      ...(await metrics.trunkMetric.get()).values,
    ].map(({ labels, value }) => `${Object.values(labels).join(' ')} ${value}`);
  try {
    clock.advance(1000);
    assert.deepEqual(await series(), [
      'to_caller 7', // 6.5 frames, rounded
      'carrier a 1',
      'carrier b/sbc.example:5060 0.5',
      'carrier a loss 0.02',
    ]);
    // A reload removed gateway b; a's loss has no samples left in its window.
    live = [];
    health = [healthOf('carrier/a', 0.8)];
    clock.advance(1000);
    assert.deepEqual(await series(), ['to_caller 0', 'carrier a 0.8']);
  } finally {
    gauges.cancel();
    metrics.close();
  }
});
