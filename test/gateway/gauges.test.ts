import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayMetrics } from '../../src/control/metrics.js';
import type { CallController } from '../../src/gateway/call-controller.js';
import type { CallRegistry } from '../../src/gateway/call-registry.js';
import { scheduleGauges } from '../../src/gateway/gauges.js';
import type { HealthSnapshot } from '../../src/trunks/health.js';
import {
  CpsLimiter,
  type GatewayHealthSummary,
  type HealthRegistry,
  MemoryCpsStore,
} from '../../src/trunks/index.js';
import { FakeClock, silentLogger } from '../../src/util/index.js';

/** A target's snapshot with `calls` attempts at answer ratio `asr`, and `media` samples at `loss`. */
function target(
  asr: { value: number; calls: number } | undefined,
  loss?: { value: number; samples: number },
) {
  const none = { value: undefined, samples: 0 };
  const asrScore = asr ? { value: asr.value, samples: asr.calls } : none;
  return {
    metrics: {
      asr: asrScore,
      ccr: none,
      pddMs: none,
      astMs: none,
      acdSec: none,
      mos: loss ? { value: 4, samples: loss.samples } : none,
    },
    media: { lossFraction: loss?.value, jitterMs: undefined, rttMs: undefined },
  } as unknown as HealthSnapshot;
}

test('the sampled gauges: queued bot audio in frames, and no series left for a gateway or input that went', async () => {
  const clock = new FakeClock();
  const metrics = new GatewayMetrics({ processMetrics: false });
  let live = [{ queuedBotFrames: () => 2.5 }, { queuedBotFrames: () => 4 }];
  let gateways: GatewayHealthSummary[] = [
    { trunk: 'carrier', gateway: 'a', score: 1, targets: [target(undefined, { value: 0.02, samples: 1 })] },
    { trunk: 'carrier', gateway: 'b', score: 0.5, targets: [target(undefined)] },
  ];
  const gauges = scheduleGauges({
    clock,
    logger: silentLogger,
    metrics,
    calls: { live: () => live as unknown as CallController[] } as unknown as CallRegistry,
    health: { gateways: () => gateways } as unknown as HealthRegistry,
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
      'carrier b 0.5',
      'carrier a mos 4',
      'carrier a loss 0.02',
    ]);
    // A reload removed gateway b; a's loss has no samples left in its window.
    live = [];
    gateways = [{ trunk: 'carrier', gateway: 'a', score: 0.8, targets: [target(undefined)] }];
    clock.advance(1000);
    assert.deepEqual(await series(), ['to_caller 0', 'carrier a 0.8']);
  } finally {
    gauges.cancel();
  }
});

test("an SRV gateway is one series under its configured name: its targets' samples together", async () => {
  const clock = new FakeClock();
  const metrics = new GatewayMetrics({ processMetrics: false });
  const gauges = scheduleGauges({
    clock,
    logger: silentLogger,
    metrics,
    calls: { live: () => [] } as unknown as CallRegistry,
    health: {
      gateways: (): GatewayHealthSummary[] => [
        {
          trunk: 'carrier',
          gateway: 'srv',
          score: 0.9,
          targets: [
            // 3 of 4 answered on one target, 0 of 1 on the other: 3 of 5.
            target({ value: 0.75, calls: 4 }, { value: 0.1, samples: 1 }),
            target({ value: 0, calls: 1 }, { value: 0.01, samples: 9 }),
            target(undefined),
          ],
        },
      ],
    } as unknown as HealthRegistry,
    cps: new CpsLimiter(new MemoryCpsStore(), clock),
  });
  try {
    clock.advance(1000);
    const inputs = Object.fromEntries(
      (await metrics.trunkMetric.get()).values.map(({ labels, value }) => [labels.input, value]),
    );
    assert.equal(inputs['asr'], 0.6);
    assert.ok(Math.abs((inputs['loss'] ?? Number.NaN) - 0.019) < 1e-12, `loss ${inputs['loss']}`);
    assert.equal(inputs['mos'], 4);
    assert.deepEqual(Object.keys(inputs).sort(), ['asr', 'loss', 'mos']);
    const labels = [
      ...(await metrics.trunkScore.get()).values,
      ...(await metrics.trunkMetric.get()).values,
    ].map((value) => value.labels.gateway);
    assert.deepEqual(new Set(labels), new Set(['srv']));
  } finally {
    gauges.cancel();
  }
});
