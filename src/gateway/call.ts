/**
 * One call as the operator sees it: identity, state, timestamps, attempts and the parts that
 * carry it (SIP session, media leg, bot bridge). Its `record()` is the call-record line.
 */
import { randomUUID } from 'node:crypto';
import type { CallDetail, CallState, CallSummary } from '../control/backend.js';
import type { RtpStreamStats } from '../media/rtp/index.js';
import type { Session } from '../sip/index.js';
import type { StreamConnection } from '../stream/index.js';
import { estimateMos, type MediaSample } from '../trunks/index.js';
import type { Clock } from '../util/index.js';
import type { CallBridge } from './bridge.js';
import type { MediaLeg } from './media-leg.js';

export interface AttemptEntry {
  gateway: string;
  startedAt: string;
  durationMs: number;
  outcome: string;
}

export class Call {
  readonly id = randomUUID();
  state: CallState = 'initiated';
  readonly startedAtWall: number;
  readonly startedAtMs: number;
  answeredAtWall: number | undefined;
  endedAtWall: number | undefined;
  setupMs: number | undefined;
  trunk: string | undefined;
  route: string | undefined;
  streamUrl: string | undefined;
  codec: string | undefined;
  disposition: string | undefined;
  hangupBy: 'caller' | 'callee' | 'bot' | 'api' | 'gateway' | undefined;
  sipStatus: number | undefined;
  readonly attempts: AttemptEntry[] = [];
  session: Session | undefined;
  media: MediaLeg | undefined;
  bridge: CallBridge | undefined;
  stream: StreamConnection | undefined;
  /** Gives back the trunk's concurrency slot (set once the call holds one). */
  releaseSlot: (() => void) | undefined;
  /** Status events for the originator's callback (outbound calls). */
  onStatus: ((status: CallState, extra: Record<string, unknown>) => void) | undefined;
  /** Final media stats, frozen at hang-up so the record survives the leg closing. */
  finalMedia: Record<string, unknown> | undefined;

  constructor(
    readonly direction: 'inbound' | 'outbound',
    readonly from: string,
    readonly to: string,
    private readonly clock: Clock,
  ) {
    this.startedAtWall = clock.wallNow();
    this.startedAtMs = clock.now();
  }

  get ended(): boolean {
    return this.state === 'completed';
  }

  get sipCallId(): string | undefined {
    return this.session?.callId;
  }

  markAnswered(): void {
    this.state = 'answered';
    this.answeredAtWall = this.clock.wallNow();
    this.setupMs = Math.round(this.clock.now() - this.startedAtMs);
  }

  summary(): CallSummary {
    return {
      id: this.id,
      direction: this.direction,
      state: this.state,
      from: this.from,
      to: this.to,
      ...(this.trunk ? { trunk: this.trunk } : {}),
      startedAt: new Date(this.startedAtWall).toISOString(),
      ...(this.answeredAtWall ? { answeredAt: new Date(this.answeredAtWall).toISOString() } : {}),
      ...(this.endedAtWall ? { endedAt: new Date(this.endedAtWall).toISOString() } : {}),
    };
  }

  detail(): CallDetail {
    return { ...this.summary(), media: this.mediaStats() };
  }

  mediaStats(): Record<string, unknown> {
    if (this.finalMedia) return this.finalMedia;
    const leg = this.media?.stats();
    return {
      ...(leg
        ? { rtp: leg.rtp, jitterBuffer: leg.jitterBuffer, codec: leg.codec, fecRecovered: leg.fecRecovered }
        : {}),
      ...(this.bridge ? { stream: this.bridge.stats() } : {}),
    };
  }

  /** Freezes media stats before the media leg closes. */
  freezeMedia(): void {
    this.finalMedia ??= this.mediaStats();
  }

  /**
   * Receive quality of the carrier leg (RFC 3550 §6.4.1 loss and jitter as we measured them,
   * RTT from the carrier's RTCP), or undefined when no RTP arrived. An unmeasured RTT (a peer
   * sending no RTCP) counts as 0, so such a call is judged on loss and jitter alone.
   */
  mediaQuality(): MediaSample | undefined {
    const rtp = this.mediaStats().rtp as RtpStreamStats | undefined;
    const expected = (rtp?.packetsReceived ?? 0) + (rtp?.packetsLost ?? 0);
    if (!rtp || expected === 0) return undefined;
    return {
      lossFraction: rtp.packetsLost / expected,
      jitterMs: rtp.jitterMs,
      rttMs: rtp.roundTripTimeMs ?? 0,
    };
  }

  /** Answer to hangup (0 until both happened). */
  answeredDurationMs(): number {
    return this.answeredAtWall && this.endedAtWall ? Math.max(0, this.endedAtWall - this.answeredAtWall) : 0;
  }

  /** The call-record line (one JSON object per call). */
  record(): Record<string, unknown> {
    const media = this.mediaStats();
    const quality = this.mediaQuality();
    const durationMs = this.answeredDurationMs();
    return {
      id: this.id,
      sipCallId: this.sipCallId,
      direction: this.direction,
      from: this.from,
      to: this.to,
      trunk: this.trunk,
      route: this.route,
      stream: this.streamUrl,
      startedAt: new Date(this.startedAtWall).toISOString(),
      answeredAt: this.answeredAtWall ? new Date(this.answeredAtWall).toISOString() : undefined,
      endedAt: this.endedAtWall ? new Date(this.endedAtWall).toISOString() : undefined,
      setupMs: this.setupMs,
      durationMs,
      attempts: this.attempts,
      codec: this.codec,
      disposition: this.disposition,
      hangupBy: this.hangupBy,
      sipStatus: this.sipStatus,
      media,
      mos: this.answeredAtWall
        ? estimateMos(quality ?? { lossFraction: 0, jitterMs: 0, rttMs: 0 })
        : undefined,
    };
  }
}
