/**
 * The narrow ports a CallController is built from. The gateway passes real ones (the SIP user
 * agent, RTP media legs, WebSocket bots, trunk limits); call-flow tests pass fakes, so every
 * call flow runs in-process on a FakeClock.
 */
import type { StreamTarget, TrunkConfig } from '../config/index.js';
import type { CallSummary } from '../control/index.js';
import type {
  BotAudioPull,
  BridgeRate,
  JitterDelayBounds,
  MediaLegEvents,
  MediaLegStats,
  NegotiatedMedia,
  RtpPosition,
  UdpDropTable,
} from '../media/index.js';
import type {
  CallOptions,
  OfferAnswerer,
  OutboundSession,
  Session,
  SipRequest,
  TransportAddress,
} from '../sip/index.js';
import { NO_PLAYOUT_COUNTS, type PlayoutStats } from '../stream/index.js';
import type {
  AttemptPlan,
  Admission as CpsAdmission,
  CpsKeyLimit,
  GatewayHealth,
  InboundDecision,
  OverflowPolicy,
} from '../trunks/index.js';
import type { Clock, Logger, MediaEncryption } from '../util/index.js';
import type { CallProgress, TakeoverRecord } from './call-progress.js';
import type { CallerIdentityParameters, CallerIdOverride } from './caller-id.js';
import type { AuthChallenge } from './digest-support.js';

/** What a call needs of its media leg (MediaLeg; a fake in call-flow tests). */
export interface CallMediaLeg {
  readonly localPort: number;
  start(media: NegotiatedMedia): Promise<void>;
  update(media: NegotiatedMedia): Promise<void>;
  /** Throws (or rejects, in a media worker) when the leg refuses the digits. */
  sendDtmf(digits: string, durationMs?: number): void | Promise<void>;
  stats(): MediaLegStats;
  /** stats().inactiveMs alone: read every second of every call (the inactivity timeout). */
  readonly inactiveMs: number;
  /** The stream towards the caller now: SSRC, next sequence number and timestamp. */
  position(): RtpPosition;
  close(): void;
  /**
   * Resolves once `stats()` (and its bot's) are final after `close()`, for the record: a media
   * worker's leg waits for the worker's figures at the close (`media.workers`); absent for a
   * leg on the main thread, whose figures are final at once.
   */
  settled?(): Promise<void>;
  /**
   * Brings `stats()` (and its bot's) up to now for a reader that shows them: a media worker's
   * leg asks the worker; absent for a leg on the main thread, whose figures are always now.
   */
  refresh?(): Promise<void>;
  attachBotAudio(pull: BotAudioPull): void;
  /**
   * Frames that play as they came go as `callerMulaw` (the carrier's PCMU bytes) rather than
   * `callerAudio`; absent where the leg never passes them (a leg proxied from a media worker).
   */
  passCallerMulaw?(): void;
  /** Bot audio was queued: a tick slot held for it is sent now (see BotAudioPull). */
  botAudioReady(): void;
  /** Kernel drops on the leg's sockets since the last sample (one /proc read for all legs). */
  sampleSocketDrops(table: UdpDropTable): number;
  on<K extends keyof MediaLegEvents & string>(
    event: K,
    listener: (...args: MediaLegEvents[K]) => void,
  ): unknown;
  /**
   * Resolves (with a detail for the record) when the media worker carrying this leg died, so
   * the call must end (`media.workers`); absent for a leg on the main thread.
   */
  readonly lost?: Promise<string>;
}

/** A media step that failed because the media worker carrying it died. */
export class MediaWorkerLost extends Error {}

export interface MediaLegFactory {
  /**
   * Binds an RTP port for `callId`, bridged to the bot at `bridgeRate`, with the trunk's media
   * policy: its jitter buffer bounds, and whether only SRTP is taken (`encryption`).
   * `continueFrom` continues the stream another node sent (call takeover).
   */
  open(
    callId: string,
    bridgeRate: BridgeRate,
    media: { jitterBuffer: JitterDelayBounds; encryption: MediaEncryption },
    continueFrom?: RtpPosition,
  ): Promise<CallMediaLeg>;
}

/** Who the bot is told the call is (Twilio `start`). */
export interface BotCallInfo {
  callSid: string;
  from: string;
  to: string;
  direction: 'inbound' | 'outbound';
  /** An inbound caller's identity headers, added to the `start` custom parameters. */
  callerIdentity?: CallerIdentityParameters;
  /** The call was taken over from a dead node: `start` says so (custom parameter `resumed`). */
  resumed?: true;
}

/** What the bot asks of the call, and how its socket ends. */
export interface BotHooks {
  hangup(reason: string): void;
  transfer(target: string): void;
  /** The socket is gone for good (after the route's reconnect policy). */
  gone(reason: string): void;
}

/** What the bridge counted between the media leg and the bot. */
export interface BridgeStats extends PlayoutStats {
  botInputs: number;
  dtmfFromCaller: number;
  dtmfToCaller: number;
}

export interface BotStreamStats extends BridgeStats {
  /** Times the bot's socket was paused for using its budget of messages per 20 ms window. */
  socketPauses: number;
  /** Caller audio frames sent to the bot. */
  callerFramesSent: number;
  /**
   * Caller audio frames never sent: the oldest dropped while the bot left its socket's buffer
   * over its bound, and those still queued when the stream ended or was lost.
   */
  callerFramesDropped: number;
  /** Messages the bot sent, every kind, valid or not. */
  botMessages: number;
  /** Bot messages the dialect refused (not JSON, wrong stream id, bad payload...): ignored. */
  botMessagesInvalid: number;
  /** Bot messages dropped unparsed, its inbound queue being full (a flood). */
  botMessagesDropped: number;
  /** Bot messages that came after `stop`, dropped unparsed: a real-time bot's frames in flight. */
  botMessagesAfterStop: number;
  /** DTMF, mark echoes and events not sent because the bot had stopped reading its socket. */
  controlDropped: number;
  /** Times the stream was opened again after its socket was lost (the route's reconnect policy). */
  reconnects: number;
}

/** The figures of a bot stream that has counted nothing yet. */
export const NO_BOT_STREAM_STATS: Readonly<BotStreamStats> = {
  ...NO_PLAYOUT_COUNTS,
  queuedSamples: 0,
  botInputs: 0,
  dtmfFromCaller: 0,
  dtmfToCaller: 0,
  socketPauses: 0,
  callerFramesSent: 0,
  callerFramesDropped: 0,
  botMessages: 0,
  botMessagesInvalid: 0,
  botMessagesDropped: 0,
  botMessagesAfterStop: 0,
  controlDropped: 0,
  reconnects: 0,
};

/** A bot stream bridged to a call's media leg. */
export interface BotStream {
  /** Resolves once the socket is open; rejects on timeout or refusal. */
  readonly ready: Promise<void>;
  /**
   * A digit the caller sent by SIP INFO, with its Duration when the INFO gave one (RFC 4733
   * digits come through the media leg).
   */
  callerDtmf(digit: string, durationMs?: number): void;
  /** Sends `stop` and closes; idempotent. */
  close(reason: string): void;
  stats(): BotStreamStats;
}

export interface BotConnector {
  connect(call: BotCallInfo, target: StreamTarget, leg: CallMediaLeg, hooks: BotHooks): BotStream;
}

/** A place among the gateway's calls and one of the trunk's concurrency slots. */
export type CallSlot =
  | { ok: true; release(): void }
  | { ok: false; cause: 'rejected_concurrency' | 'draining' | 'rejected_overload'; retryAfterSec: number };

/** The call asking for a slot: a cluster lists it in its call registry while it holds one. */
export interface AdmittedCall {
  readonly id: string;
  summary(): CallSummary;
}

export interface CallAdmission {
  /** Async: in a cluster the slot is a lease in Redis (one round trip). */
  admit(trunk: TrunkConfig, call: AdmittedCall): Promise<CallSlot>;
  /** `ended` aborts when the call ends: a call still queued leaves the queue without a token. */
  cps(limits: readonly CpsKeyLimit[], overflow: OverflowPolicy, ended?: AbortSignal): Promise<CpsAdmission>;
}

/** Inbound policy: which trunk and route an INVITE belongs to, and its digest check. */
export interface InboundPolicy {
  /**
   * The number an INVITE from `sourceAddress` calls (its Request-URI user, or the To user on a
   * registration) and its caller's, in E.164 when its trunk sets `inboundCountry`.
   */
  numbersOf(
    sourceAddress: string,
    requestUser: string | undefined,
    toUser: string | undefined,
    fromUser: string,
  ): { called: string; caller: string };
  /**
   * The trunk (by registered Contact `requestUser` from its registrar, else by source and
   * transport; over mutual TLS, named by the client certificate) and route of a call.
   */
  match(source: TransportAddress, called: string, requestUser: string): InboundDecision;
  /** A 401/403 answer when the trunk requires credentials the INVITE lacks. */
  authenticate(trunk: TrunkConfig, invite: SipRequest): AuthChallenge | undefined;
  /**
   * The bot a call streams to: its route's, or where a CPS overflow `reroute` sends it, the
   * route's target with that URL and the credentials of a route to it (targetWithCredentials),
   * never the refusing route's.
   */
  streamTarget(routeTarget: StreamTarget, cps: CpsAdmission): StreamTarget;
}

/** Outbound: the failover plan, each gateway's health, and the SIP user agent's dialling. */
export interface OutboundDialer {
  plan(trunk: TrunkConfig): AttemptPlan;
  health(gatewayId: string): GatewayHealth | undefined;
  dial(trunk: TrunkConfig, options: CallOptions): OutboundSession;
  /** A trunk with an outbound section, by name (CPS overflow 'reroute'). */
  trunk(name: string): TrunkConfig | undefined;
}

export interface CallPorts {
  clock: Clock;
  logger: Logger;
  mediaLegs: MediaLegFactory;
  bots: BotConnector;
  admission: CallAdmission;
  inbound: InboundPolicy;
  outbound: OutboundDialer;
  /** The address written in our SDP. */
  mediaAddress: string;
  /** Answered calls end after this long (`limits.maxCallDurationSec`). */
  maxDurationMs: number;
  /** Answered calls with no RTP for this long end (`limits.rtpInactivityTimeoutSec`). */
  rtpInactivityMs: number;
}

/** An outbound call as the control API asks for it, its trunk and stream already resolved. */
export interface OutboundRequest {
  trunk: TrunkConfig;
  target: StreamTarget;
  from: string;
  to: string;
  ringTimeoutMs: number;
  /** This call's caller-ID headers, over the trunk's `outbound.callerId`. */
  callerId?: CallerIdOverride;
  /** Headers the API asked the INVITE to carry (X- headers and User-to-User). */
  headers?: ReadonlyArray<[string, string]>;
}

/** An answered call as its controller shows it to the snapshot writer (call-snapshot.ts). */
export interface TakeoverView {
  call: { id: string; direction: 'inbound' | 'outbound'; from: string; to: string };
  progress: CallProgress;
  startedAtWall: number;
  session: Session;
  leg: Pick<CallMediaLeg, 'position'>;
}

/** A call claimed from a dead node, as CallController.resumed runs it (call-takeover.ts). */
export interface ResumedCall {
  id: string;
  direction: 'inbound' | 'outbound';
  from: string;
  to: string;
  route: string | undefined;
  target: StreamTarget;
  codec: string | undefined;
  callerIdentity: CallerIdentityParameters | undefined;
  startedAtWall: number;
  answeredAtWall: number;
  trunk: TrunkConfig;
  /** The caller's stream as the dead node last sent it, moved on by the time since. */
  position: RtpPosition;
  takeover: TakeoverRecord;
  /**
   * The dialog continued on this node with `leg`'s port (registered at once, so an in-dialog
   * request finds it); `done` resolves true once media runs and the carrier took the re-INVITE.
   */
  resume(
    leg: CallMediaLeg,
    answerer: (localSdp: string) => OfferAnswerer,
  ): { session: Session; done: Promise<boolean> };
}

/** Why admission refused a call, and the Retry-After its 503 carries (RFC 3261 §21.5.4). */
export type AdmissionRefusal = Extract<CallSlot, { ok: false }>;

/** What the control API tells the client of an outbound call admission refused. */
export const OUTBOUND_REFUSALS: Record<AdmissionRefusal['cause'], string> = {
  draining: 'draining',
  rejected_concurrency: 'call limit reached',
  rejected_overload: 'node overloaded',
};

/** An outbound call refused before dialling (the API answers 503). */
export class OutboundRefusal extends Error {}
