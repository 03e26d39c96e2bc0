/**
 * The call record: one JSON line per admitted call, written once when it ends. Declared field
 * by field so what operators parse is what the code writes.
 */
import type { CallState, CallSummary } from '../control/index.js';
import type { JitterStats, LateFrameCounts, MediaLegStats, RtpStreamStats } from '../media/index.js';
import { estimateMos, type AttemptRecord as PlannedAttempt } from '../trunks/index.js';
import { type Clock, shownUrl } from '../util/index.js';
import { type CallEnd, type HangupParty, hangupPartyOf } from './call-end.js';
import type { CallProgress, TakeoverRecord } from './call-progress.js';
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
  /** The number a carrier's 3xx redirected the attempt to (RFC 3261 §8.1.3.4). */
  redirectedTo?: string;
}

export interface CallMediaRecord {
  rtp?: RtpStreamStats;
  jitterBuffer?: JitterStats;
  codec?: string;
  /** Lost Opus frames rebuilt from in-band FEC. */
  fecRecoveredFrames?: number;
  /** Frames late at their tick sent as they came (caller frames that waited, bot slots held). */
  lateFrames?: LateFrameCounts;
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
  /** Set when the call was taken over from a dead node; media counts are then this node's only. */
  takeover: TakeoverRecord | undefined;
  /** An inbound call's STIR/SHAKEN verdict and attestation, when a trusted trunk gave either. */
  stirShaken?: StirShakenRecord;
}

/** What the bot was told of STIR/SHAKEN (`sipVerstat`, `sipAttestation`), kept for the record. */
export interface StirShakenRecord {
  verstat?: string;
  attestation?: string;
}

/** What a call knows when it ends, as the record says it; times as wall-clock milliseconds. */
export interface CallFacts
  extends Omit<CallRecord, 'startedAt' | 'answeredAt' | 'endedAt' | 'durationMs' | 'hangupBy' | 'mos'> {
  startedAtWall: number;
  answeredAtWall: number | undefined;
  endedAtWall: number;
}

/** The record of a finished call: its facts, plus what derives from them (duration, party, MOS). */
function buildCallRecord(facts: CallFacts): CallRecord {
  const { startedAtWall, answeredAtWall, endedAtWall, ...known } = facts;
  return {
    ...known,
    startedAt: new Date(startedAtWall).toISOString(),
    answeredAt: answeredAtWall === undefined ? undefined : new Date(answeredAtWall).toISOString(),
    endedAt: new Date(endedAtWall).toISOString(),
    durationMs: answeredDurationMs(answeredAtWall, endedAtWall),
    hangupBy: hangupPartyOf(facts.end.cause),
    mos:
      answeredAtWall === undefined
        ? undefined
        : estimateMos(receiveQuality(facts.media.rtp) ?? { lossFraction: 0, jitterMs: 0, rttMs: 0 }),
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
function attemptRecords(planned: readonly PlannedAttempt[], wallOffsetMs: number): AttemptRecord[] {
  return planned.map((attempt) => ({
    gateway: attempt.gatewayId,
    startedAt: new Date(attempt.startedAtMs + wallOffsetMs).toISOString(),
    durationMs: Math.round((attempt.endedAtMs ?? attempt.startedAtMs) - attempt.startedAtMs),
    outcome: attempt.outcome ?? 'pending',
    reason: attempt.reason,
    ...(attempt.redirectedTo === undefined ? {} : { redirectedTo: attempt.redirectedTo }),
  }));
}

/** What a call's media leg and bot stream counted, as the record and `/v1/calls/:id` show it. */
export function mediaRecordOf(
  leg: MediaLegStats | undefined,
  stream: BotStreamStats | undefined,
): CallMediaRecord {
  return {
    ...(leg?.rtp ? { rtp: leg.rtp } : {}),
    ...(leg?.jitterBuffer ? { jitterBuffer: leg.jitterBuffer } : {}),
    ...(leg
      ? { codec: leg.codec, fecRecoveredFrames: leg.fecRecoveredFrames, lateFrames: leg.lateFrames }
      : {}),
    ...(stream ? { stream } : {}),
  };
}

/** A call as the control API lists it. */
export function callSummary(
  call: Pick<CallSummary, 'id' | 'direction' | 'from' | 'to'>,
  state: CallState,
  startedAtWall: number,
  progress: CallProgress,
): CallSummary {
  const { trunk, answeredAtWall, endedAtWall } = progress;
  return {
    id: call.id,
    direction: call.direction,
    state,
    from: call.from,
    to: call.to,
    ...(trunk ? { trunk } : {}),
    startedAt: new Date(startedAtWall).toISOString(),
    ...(answeredAtWall ? { answeredAt: new Date(answeredAtWall).toISOString() } : {}),
    ...(endedAtWall ? { endedAt: new Date(endedAtWall).toISOString() } : {}),
  };
}

/** The record's facts that come from the call's progress (`nowWall` if it has not ended). */
function progressFacts(
  progress: CallProgress,
  nowWall: number,
): Pick<
  CallFacts,
  | 'trunk'
  | 'route'
  | 'stream'
  | 'answeredAtWall'
  | 'endedAtWall'
  | 'setupMs'
  | 'codec'
  | 'takeover'
  | 'stirShaken'
> {
  const { trunk, route, target, answeredAtWall, endedAtWall, setupMs, codec, takeover } = progress;
  const { sipVerstat: verstat, sipAttestation: attestation } = progress.callerIdentity ?? {};
  return {
    ...(verstat || attestation
      ? { stirShaken: { ...(verstat ? { verstat } : {}), ...(attestation ? { attestation } : {}) } }
      : {}),
    trunk,
    route,
    // Bots take tokens in the URL's query or user info: a record keeps neither.
    stream: target ? shownUrl(target.url) : undefined,
    answeredAtWall,
    endedAtWall: endedAtWall ?? nowWall,
    setupMs,
    codec,
    takeover,
  };
}

/** What the controller knows of a call when it ends. */
export interface EndedCall {
  call: Pick<CallRecord, 'id' | 'sipCallId' | 'direction' | 'from' | 'to'>;
  startedAtWall: number;
  progress: CallProgress;
  attempts: readonly PlannedAttempt[];
  end: CallEnd;
  media: CallMediaRecord;
}

/** The record of a call that ended now, its attempts' times on the wall clock. */
export function endedCallRecord(ended: EndedCall, clock: Clock): CallRecord {
  const { call, progress, attempts } = ended;
  return buildCallRecord({
    id: call.id,
    sipCallId: call.sipCallId,
    direction: call.direction,
    from: call.from,
    to: call.to,
    startedAtWall: ended.startedAtWall,
    ...progressFacts(progress, clock.wallNow()),
    attempts: attemptRecords(attempts, clock.wallNow() - clock.now()),
    end: ended.end,
    media: ended.media,
  });
}
