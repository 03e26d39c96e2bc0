/**
 * The two ways a session starts: an INVITE we answer (InboundSession, RFC 3261 §13.3) and an
 * INVITE we send (OutboundSession, §13.2), with CANCEL (§9), digest retries, RFC 4028, and our
 * PRACKs for reliable provisional responses (RFC 3262, reliable-provisionals.ts).
 */
import { Dialog } from './dialog.js';
import { answersChallenge } from './digest.js';
import { EarlyDialogs } from './early-dialog.js';
import type { SipRequest, SipResponse } from './message.js';
import { boundedReasonPhrase, createCancel, createResponse, reasonPhrase } from './message-ops.js';
import type {
  AttemptFailure,
  OutboundHost,
  OutboundOutcome,
  OutboundSessionEvents,
  OutboundSessionOptions,
} from './outbound-types.js';
import { signalledBy } from './reason.js';
import { acceptsOnlyWith100rel, type Reliability, ReliableProvisionals } from './reliable-provisionals.js';
import { ALLOW, type OfferAnswer, type OfferAnswerer, Session, type SessionHost } from './session.js';
import {
  answerSessionTimer,
  DEFAULT_SESSION_TIMER,
  formatSessionExpires,
  minSEOf,
  type SessionTimerConfig,
} from './session-timer.js';
import type { ClientTransaction, ServerTransaction } from './transaction/index.js';
import type { TransportAddress } from './types.js';
import { requiresReliableProvisionals } from './validate.js';

type InviteServer = ServerTransaction<SipRequest, SipResponse>;

/** A session still being set up that answers requests in its early dialogs (early-dialog.ts). */
export interface EarlySession {
  /** Whether `request` belongs to an early dialog of this session's INVITE. */
  inEarlyDialog(request: SipRequest): boolean;
  /** An UPDATE in one of its early dialogs. */
  receiveEarlyUpdate(request: SipRequest, transaction: InviteServer): void;
}

export class InboundSession extends Session implements EarlySession {
  cancelled = false;
  readonly #timerConfig: SessionTimerConfig;
  readonly #early = new EarlyDialogs();

  constructor(
    host: SessionHost,
    invite: SipRequest,
    readonly transaction: InviteServer,
    readonly source: TransportAddress,
    timerConfig: SessionTimerConfig = DEFAULT_SESSION_TIMER,
  ) {
    super(host, invite);
    this.#timerConfig = timerConfig;
    if (invite.body.length > 0) this.remoteSdp = invite.body.toString();
    this.peerAllow = invite.get('allow');
  }

  get pending(): boolean {
    // A transaction that already ended (its response could not be sent) takes no answer.
    return (this.state === 'initial' || this.state === 'early') && this.transaction.state !== 'terminated';
  }

  /**
   * 180 Ringing or 183 Session Progress (with SDP for early media); nothing to a caller that
   * requires 100rel, whose provisional responses would have to be reliable.
   */
  progress(status = 180, sdp?: string): void {
    if (!this.pending || (status > 100 && requiresReliableProvisionals(this.invite))) return;
    const response = this.#response(status);
    // §12.1.1: a provisional response that makes an early dialog carries our Contact.
    if (status > 100) response.append('Contact', this.ownContact(this.source.transport, this.#secure));
    if (sdp !== undefined) response.setBody(sdp, 'application/sdp');
    this.state = 'early';
    if (status > 100) this.#early.open(this.invite.fromTag(), this.invite.cseq().seq);
    this.transaction.respond(response);
  }

  /**
   * 200 OK with our SDP answer (our offer, to an INVITE without one: its ACK then carries the
   * answer, §13.2.1); `answerOffer` answers the peer's later offers (without it they get 488). RFC 4028 §9: if the caller asked for session timers we take its interval
   * (answering 422 upstream when below Min-SE is `checkSessionTimer`'s job). A caller that
   * supports timers keeps the refresher it chose (the caller by default) and gets Require:
   * timer; one that does not (a proxy added Session-Expires) cannot refresh, so we do.
   */
  accept(sdp: string, answerOffer?: OfferAnswerer): void {
    if (!this.pending) return;
    const response = this.#response(200);
    response.append('Contact', this.ownContact(this.source.transport, this.#secure));
    response.append('Allow', ALLOW);
    response.append('Supported', 'timer');
    const timer = answerSessionTimer(this.invite, this.#timerConfig.minSE);
    if (timer) {
      if (timer.require) response.append('Require', 'timer');
      response.append('Session-Expires', formatSessionExpires(timer.interval, timer.refresher));
    }
    response.setBody(sdp, 'application/sdp');
    this.localSdp = sdp;
    const dialog = Dialog.forUas(this.invite, this.invite.localTag ?? '', this.source);
    this.#early.confirm(dialog, true);
    this.confirm(dialog, answerOffer);
    this.negotiateSessionTimer(response, 'uas');
    this.send2xxUntilAcked(this.transaction, response, this.invite.cseq().seq, this.remoteSdp === undefined);
  }

  reject(status: number, headers: Array<[string, string]> = []): void {
    if (!this.pending) return;
    const response = this.#response(status);
    for (const [name, value] of headers) response.append(name, value);
    this.transaction.respond(response);
    this.terminate({ by: 'local', reason: 'rejected', status });
  }

  /** The caller sent `cancel` (or an early BYE); the transaction layer already answered 487 (§9.2). */
  receiveCancel(cancel?: SipRequest): void {
    this.cancelled = true;
    this.terminate({ by: 'remote', reason: 'cancel', status: 487, ...(cancel ? signalledBy(cancel) : {}) });
  }

  /**
   * A BYE from the caller on the early dialog our 180 made (RFC 3261 §15): the caller gave up
   * before the answer, as with CANCEL, so the INVITE gets 487 and the call ends the same way.
   */
  receiveEarlyBye(bye: SipRequest): void {
    if (!this.pending) return;
    this.transaction.respond(this.#response(487));
    this.receiveCancel(bye);
  }

  /** Whether `request` belongs to the early dialog our provisional responses made. */
  inEarlyDialog(request: SipRequest): boolean {
    return (
      this.state === 'early' &&
      request.callId() === this.invite.callId() &&
      request.fromTag() === this.invite.fromTag() &&
      request.toTag() === this.invite.localTag
    );
  }

  /** RFC 3311 §5.2: the INVITE's offer (if it had one) is answered only in our 2xx. */
  receiveEarlyUpdate(request: SipRequest, transaction: InviteServer): void {
    const contact = this.ownContact(this.source.transport, this.#secure);
    this.#early.receive(request, transaction, contact, this.remoteSdp === undefined ? 'ours' : 'theirs');
  }

  override async bye(...args: Parameters<Session['bye']>): Promise<void> {
    if (this.pending) {
      this.reject(480);
      return;
    }
    await super.bye(...args);
  }

  /** RFC 3261 §12.1.1: a dialog set up with a SIPS Request-URI gets a SIPS Contact. */
  get #secure(): boolean {
    return this.invite.requestUri().scheme === 'sips';
  }

  #response(status: number): SipResponse {
    return createResponse(this.invite, status);
  }
}

export type {
  Authorizer,
  DigestAnswer,
  InviteUser,
  OutboundFailure,
  OutboundHost,
  OutboundOutcome,
  OutboundSessionEvents,
  OutboundSessionOptions,
} from './outbound-types.js';

/** Extra forks answered with 2xx that a call ACKs and ends; a bound against a runaway forker. */
const MAX_EXTRA_FORKS = 16;

export class OutboundSession extends Session<OutboundSessionEvents> implements EarlySession {
  readonly outcome: Promise<OutboundOutcome>;
  readonly #options: OutboundSessionOptions;
  #resolve!: (outcome: OutboundOutcome) => void;
  #current: SipRequest;
  #transaction: ClientTransaction<SipRequest, SipResponse> | undefined;
  #earlyMedia = false;
  #cancelWanted = false;
  #cancelHeaders: Array<[string, string]> = [];
  /** The INVITE transaction a CANCEL was sent for (a retried INVITE is a new one). */
  #cancelled: ClientTransaction<SipRequest, SipResponse> | undefined;
  /** Challenges our INVITE answered (answersChallenge: after the first, stale ones only). */
  #challenges = 0;
  #intervalRaised = false;
  /** A 421 asked for 100rel and our INVITE was retried supporting it (once). */
  #reliabilityOffered = false;
  /** Our INVITE's reliable provisional responses, PRACKed per early dialog (a retry starts anew). */
  #reliable = new ReliableProvisionals();
  /** The answer a reliable 18x gave our offer, by the To tag of its early dialog (fork). */
  readonly #reliableAnswers = new Map<string, string>();
  /** ACKs of extra forks' dialogs, by To tag, for their 2xx retransmissions. */
  readonly #forks = new Map<string, { ack: SipRequest; destination: TransportAddress }>();
  /** The early dialogs our INVITE's provisional responses made, by their To tag. */
  readonly #early = new EarlyDialogs();

  constructor(
    protected override readonly host: OutboundHost,
    invite: SipRequest,
    readonly destination: TransportAddress,
    options: OutboundSessionOptions = {},
  ) {
    super(host, invite);
    this.#options = options;
    this.#current = invite;
    this.localSdp = invite.body.length > 0 ? invite.body.toString() : undefined;
    this.outcome = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  start(): void {
    this.#send(this.#current);
  }

  /** CANCEL (§9.1) with `headers` (a Reason, RFC 3326); it goes out once a provisional response has arrived. */
  cancel(headers: Array<[string, string]> = []): void {
    if (this.state !== 'initial' && this.state !== 'early') return;
    this.#cancelWanted = true;
    this.#cancelHeaders = headers;
    this.#sendCancel();
  }

  override async bye(...args: Parameters<Session['bye']>): Promise<void> {
    if (this.state === 'initial' || this.state === 'early') {
      this.cancel(args[2]);
      return;
    }
    await super.bye(...args);
  }

  /** We sent the INVITE, so we made the Call-ID (RFC 3261 §14.1). */
  protected override get ownsCallId(): boolean {
    return true;
  }

  inEarlyDialog(request: SipRequest): boolean {
    return (
      this.state === 'early' &&
      request.callId() === this.invite.callId() &&
      request.toTag() === this.invite.fromTag() &&
      this.#early.has(request.fromTag())
    );
  }

  /**
   * RFC 3311 §5.2: an offer in an UPDATE gets 491 while our INVITE's offer is open; once a
   * reliable 18x of its early dialog answered it (RFC 3262 §5), `answerOffer` answers it, and
   * the UPDATE's offer is that dialog's SDP from then on (the 2xx confirms it, §13.2.1).
   */
  receiveEarlyUpdate(request: SipRequest, transaction: InviteServer): void {
    const contact = this.ownContact(this.destination.transport);
    const remoteTag = request.fromTag();
    if (remoteTag === undefined || !this.#reliableAnswers.has(remoteTag)) {
      this.#early.receive(request, transaction, contact, 'ours');
      return;
    }
    const answer = (offer: string): OfferAnswer => {
      const result = this.#options.answerOffer?.(offer, request) ?? { status: 488 };
      if ('sdp' in result) {
        this.#reliableAnswers.set(remoteTag, offer);
        this.remoteSdp = offer;
        this.localSdp = result.sdp;
      }
      return result;
    };
    this.#early.receive(request, transaction, contact, { answer });
  }

  #send(invite: SipRequest): void {
    this.#current = invite;
    this.#reliable = new ReliableProvisionals();
    this.#reliableAnswers.clear();
    this.#transaction = this.host.sendInvite(invite, this.destination, {
      onProvisional: (response) => this.#provisional(response),
      onFinal: (response) => this.#final(response),
      onTimeout: () => this.#fail({ cause: 'timeout', status: 408, reason: reasonPhrase(408) }),
      onTransportError: () =>
        this.#fail({ cause: 'transport_error', status: 503, reason: reasonPhrase(503) }),
    });
  }

  #provisional(response: SipResponse): void {
    // RFC 3261 §9.1: any provisional response, 100 Trying included, lets the CANCEL go.
    if (this.#cancelWanted) this.#sendCancel();
    if (response.status === 100) return;
    const reliability = this.#acknowledgeReliable(response);
    if (reliability === 'discard') return;
    const toTag = response.toTag();
    this.#early.open(toTag);
    if (response.body.length > 0) {
      this.#earlyMedia = true;
      this.remoteSdp = response.body.toString();
      // RFC 3261 §13.2.1: the first SDP in a reliable response is the answer, for its dialog.
      if (reliability === 'acknowledge' && toTag !== undefined && !this.#reliableAnswers.has(toTag))
        this.#reliableAnswers.set(toTag, this.remoteSdp);
    }
    if (this.state === 'initial') this.state = 'early';
    this.safeEmit('progress', response);
  }

  #final(response: SipResponse): void {
    if (response.status >= 200 && response.status < 300) {
      if (this.dialog) {
        if (response.toTag() === this.dialog.remoteTag) this.resendAck(response.cseq().seq);
        else this.#endForkedDialog(response);
        return;
      }
      const dialog = Dialog.forUac(this.#current, response, this.destination);
      this.#reliable.continueLocalSeq(dialog);
      this.#early.confirm(dialog, false);
      this.acknowledge(dialog.createRequest('ACK', this.#current.cseq().seq), dialog.destination());
      // A reliable 18x of this dialog answered already: any SDP in the 2xx is ignored (§13.2.1).
      const answer = this.#reliableAnswers.get(dialog.remoteTag);
      if (answer !== undefined) this.remoteSdp = answer;
      else if (response.body.length > 0) this.remoteSdp = response.body.toString();
      this.peerAllow = response.get('allow');
      this.confirm(dialog, this.#options.answerOffer);
      this.negotiateSessionTimer(response, 'uac');
      this.#resolve({ kind: 'answered', response });
      // §9.1: a 2xx that crossed our CANCEL still makes a call, which we now end.
      if (this.#cancelWanted) void this.bye();
      return;
    }
    // Not once we cancelled the call: a new INVITE would ring until its first provisional.
    const retry = this.#cancelWanted ? undefined : this.#retryFor(response);
    if (retry) {
      this.#send(retry);
      return;
    }
    this.#fail({
      cause: 'response',
      status: response.status,
      reason: boundedReasonPhrase(response.reason, response.status),
      response,
    });
  }

  /**
   * The INVITE a final response asks for in place of ending the call: to a redirect's target,
   * with credentials for a challenge, supporting 100rel for a 421, or with a 422's Min-SE.
   */
  #retryFor(response: SipResponse): SipRequest | undefined {
    const redirected = response.status < 400 ? this.#options.redirect?.(response) : undefined;
    if (redirected !== undefined) return this.#retry([], redirected);
    const authorize = this.#options.authorize;
    if ((response.status === 401 || response.status === 407) && authorize) {
      const answer = authorize(response, this.#current);
      if (answer && answersChallenge(this.#challenges, answer.stale)) {
        this.#challenges++;
        return this.#retry([answer.header]);
      }
    }
    if (!this.#reliabilityOffered && acceptsOnlyWith100rel(response)) {
      this.#reliabilityOffered = true;
      // RFC 3261 §21.4.15: retry once with the extension the 421 requires (RFC 3262 §3).
      return this.#retry([['Supported', 'timer, 100rel']]);
    }
    const minSE = this.#sessionIntervalTooSmall(response);
    if (minSE === undefined) return undefined;
    this.#intervalRaised = true;
    // RFC 4028 §6: retry once with Session-Expires (and Min-SE) raised to the peer's Min-SE.
    return this.#retry([
      ['Session-Expires', String(minSE)],
      ['Min-SE', String(minSE)],
    ]);
  }

  /**
   * A 2xx from another fork of a forked INVITE (a new To tag) after we answered the first: it
   * is a dialog too, so it is ACKed and ended with BYE (RFC 3261 §13.2.2.4). Its retransmissions
   * get the same ACK until the BYE's transaction is done.
   */
  #endForkedDialog(response: SipResponse): void {
    const toTag = response.toTag();
    if (!toTag) return;
    const known = this.#forks.get(toTag);
    if (known) {
      this.host.ack(known.ack, known.destination);
      return;
    }
    if (this.#forks.size >= MAX_EXTRA_FORKS) return;
    const fork = Dialog.forUac(this.#current, response, this.destination);
    this.#reliable.continueLocalSeq(fork);
    const ack = fork.createRequest('ACK', this.#current.cseq().seq);
    this.#forks.set(toTag, { ack, destination: fork.destination() });
    this.host.ack(ack, fork.destination());
    void this.host.request(fork.createRequest('BYE'), fork.destination()).catch(() => undefined);
  }

  /**
   * RFC 3262 §4: a reliable provisional response is PRACKed (its answer is not needed);
   * 'discard' for a retransmission or one out of order, which is not reported again.
   */
  #acknowledgeReliable(response: SipResponse): Reliability['kind'] {
    const reliability = this.#reliable.receive(this.#current, response, this.destination);
    if (reliability.kind === 'acknowledge')
      void this.host.request(reliability.prack, reliability.destination).catch(() => undefined);
    return reliability.kind;
  }

  /** The Min-SE of a 422 to our session-timer INVITE, once (RFC 4028 §6); else undefined. */
  #sessionIntervalTooSmall(response: SipResponse): number | undefined {
    if (this.#intervalRaised || !this.#current.get('session-expires')) return undefined;
    return minSEOf(response);
  }

  /**
   * Same Call-ID and From tag, `headers` set (credentials §22.2, intervals RFC 4028 §6,
   * extensions §21.4.15), a redirect's Request-URI (§8.1.3.4), and a CSeq above the last
   * INVITE's and any PRACK it sent (§8.1.3.5: higher than any this Call-ID and From tag used).
   */
  #retry(headers: Array<[string, string]>, requestUri?: string): SipRequest {
    const retry = this.#current;
    const next = retry.clone();
    if (requestUri !== undefined) next.setUri(requestUri);
    next.remove('via');
    next.set('CSeq', `${this.#reliable.nextLocalSeq(retry)} INVITE`);
    for (const [name, value] of headers) next.set(name, value);
    return next;
  }

  #fail(failure: AttemptFailure): void {
    this.#resolve({ kind: 'failed', earlyMedia: this.#earlyMedia, ...failure });
    const { status, reason } = failure;
    this.terminate({
      by: status === 487 ? 'local' : 'remote',
      reason: 'attempt_failed',
      status,
      detail: reason,
    });
  }

  /** Once per INVITE transaction, and only in Proceeding (after a provisional response, §9.1). */
  #sendCancel(): void {
    const transaction = this.#transaction;
    if (transaction?.state !== 'proceeding' || this.#cancelled === transaction) return;
    this.#cancelled = transaction;
    const cancel = createCancel(this.#current);
    for (const [name, value] of this.#cancelHeaders) cancel.append(name, value);
    this.host.sendCancel(cancel, this.destination);
  }
}
