/**
 * The gauges the gateway samples once a second rather than on every change: bot audio queued
 * towards callers, each trunk gateway's health score and its inputs, and the CPS buckets.
 */

import type { GatewayMetrics } from '../control/index.js';
import type { CpsLimiter, HealthRegistry, MetricName } from '../trunks/index.js';
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
  // Reset first: a target a reload or a DNS answer removed, or an input with no data left in
  // its window, must not keep its last value.
  metrics.trunkScore.reset();
  metrics.trunkMetric.reset();
  for (const snapshot of health.snapshot()) {
    const { trunk, gateway } = gatewayLabels(snapshot.gatewayId);
    metrics.trunkScore.set({ trunk, gateway }, snapshot.score);
    const inputs: Array<[string, number | undefined]> = [
      ...Object.entries(snapshot.metrics).map(
        ([name, score]) =>
          [HEALTH_INPUT_LABELS[name as MetricName], score.value] as [string, number | undefined],
      ),
      ['loss', snapshot.media.lossFraction],
      ['jitter_ms', snapshot.media.jitterMs],
      ['rtt_ms', snapshot.media.rttMs],
    ];
    for (const [input, value] of inputs)
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
 * A gateway id, `<trunk>/<gateway>` or for one of its SRV or DNS targets
 * `<trunk>/<gateway>/<host>:<port>`, as the `trunk` and `gateway` labels every metric of a
 * gateway shares.
 */
export function gatewayLabels(gatewayId: string): { trunk: string; gateway: string } {
  const slash = gatewayId.indexOf('/');
  return { trunk: gatewayId.slice(0, slash), gateway: gatewayId.slice(slash + 1) };
}
