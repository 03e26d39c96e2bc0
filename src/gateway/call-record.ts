/**
 * The call record: one JSON line per admitted call, written once when it ends. Declared field
 * by field so what operators parse is what the code writes.
 */
import type { JitterStats, RtpStreamStats } from '../media/index.js';
import { estimateMos, type AttemptRecord as PlannedAttempt } from '../trunks/index.js';
import { type CallEnd, type HangupParty, hangupPartyOf } from './call-end.js';
import type { BotStreamStats } from './ports.js';
import { receiveQuality } from './quality.js';

/** One outbound attempt: which gateway, when, how it ended and why the plan went on or not. */
export interface AttemptRecord {
  gateway: string;
  startedAt: string;
  durationMs: number;
  /** Final SIP status, or `timeout` / `transport_error` / `cancelled`. */
  outcome: string;
  /** The router's decision after it ("503 is a failover code", "answered"...). */
  reason: string | undefined;
}

export interface CallMediaRecord {
  rtp?: RtpStreamStats;
  jitterBuffer?: JitterStats;
  codec?: string;
  /** Lost Opus frames rebuilt from in-band FEC. */
  fecRecoveredFrames?: number;
  stream?: BotStreamStats;
}

export interface CallRecord {
  id: string;
  sipCallId: string | undefined;
  direction: 'inbound' | 'outbound';
  from: string;
  to: string;
  trunk: string | undefined;
  route: string | undefined;
  stream: string | undefined;
  startedAt: string;
  answeredAt: string | undefined;
  endedAt: string;
  setupMs: number | undefined;
  /** Answer to hang-up; 0 for a call never answered. */
  durationMs: number;
  attempts: AttemptRecord[];
  codec: string | undefined;
  end: CallEnd;
  hangupBy: HangupParty;
  media: CallMediaRecord;
  /** E-model MOS of the carrier leg's receive side, for answered calls. */
  mos: number | undefined;
}

/** What a call knows when it ends; the record derives the rest (duration, party, MOS). */
export interface CallFacts {
  id: string;
  sipCallId: string | undefined;
  direction: 'inbound' | 'outbound';
  from: string;
  to: string;
  trunk: string | undefined;
  route: string | undefined;
  stream: string | undefined;
  startedAtWall: number;
  answeredAtWall: number | undefined;
  endedAtWall: number;
  setupMs: number | undefined;
  attempts: AttemptRecord[];
  codec: string | undefined;
  end: CallEnd;
  media: CallMediaRecord;
}

export function buildCallRecord(facts: CallFacts): CallRecord {
  const { answeredAtWall, media } = facts;
  return {
    id: facts.id,
    sipCallId: facts.sipCallId,
    direction: facts.direction,
    from: facts.from,
    to: facts.to,
    trunk: facts.trunk,
    route: facts.route,
    stream: facts.stream,
    startedAt: new Date(facts.startedAtWall).toISOString(),
    answeredAt: answeredAtWall === undefined ? undefined : new Date(answeredAtWall).toISOString(),
    endedAt: new Date(facts.endedAtWall).toISOString(),
    setupMs: facts.setupMs,
    durationMs: answeredDurationMs(answeredAtWall, facts.endedAtWall),
    attempts: facts.attempts,
    codec: facts.codec,
    end: facts.end,
    hangupBy: hangupPartyOf(facts.end.cause),
    media,
    mos:
      answeredAtWall === undefined
        ? undefined
        : estimateMos(receiveQuality(media.rtp) ?? { lossFraction: 0, jitterMs: 0, rttMs: 0 }),
  };
}

/** Answer to hang-up, in ms; 0 until both happened. */
export function answeredDurationMs(
  answeredAtWall: number | undefined,
  endedAtWall: number | undefined,
): number {
  return answeredAtWall !== undefined && endedAtWall !== undefined
    ? Math.max(0, endedAtWall - answeredAtWall)
    : 0;
}

/** The router's attempt log as a record carries it (no gateway credentials). */
export function attemptRecords(planned: readonly PlannedAttempt[], wallOffsetMs: number): AttemptRecord[] {
  return planned.map((attempt) => ({
    gateway: attempt.gatewayId,
    startedAt: new Date(attempt.startedAtMs + wallOffsetMs).toISOString(),
    durationMs: Math.round((attempt.endedAtMs ?? attempt.startedAtMs) - attempt.startedAtMs),
    outcome: attempt.outcome ?? 'pending',
    reason: attempt.reason,
  }));
}
