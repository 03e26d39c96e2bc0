/**
 * One call, one owner. The controller drives an inbound or an outbound call from the first
 * SIP message to its single typed end, holds every part that carries it (the SIP session,
 * the media leg, the bot stream, its admission slot), and tells the rest of the gateway what
 * happened through events: metrics, call records, trunk health and status callbacks subscribe.
 *
 * Ending is one ordered step (`#finish`): the SIP side first (reject, CANCEL or BYE), then
 * `stop` to the bot while the media still runs, media stats frozen, the media leg closed, the
 * slot given back, and `ended` emitted once with the record (with media workers, once the
 * worker's figures at the close are in).
 */
import { randomUUID } from 'node:crypto';
import type { StreamTarget, TrunkConfig } from '../config/index.js';
import type { CallDetail, CallState, CallSummary } from '../control/index.js';
import type { RtpPosition, UdpDropTable } from '../media/index.js';
import type { InboundSession, OfferAnswerer, Session, TerminationCause } from '../sip/index.js';
import { type AttemptPlan, callCpsLimits } from '../trunks/index.js';
import { TypedEmitter } from '../util/index.js';
import {
  boundedDetail,
  type CallEnd,
  type CallEndCause,
  endOfTermination,
  endSignalling,
} from './call-end.js';
import type { CallControllerEvents, StateInfo } from './call-events.js';
import {
  bridgeRateOf,
  inboundSdp,
  negotiatedMedia,
  queuedFrames,
  refusalCause,
  reofferAnswerer,
  watchInfoDigits,
} from './call-media.js';
import { botCallInfo, type CallProgress, newCallProgress } from './call-progress.js';
import {
  answeredDurationMs,
  type CallMediaRecord,
  type CallRecord,
  callSummary,
  endedCallRecord,
  mediaRecordOf,
} from './call-record.js';
import { superviseCall } from './call-supervision.js';
import { screenInbound } from './inbound-screen.js';
import { type DialResult, dialOutbound } from './outbound-dial.js';
import {
  type AdmissionRefusal,
  type BotStream,
  type CallMediaLeg,
  type CallPorts,
  MediaWorkerLost,
  OUTBOUND_REFUSALS,
  OutboundRefusal,
  type OutboundRequest,
  type ResumedCall,
  type TakeoverView,
} from './ports.js';

/** A controller and the flow that runs it, started once the caller has subscribed. */
type CallRun = { call: CallController; run(): Promise<void> };
type CallParties = Pick<CallController, 'direction' | 'from' | 'to'>;

export class CallController extends TypedEmitter<CallControllerEvents> {
  readonly id: string;
  readonly direction: 'inbound' | 'outbound';
  readonly from: string;
  readonly to: string;
  /** Taken over from a node that died: that node counted it when it answered. */
  readonly takenOver: boolean;
  readonly #ports: CallPorts;
  readonly #startedAtMs: number;
  readonly #startedAtWall: number;
  #state: CallState = 'initiated';
  readonly #progress: CallProgress = newCallProgress();
  #session: Session | undefined;
  #leg: CallMediaLeg | undefined;
  #bot: BotStream | undefined;
  #releaseSlot: (() => void) | undefined;
  #plan: AttemptPlan | undefined;
  #end: CallEnd | undefined;
  #finalMedia: CallMediaRecord | undefined;
  #supervision: { cancel(): void } | undefined;
  readonly #ending = new AbortController(); // a CPS queue wait is abandoned at the end

  /** `resumed`: a call taken over from another node keeps its id and start. */
  private constructor(ports: CallPorts, call: CallParties, resumed?: { id: string; startedAtWall: number }) {
    super((event, error) =>
      ports.logger.error({ err: error, event, callId: this.id }, 'call listener failed'),
    );
    this.#ports = ports;
    [this.direction, this.from, this.to] = [call.direction, call.from, call.to];
    this.id = resumed?.id ?? randomUUID();
    this.takenOver = resumed !== undefined;
    this.#startedAtWall = resumed?.startedAtWall ?? ports.clock.wallNow();
    this.#startedAtMs = ports.clock.now() - (ports.clock.wallNow() - this.#startedAtWall);
  }

  /**
   * A new inbound INVITE. The caller subscribes to the returned controller's events, then
   * calls `run()`; everything from trunk matching to the 200 happens there.
   */
  static inbound(ports: CallPorts, session: InboundSession): CallRun {
    const invite = session.invite;
    const { called, caller } = ports.inbound.numbersOf(
      session.source.address,
      invite.requestUri().user,
      invite.to().uri.user,
      invite.from().uri.user ?? '',
    );
    const call = new CallController(ports, { direction: 'inbound', from: caller, to: called });
    call.#session = session;
    return { call, run: () => call.#guarded(() => call.#runInbound(session)) };
  }

  /** A call the control API places; `run()` admits it and dials in the background. */
  static outbound(ports: CallPorts, request: OutboundRequest): CallRun {
    const call = new CallController(ports, { direction: 'outbound', from: request.from, to: request.to });
    call.#progress.trunk = request.trunk.name;
    return { call, run: () => call.#guarded(() => call.#runOutbound(request)) };
  }

  /**
   * An answered call another node carried until it died (call-takeover.ts): same id, parties
   * and times; `resumed.resume` brings its carrier leg and media back here, then a new bot
   * stream opens with the same callSid.
   */
  static resumed(ports: CallPorts, resumed: ResumedCall): CallRun {
    const call = new CallController(ports, resumed, resumed);
    return { call, run: () => call.#guarded(() => call.#runResumed(resumed)) };
  }

  get state(): CallState {
    return this.#state;
  }

  get ended(): boolean {
    return this.#end !== undefined;
  }

  get sipCallId(): string | undefined {
    return this.#session?.callId;
  }

  /** Ends the call from outside (API, drain, shutdown); no-op once ended. */
  hangup(cause: Extract<CallEndCause, 'api_hangup' | 'drain_timeout' | 'shutdown'>): void {
    this.#finish({ cause });
  }

  /** Digits towards the caller (RFC 4733, or tones in the audio); an error message when they cannot be sent. */
  async sendDtmf(digits: string, durationMs?: number): Promise<string | undefined> {
    if (this.#state !== 'answered' || !this.#leg) return `call is ${this.#state}`;
    try {
      await this.#leg.sendDtmf(digits, durationMs);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }

  /** Bot audio waiting to be played to the caller, in frames at the bot's rate. */
  queuedBotFrames(): number {
    return queuedFrames(this.#bot, this.#progress.target);
  }

  /** Kernel drops on this call's RTP sockets since the last sample. */
  sampleSocketDrops(table: UdpDropTable): number {
    return this.#leg?.sampleSocketDrops(table) ?? 0;
  }

  summary(): CallSummary {
    return callSummary(this, this.#state, this.#startedAtWall, this.#progress);
  }

  detail(): CallDetail<CallMediaRecord> {
    return { ...this.summary(), media: this.#mediaRecord() };
  }

  /** detail() with the media figures read now where a media worker holds them. */
  async freshDetail(): Promise<CallDetail<CallMediaRecord>> {
    await this.#leg?.refresh?.();
    return this.detail();
  }

  /** What another node needs to continue this call (call-snapshot.ts); undefined unless answered. */
  takeoverView(): TakeoverView | undefined {
    const [session, leg] = [this.#session, this.#leg];
    if (this.#state !== 'answered' || !session?.dialog || !leg) return undefined;
    return { call: this, progress: this.#progress, startedAtWall: this.#startedAtWall, session, leg };
  }

  // ------------------------------------------------------------------ inbound

  async #runInbound(session: InboundSession): Promise<void> {
    const ports = this.#ports;
    const screen = screenInbound(ports.inbound, session, this.to);
    const matched = screen.ok ? screen : screen.matched;
    this.#progress.callerIdentity = matched?.callerIdentity;
    [this.#progress.trunk, this.#progress.route] = [matched?.trunk.name, matched?.route.match];
    if (!screen.ok) return this.#finish(screen.end, screen.headers);
    const { trunk, route, routeIndex } = screen;
    // Before admission waits (a cluster lease is a Redis round trip): a CANCEL meanwhile ends the call.
    session.once('terminated', this.#onTerminated);
    const refusal = await this.#admit(trunk);
    if (refusal)
      return this.#finish({ cause: refusal.cause, sipStatus: 503 }, [
        ['Retry-After', String(refusal.retryAfterSec)],
      ]);
    const limits = callCpsLimits(trunk, this.to, { id: String(routeIndex), config: route });
    const cps = await ports.admission.cps(limits.limits, limits.overflow, this.#ending.signal);
    if (this.ended) return; // a CANCEL while admitted or queued is no CPS refusal
    if (cps.action === 'reject') {
      this.safeEmit('cpsRefused', cps.bucket);
      const retryAfter: [string, string] = ['Retry-After', String(cps.retryAfterSec)];
      return this.#finish({ cause: 'rejected_cps', sipStatus: 503, detail: cps.reason }, [retryAfter]);
    }
    const target = ports.inbound.streamTarget(route.target, cps);
    const leg = await this.#openLeg(target, trunk);
    if (this.ended) return;
    const { codecs, media } = trunk;
    const { encryption, srtpSuites } = media;
    const local = { address: ports.mediaAddress, port: leg.localPort, codecs, encryption, srtpSuites };
    const sdp = inboundSdp(session.remoteSdp, local);
    if (!sdp.ok) return this.#finish({ cause: sdp.cause, sipStatus: sdp.status, detail: sdp.reason });
    this.#progress.codec = sdp.codec;
    session.progress(180);
    this.#setState('ringing');
    if (!(await this.#connectBot(target))) return;
    // Without an offer in the INVITE, the media starts with the answer in the ACK.
    if (sdp.media) await leg.start(sdp.media);
    if (this.ended) return;
    watchInfoDigits(session, (digit, durationMs) => this.#bot?.callerDtmf(digit, durationMs));
    session.accept(sdp.sdp, this.#reofferAnswerer(trunk, sdp.sdp, !sdp.media));
    this.#markAnswered();
  }

  // ------------------------------------------------------------------ outbound

  /** Admits the call (throws OutboundRefusal when full), then dials in the background. */
  async #runOutbound(request: OutboundRequest): Promise<void> {
    const refusal = await this.#admit(request.trunk);
    if (refusal) {
      this.#finish({ cause: refusal.cause, sipStatus: 503 });
      throw new OutboundRefusal(OUTBOUND_REFUSALS[refusal.cause]);
    }
    const limits = callCpsLimits(request.trunk, this.to);
    // Ended while admitted or queued (an aborted wait takes no token): not a CPS refusal.
    const cps = await this.#ports.admission.cps(limits.limits, limits.overflow, this.#ending.signal);
    if (this.ended) throw new OutboundRefusal('ended while waiting for admission');
    // Overflow 'reroute' on an outbound trunk names another trunk to dial through.
    const trunk = cps.action === 'reroute' ? this.#ports.outbound.trunk(cps.target) : request.trunk;
    if (cps.action === 'reject' || !trunk) {
      if (cps.action === 'reject') this.safeEmit('cpsRefused', cps.bucket);
      const detail = cps.action === 'reject' ? cps.reason : 'reroute trunk has no outbound section';
      this.#finish({ cause: 'rejected_cps', sipStatus: 503, detail });
      throw new OutboundRefusal('CPS limit reached');
    }
    this.#progress.trunk = trunk.name;
    this.#setState('initiated');
    void this.#guarded(() => this.#dial({ ...request, trunk }));
  }

  async #dial(request: OutboundRequest): Promise<void> {
    const { trunk, target } = request;
    const leg = await this.#openLeg(target, trunk);
    if (this.ended) return;
    const plan = this.#ports.outbound.plan(trunk);
    this.#plan = plan;
    const result: DialResult = await dialOutbound(this.#ports, {
      trunk,
      plan,
      from: this.from,
      to: this.to,
      localPort: leg.localPort,
      ringTimeoutMs: request.ringTimeoutMs,
      ...(request.callerId ? { callerId: request.callerId } : {}),
      ...(request.headers ? { headers: request.headers } : {}),
      isEnded: () => this.ended,
      onSession: (session) => {
        this.#session = session;
      },
      onRinging: () => {
        if (this.#state === 'initiated') this.#setState('ringing');
      },
      onAttempt: (attempt) => this.safeEmit('attempt', attempt),
      reofferAnswerer: (localSdp) => this.#reofferAnswerer(trunk, localSdp),
    });
    if (this.ended) return;
    if (result.kind === 'failed') return this.#finish(result.end);
    const { session, answer } = result;
    session.once('terminated', this.#onTerminated);
    if (!answer.ok) {
      const detail = `bad SDP answer: ${answer.reason}`;
      return this.#finish({ cause: refusalCause(answer), sipStatus: 488, detail });
    }
    this.#progress.codec = answer.remote.codec.name;
    await leg.start(negotiatedMedia(answer.remote, answer.localCrypto));
    if (this.ended) return;
    watchInfoDigits(session, (digit, durationMs) => this.#bot?.callerDtmf(digit, durationMs));
    this.#markAnswered();
    await this.#connectBot(target);
  }

  // ------------------------------------------------------------------ resumed

  async #runResumed(resumed: ResumedCall): Promise<void> {
    const { route, codec, callerIdentity, takeover } = resumed;
    Object.assign(this.#progress, { trunk: resumed.trunk.name, route, codec, callerIdentity, takeover });
    const refusal = await this.#admit(resumed.trunk);
    if (refusal || this.ended)
      return this.#finish({ cause: refusal?.cause ?? 'error', detail: 'takeover refused' });
    const leg = await this.#openLeg(resumed.target, resumed.trunk, resumed.position);
    if (this.ended) return;
    const answerer = (localSdp: string) => this.#reofferAnswerer(resumed.trunk, localSdp);
    const { session, done } = resumed.resume(leg, answerer);
    this.#session = session;
    session.once('terminated', this.#onTerminated);
    watchInfoDigits(session, (digit, durationMs) => this.#bot?.callerDtmf(digit, durationMs));
    this.#progress.answeredAtWall = resumed.answeredAtWall;
    this.#setState('answered');
    this.#supervise();
    // The bot's stream opens during the re-INVITE (a round trip less gap); told on the answer.
    const answered = done.then((reinvited) => {
      const outcome = reinvited ? 'resumed' : 'refused';
      if (!this.ended) this.safeEmit('resumed', { outcome, gapMs: takeover.gapMs });
      return reinvited;
    });
    const [reinvited] = await Promise.all([answered, this.#connectBot(resumed.target, true)]);
    if (!reinvited) this.#finish({ cause: 'error', detail: 'takeover re-INVITE refused' });
  }

  // ------------------------------------------------------------------ shared steps

  /**
   * Takes a gateway place and a trunk slot; the refusal (cause, Retry-After) when there is none. A call that
   * ended while it waited gives its slot straight back and is not admitted.
   */
  async #admit(trunk: TrunkConfig): Promise<AdmissionRefusal | undefined> {
    const slot = await this.#ports.admission.admit(trunk, this);
    if (!slot.ok) return slot;
    if (this.ended) {
      slot.release();
      return undefined;
    }
    this.#releaseSlot = () => slot.release();
    this.safeEmit('admitted');
    return undefined;
  }

  async #openLeg(target: StreamTarget, trunk: TrunkConfig, from?: RtpPosition): Promise<CallMediaLeg> {
    const leg = await this.#ports.mediaLegs.open(this.id, bridgeRateOf(target), trunk.media, from);
    if (this.ended) leg.close();
    else this.#leg = leg;
    void leg.lost?.then((detail) => this.#finish({ cause: 'media_worker_failed', detail }));
    return leg;
  }

  /** Connects the bot; false (and the call ended) when it does not answer. */
  async #connectBot(target: StreamTarget, resumed = false): Promise<boolean> {
    const leg = this.#leg;
    if (!leg || this.ended) return false;
    this.#progress.target = target;
    try {
      this.#bot = this.#ports.bots.connect(botCallInfo(this, this.#progress, resumed), target, leg, {
        hangup: (reason) => this.#finish({ cause: 'bot_hangup', detail: boundedDetail(reason) }),
        transfer: (uri) => void this.#session?.refer(uri).catch(() => undefined),
        gone: (reason) => this.#finish({ cause: 'bot_gone', detail: boundedDetail(reason) }),
      });
      await this.#bot.ready;
    } catch (error) {
      const detail = boundedDetail((error as Error).message);
      this.#finish({ cause: 'bot_unreachable', sipStatus: 503, detail });
      return false;
    }
    return !this.ended;
  }

  #reofferAnswerer(trunk: TrunkConfig, localSdp: string, startsLeg = false): OfferAnswerer {
    return reofferAnswerer({
      mediaAddress: this.#ports.mediaAddress,
      preferences: trunk.codecs,
      encryption: trunk.media.encryption,
      srtpSuites: trunk.media.srtpSuites,
      localSdp,
      startsLeg,
      leg: () => this.#leg,
      onCodec: (codec) => {
        this.#progress.codec = codec;
      },
      logger: this.#ports.logger.child({ callId: this.id }),
    });
  }

  #markAnswered(): void {
    this.#progress.answeredAtWall = this.#ports.clock.wallNow();
    this.#progress.setupMs = Math.round(this.#ports.clock.now() - this.#startedAtMs);
    this.#setState('answered');
    this.safeEmit('answered');
    this.#supervise();
  }

  #supervise(): void {
    const { clock, maxDurationMs, rtpInactivityMs } = this.#ports;
    this.#supervision = superviseCall({
      clock,
      maxDurationMs,
      rtpInactivityMs,
      startedAtMs: this.#startedAtMs,
      inactiveMs: () => this.#leg?.inactiveMs ?? 0,
      ended: () => this.ended,
      end: (cause) => this.#finish({ cause }),
    });
  }

  readonly #onTerminated = (termination: TerminationCause): void =>
    this.#finish(endOfTermination(termination, this.direction));

  #setState(state: CallState, info: StateInfo = {}): void {
    this.#state = state;
    this.safeEmit('state', state, info);
  }

  /** Runs a flow; anything it throws ends the call with cause `error` instead of escaping. */
  async #guarded(flow: () => Promise<void>): Promise<void> {
    try {
      await flow();
    } catch (error) {
      if (error instanceof OutboundRefusal) throw error;
      // After the end, a step of the flow may find its leg or session closed under it: expected.
      if (this.ended)
        this.#ports.logger.debug({ err: error, callId: this.id }, 'call flow stopped by its end');
      else this.#ports.logger.warn({ err: error, callId: this.id }, 'call setup failed');
      const cause = error instanceof MediaWorkerLost ? 'media_worker_failed' : 'error';
      this.#finish({ cause, sipStatus: 503, detail: boundedDetail((error as Error).message) });
    }
  }

  // ------------------------------------------------------------------ the end

  #finish(end: CallEnd, rejectHeaders: Array<[string, string]> = []): void {
    if (this.#end) return;
    this.#end = end;
    this.#progress.endedAtWall = this.#ports.clock.wallNow();
    this.#supervision?.cancel();
    this.#ending.abort();
    // An attempt still ringing when the call ends is cancelled by the signalling below.
    this.#plan?.stop('cancelled', `call ended: ${end.cause}`);
    try {
      if (this.#session)
        endSignalling(this.#session, this.direction, this.#state === 'answered', end, rejectHeaders);
    } catch (error) {
      // The far end is unreachable; the call still ends here, and gives back its slot.
      this.#ports.logger.warn({ err: error, callId: this.id }, 'could not signal the end of the call');
    }
    this.#bot?.close(end.cause);
    const leg = this.#leg;
    // A leg on this thread has no RTP figures once closed: they are taken now.
    if (!leg?.settled) this.#finalMedia = this.#mediaRecord();
    leg?.close();
    const admitted = this.#releaseSlot !== undefined;
    this.#releaseSlot?.();
    const { answeredAtWall, endedAtWall } = this.#progress;
    this.#setState('completed', { end, durationMs: answeredDurationMs(answeredAtWall, endedAtWall) });
    // A call refused before admission is one line per INVITE a flooder sends: the gateway
    // reports refusals in a rate-limited summary (call-observers.ts), so here only at debug.
    const fields = { callId: this.id, sipCallId: this.sipCallId, cause: end.cause, detail: end.detail };
    if (admitted) this.#ports.logger.info(fields, 'call ended');
    else this.#ports.logger.debug(fields, 'call refused');
    const announce = (): void => {
      this.safeEmit('ended', end, admitted ? this.#record(end) : undefined);
      this.removeAllListeners();
    };
    if (!leg?.settled) announce();
    // A media worker's leg: the record waits for the worker's figures at the close.
    else
      void leg.settled().then(() => {
        this.#finalMedia = this.#mediaRecord();
        announce();
      });
  }

  #mediaRecord(): CallMediaRecord {
    return this.#finalMedia ?? mediaRecordOf(this.#leg?.stats(), this.#bot?.stats());
  }

  #record(end: CallEnd): CallRecord {
    const [progress, attempts, media] = [this.#progress, this.#plan?.attempts ?? [], this.#mediaRecord()];
    const ended = { call: this, startedAtWall: this.#startedAtWall, progress, attempts, end, media };
    return endedCallRecord(ended, this.#ports.clock);
  }
}
