/**
 * The gauges the gateway samples once a second rather than on every change: bot audio queued
 * towards callers, each configured trunk gateway's health score and its inputs (its SRV
 * targets' together: labels come from the config, never from DNS), and the CPS buckets.
 */

import type { GatewayMetrics } from '../control/index.js';
import type { CpsLimiter, HealthRegistry, HealthSnapshot, MetricName } from '../trunks/index.js';
import type { Clock, Logger, TimerHandle } from '../util/index.js';
import type { CallRegistry } from './call-registry.js';

const GAUGE_INTERVAL_MS = 1000;

/** Health-score inputs as `patchbay_trunk_health_input`'s `input` label names them. */
const HEALTH_INPUT_LABELS: Record<MetricName, string> = {
  asr: 'asr',
  ccr: 'ccr',
  pddMs: 'pdd_ms',
  astMs: 'ast_ms',
  acdSec: 'acd_s',
  mos: 'mos',
};

export interface GaugeSources {
  clock: Clock;
  logger: Logger;
  metrics: GatewayMetrics;
  calls: CallRegistry;
  health: HealthRegistry;
  cps: CpsLimiter;
}

/** Samples every GAUGE_INTERVAL_MS until cancelled. */
export function scheduleGauges(sources: GaugeSources): { cancel(): void } {
  let timer: TimerHandle | undefined;
  let cancelled = false;
  const schedule = (): void => {
    timer = sources.clock.setTimer(GAUGE_INTERVAL_MS, () => {
      updateGauges(sources);
      if (!cancelled) schedule();
    });
  };
  schedule();
  return {
    cancel: () => {
      cancelled = true;
      timer?.cancel();
    },
  };
}

function updateGauges({ metrics, calls, health, cps, logger }: GaugeSources): void {
  let queued = 0;
  for (const call of calls.live()) queued += call.queuedBotFrames();
  metrics.streamQueueDepth.set({ direction: 'to_caller' }, Math.round(queued));
  // Reset first: a gateway a reload removed (or whose targets DNS no longer gives), or an
  // input with no data left in its window, must not keep its last value.
  metrics.trunkScore.reset();
  metrics.trunkMetric.reset();
  for (const { trunk, gateway, score, targets } of health.gateways()) {
    metrics.trunkScore.set({ trunk, gateway }, score);
    for (const [input, value] of pooledInputs(targets))
      if (value !== undefined) metrics.trunkMetric.set({ trunk, gateway, input }, value);
  }
  void cps.snapshot().then(
    ({ buckets }) => {
      metrics.cpsTokens.reset();
      // Per-number buckets are as many as the numbers called: not a label set to export.
      for (const bucket of buckets)
        if (!bucket.key.startsWith('number:')) metrics.cpsTokens.set({ key: bucket.key }, bucket.tokens);
    },
    (error: unknown) => logger.debug({ err: error }, 'CPS snapshot failed'),
  );
}

/**
 * A gateway's health inputs over its targets' samples together (one target: its own inputs):
 * each the mean over every sample of every target, MOS the targets' MOS weighted by their
 * media samples. Undefined: no sample in the window.
 */
function pooledInputs(targets: readonly HealthSnapshot[]): Array<[string, number | undefined]> {
  const pool = (sample: (target: HealthSnapshot) => { value: number | undefined; samples: number }) =>
    weightedMean(targets.map(sample));
  // Loss, jitter and RTT are means over the media samples MOS counts.
  const media = (key: keyof HealthSnapshot['media']) =>
    pool((target) => ({ value: target.media[key], samples: target.metrics.mos.samples }));
  return [
    ...(Object.keys(HEALTH_INPUT_LABELS) as MetricName[]).map((name): [string, number | undefined] => [
      HEALTH_INPUT_LABELS[name],
      pool((target) => target.metrics[name]),
    ]),
    ['loss', media('lossFraction')],
    ['jitter_ms', media('jitterMs')],
    ['rtt_ms', media('rttMs')],
  ];
}

function weightedMean(
  parts: ReadonlyArray<{ value: number | undefined; samples: number }>,
): number | undefined {
  let sum = 0;
  let samples = 0;
  for (const part of parts) {
    if (part.value === undefined || part.samples <= 0) continue;
    sum += part.value * part.samples;
    samples += part.samples;
  }
  return samples > 0 ? sum / samples : undefined;
}
