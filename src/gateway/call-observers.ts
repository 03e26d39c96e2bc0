/**
 * What the gateway does when a call reports: Prometheus metrics, the call record, the
 * answering gateway's health window and the originator's status callback. Each subscribes to
 * the call's events; none of them can break the call (the controller's emitter is safe).
 */

import type { GatewayMetrics } from '../control/index.js';
import type { RateLimitedWarning } from '../stream/index.js';
import { cpsBucketLabel, type HealthRegistry } from '../trunks/index.js';
import type { Logger } from '../util/index.js';
import type { CallController } from './call-controller.js';
import { type CallEndCause, hangupPartyOf } from './call-end.js';
import type { CallRecord } from './call-record.js';
import type { CallRecordWriter } from './call-records.js';
import type { BotStreamStats } from './ports.js';
import { receiveQuality } from './quality.js';
import { StatusCallback } from './status-callback.js';

/** What the rate-limited 'calls refused' warning logs of the latest refusal. */
export interface RefusedCall {
  callId: string;
  trunk: string;
  cause: CallEndCause;
  detail: string | undefined;
}

export interface CallObservers {
  metrics: GatewayMetrics;
  health: HealthRegistry;
  records: CallRecordWriter | undefined;
  logger: Logger;
  /** Calls refused before admission (a flood is one per INVITE): logged at most every 5 s. */
  refusals: RateLimitedWarning<RefusedCall>;
  statusCallback?: string;
}

export function observeCall(call: CallController, observers: CallObservers): void {
  const { metrics } = observers;
  const direction = call.direction;
  const trunk = (): string => call.summary().trunk ?? 'unknown';
  call.once('admitted', () => metrics.activeCalls.inc({ direction }));
  call.on('attempt', ({ trunk, gateway, status }) =>
    metrics.callAttemptsTotal.inc({ trunk, gateway, status: String(status) }),
  );
  call.once('answered', () => metrics.callsTotal.inc({ direction, trunk: trunk(), outcome: 'answered' }));
  call.once('cpsRefused', (bucket) => metrics.cpsRejectedTotal.inc({ key: cpsBucketLabel(bucket) }));
  call.once('ended', (end, record) => {
    // Answered calls were counted on answer; the rest are counted by how they ended, but for
    // one taken over, which the node that answered it counted.
    const answered = record?.answeredAt !== undefined;
    if (!answered && !call.takenOver)
      metrics.callsTotal.inc({ direction, trunk: trunk(), outcome: end.cause });
    if (!record) {
      observers.refusals.warn({ callId: call.id, trunk: trunk(), cause: end.cause, detail: end.detail });
      return;
    }
    metrics.activeCalls.dec({ direction });
    recordMediaQuality(metrics, record);
    if (answered) recordGatewayHealth(observers.health, record);
    observers.records?.write(record);
  });
  if (observers.statusCallback) {
    const callback = new StatusCallback(observers.statusCallback, observers.logger);
    call.on('state', (status, info) =>
      callback.send({
        callId: call.id,
        status,
        ...(info.end ? { reason: info.end.cause } : {}),
        ...(info.end?.sipStatus === undefined ? {} : { sipStatus: info.end.sipStatus }),
        ...(info.end ? { hangupBy: hangupPartyOf(info.end.cause) } : {}),
        ...(info.durationMs === undefined ? {} : { durationMs: info.durationMs }),
      }),
    );
  }
}

/** A call claimed from a dead node: counted once, by how its takeover went. */
export function observeTakeover(call: CallController, metrics: GatewayMetrics): void {
  let settled = false;
  call.once('resumed', ({ outcome, gapMs }) => {
    settled = true;
    metrics.takeoversTotal.inc({ outcome });
    if (outcome === 'resumed') metrics.takeoverGap.observe(gapMs / 1000);
  });
  // Before its re-INVITE was answered: a BYE held through the gap, or no room on this node.
  call.once('ended', () => {
    if (!settled) metrics.takeoversTotal.inc({ outcome: 'ended' });
  });
}

function recordMediaQuality(metrics: GatewayMetrics, record: CallRecord): void {
  const jitter = record.media.jitterBuffer;
  if (jitter && jitter.jitterBufferEmittedCount > 0)
    metrics.jitterBufferDelay.observe(jitter.jitterBufferDelay / jitter.jitterBufferEmittedCount);
  if (jitter && jitter.concealedSamples > 0 && jitter.sampleRate > 0)
    metrics.concealedSecondsTotal.inc(jitter.concealedSamples / jitter.sampleRate);
  const stream = record.media.stream;
  if (stream) countBotStream(metrics, stream);
  const recovered = record.media.fecRecoveredFrames ?? 0;
  if (recovered > 0) metrics.fecRecoveredTotal.inc(recovered);
  const late = record.media.lateFrames;
  if (late) {
    countLate(metrics, 'caller_to_bot', late.callerWaited, late.callerArrived);
    countLate(metrics, 'bot_to_caller', late.botHeld, late.botArrived);
  }
  const dropped = record.media.rtp?.srtp?.dropped;
  for (const reason of ['unkeyed', 'auth', 'replay', 'expired'] as const)
    if (dropped && dropped[reason] > 0) metrics.srtpDroppedTotal.inc({ reason }, dropped[reason]);
}

function countBotStream(metrics: GatewayMetrics, stream: BotStreamStats): void {
  if (stream.socketPauses > 0) metrics.botSocketPausesTotal.inc(stream.socketPauses);
  if (stream.callerFramesDropped > 0) metrics.botCallerFramesDroppedTotal.inc(stream.callerFramesDropped);
  if (stream.botMessagesInvalid > 0)
    metrics.botMessagesIgnoredTotal.inc({ reason: 'invalid' }, stream.botMessagesInvalid);
  if (stream.botMessagesDropped > 0)
    metrics.botMessagesIgnoredTotal.inc({ reason: 'queue_full' }, stream.botMessagesDropped);
  if (stream.reconnects > 0) metrics.botReconnectsTotal.inc(stream.reconnects);
  if (stream.trimmedFrames > 0) metrics.playoutTrimmedFramesTotal.inc(stream.trimmedFrames);
  if (stream.compressedMs > 0) metrics.playoutCompressedSecondsTotal.inc(stream.compressedMs / 1000);
}

function countLate(
  metrics: GatewayMetrics,
  direction: 'caller_to_bot' | 'bot_to_caller',
  waited: number,
  arrived: number,
): void {
  if (arrived > 0) metrics.lateFramesTotal.inc({ direction, outcome: 'arrived' }, arrived);
  if (waited > arrived) metrics.lateFramesTotal.inc({ direction, outcome: 'missed' }, waited - arrived);
}

/**
 * An answered outbound call tells its gateway's health window how long it lasted (ACD) and
 * how its media arrived (loss, jitter, RTT → MOS); the attempts fed ASR, CCR, PDD and AST.
 */
function recordGatewayHealth(health: HealthRegistry, record: CallRecord): void {
  if (record.direction !== 'outbound') return;
  const answering = record.attempts.at(-1);
  const gateway = answering ? health.get(answering.gateway) : undefined;
  if (!gateway) return;
  gateway.recordCallEnded(record.durationMs / 1000);
  const quality = receiveQuality(record.media.rtp);
  if (quality) gateway.recordMedia(quality);
}
