/**
 * INVITE sessions on top of dialogs: what a B2BUA leg does after the call is set up.
 * In-dialog BYE, re-INVITE and UPDATE offers (hold, codec change), INFO, REFER, and RFC 4028
 * session timers. InboundSession and OutboundSession add the two ways a session starts.
 */
import { type Clock, type EventMap, type TimerHandle, TypedEmitter } from '../util/index.js';
import { AwaitedAcks } from './awaited-acks.js';
import type { Dialog } from './dialog.js';
import type { SipRequest, SipResponse } from './message.js';
import { createResponse } from './message-ops.js';
import type { PublicAddress } from './nat-mapping.js';
import type { OfferAnswer, OfferAnswerer } from './offer-answer.js';
import { signalledBy } from './reason.js';
import { endsDialog, type SessionEndReason, type TerminationCause } from './session-end.js';
import {
  answerSessionTimer,
  checkSessionTimer,
  formatSessionExpires,
  glareRetryDelayMs,
  minSEOf,
  parseSessionExpires,
  type SessionTimerConfig,
} from './session-timer.js';
import type { ServerTransaction } from './transaction/index.js';
import type { TransportAddress } from './types.js';
import { isReferTarget } from './uri.js';

export type SessionState = 'initial' | 'early' | 'confirmed' | 'terminated';

export type { OfferAnswer, OfferAnswerer } from './offer-answer.js';
export type { SessionEndReason, TerminationCause } from './session-end.js';

type Transport = TransportAddress['transport'];

/** What the session needs from the user agent that owns it. */
export interface SessionHost {
  readonly clock: Clock;
  readonly t1: number;
  readonly t2: number;
  /** Our session timer settings: the Min-SE refreshes are held to. */
  readonly sessionTimer: SessionTimerConfig;
  /** Our Contact for `transport`; `secure` (SIPS dialog): a SIPS URI over TLS; `at`: at that address. */
  contactHeader(transport: Transport, secure?: boolean, user?: string, at?: PublicAddress): string;
  /** Sends an in-dialog request through a client transaction; 408/503 on timeout/transport failure. */
  request(request: SipRequest, destination: TransportAddress): Promise<SipResponse>;
  /** Sends an ACK for a 2xx (no transaction, RFC 3261 §13.2.2.4). */
  ack(ack: SipRequest, destination: TransportAddress): void;
  register(session: Session): void;
  unregister(session: Session): void;
}

/** Methods we accept (§20.5): we send REFER, and answer the NOTIFYs of our transfers, but take no REFER. */
export const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY';

export {
  checkSessionTimer,
  DEFAULT_SESSION_TIMER,
  formatSessionExpires,
  parseSessionExpires,
  type SessionExpires,
  type SessionTimerConfig,
} from './session-timer.js';

export interface SessionEvents {
  terminated: [cause: TerminationCause];
  confirmed: [];
  info: [request: SipRequest];
}

export abstract class Session<
  Events extends EventMap<Events> & SessionEvents = SessionEvents,
> extends TypedEmitter<Events> {
  state: SessionState = 'initial';
  dialog: Dialog | undefined;
  /** The SDP the peer last sent (offer or answer). */
  remoteSdp: string | undefined;
  #answerOffer: OfferAnswerer | undefined;
  #refreshTimer: TimerHandle | undefined;
  #sessionExpires: { interval: number; refresher: 'local' | 'remote' } | undefined;
  /** A REFER in progress: one at a time, each holds a client transaction until answered. */
  #referring = false;
  /** Our re-INVITE awaiting its final response: an offer from the peer meanwhile is glare (§14.2). */
  #reinviting: Promise<SipResponse> | undefined;
  /** The Min-SE a 422 to our refresh named (RFC 4028 §7.3): our refreshes carry it from then on. */
  #minSE: number | undefined;
  /**
   * The CSeq of the INVITE whose 2xx carried our offer (it had none): its ACK must carry the
   * answer, and until then our offer is outstanding (RFC 3264 §4).
   */
  #offerInAck: number | undefined;
  protected localSdp: string | undefined;
  /** The ACKs of 2xx responses to INVITEs in this dialog, both ways. */
  readonly #acks: AwaitedAcks;
  /** The peer's Allow header (its INVITE, or its 2xx to ours): whether it takes UPDATE. */
  protected peerAllow: string | undefined;
  /** Where our Contact says we are when not our own address: a NAT's, as a registrar saw it. */
  contactAt: PublicAddress | undefined;

  constructor(
    protected readonly host: SessionHost,
    readonly invite: SipRequest,
  ) {
    super();
    this.#acks = new AwaitedAcks(host, () => void this.bye('no_ack'));
  }

  get callId(): string {
    return this.invite.callId();
  }

  /** The SDP we last sent (offer or answer), for a snapshot of the call. */
  get lastLocalSdp(): string | undefined {
    return this.localSdp;
  }

  /** Ends the call: BYE once confirmed (§15.1.1) with `headers`; subclasses handle earlier states. */
  async bye(
    reason: SessionEndReason = 'hangup',
    detail?: string,
    headers: Array<[string, string]> = [],
  ): Promise<void> {
    // §15: not before the ACK of our 2xx (or its 64*T1 timeout): a BYE could overtake the 2xx.
    if (this.#acks.pending) await this.#acks.settled();
    const dialog = this.dialog;
    if (this.state !== 'confirmed' || !dialog) return;
    this.terminate({ by: 'local', reason, ...(detail === undefined ? {} : { detail }) });
    const bye = dialog.createRequest('BYE');
    for (const [name, value] of headers) bye.append(name, value);
    await this.host.request(bye, dialog.destination()).catch(() => undefined);
  }

  /**
   * Sends a re-INVITE with a new offer (hold, unhold, codec change; RFC 3264 §8). One at a time
   * (§14.1): a second while one is in progress rejects. A 491 means the peer's offer crossed
   * ours; the caller may retry after §14.1's random wait.
   */
  reinvite(sdp: string): Promise<SipResponse> {
    return this.#reinvite(sdp, 'dialog_gone');
  }

  /** `ending`: why the session ends when the answer ends the dialog (#request). */
  async #reinvite(sdp: string, ending: SessionEndReason): Promise<SipResponse> {
    if (this.#reinviting) throw new Error('a re-INVITE is already in progress');
    const dialog = this.#confirmedDialog();
    const request = dialog.createRequest('INVITE');
    request.append('Contact', this.#contact(dialog));
    request.setBody(sdp, 'application/sdp');
    this.#addSessionTimerHeaders(request);
    const pending = this.#request(dialog, request, ending);
    this.#reinviting = pending;
    let response: SipResponse;
    try {
      response = await pending;
    } finally {
      this.#reinviting = undefined;
    }
    if (response.status >= 200 && response.status < 300) {
      // The 2xx's Contact is the new target (RFC 3261 §12.2.1.2): its ACK already goes there.
      dialog.refreshTarget(response);
      this.acknowledge(dialog.createRequest('ACK', request.cseq().seq), dialog.destination());
      this.localSdp = sdp;
      if (response.body.length > 0) this.remoteSdp = response.body.toString();
      this.#negotiateTimer(response, 'uac');
    }
    return response;
  }

  /**
   * A retransmission of the 2xx to our INVITE with CSeq `seq` (its ACK was lost): the same ACK
   * again, as the UAS resends the 2xx until one arrives (RFC 3261 §13.2.2.4, §13.3.1.4).
   */
  resendAck(seq: number): void {
    const ack = this.#acks.sentFor(seq);
    if (ack && this.dialog) this.host.ack(ack, this.dialog.destination());
  }

  /** ACKs the 2xx to our INVITE and keeps the ACK for its retransmissions. */
  protected acknowledge(ack: SipRequest, destination: TransportAddress): void {
    this.#acks.sent(ack);
    this.host.ack(ack, destination);
  }

  /**
   * A session refresh by UPDATE without an offer (RFC 4028 §9, RFC 3311 §5.1): no SDP is
   * renegotiated, so neither side's media is touched. Its 2xx re-arms the session timer.
   */
  update(): Promise<SipResponse> {
    return this.#update('dialog_gone');
  }

  async #update(ending: SessionEndReason): Promise<SipResponse> {
    const dialog = this.#confirmedDialog();
    const request = dialog.createRequest('UPDATE');
    request.append('Contact', this.#contact(dialog));
    this.#addSessionTimerHeaders(request);
    const response = await this.#request(dialog, request, ending);
    if (response.status >= 200 && response.status < 300) {
      dialog.refreshTarget(response);
      this.#negotiateTimer(response, 'uac');
    }
    return response;
  }

  sendInfo(contentType: string, body: string): Promise<SipResponse> {
    const dialog = this.#confirmedDialog();
    return this.#request(dialog, dialog.createRequest('INFO').setBody(body, contentType));
  }

  /**
   * Blind transfer (RFC 3515): REFER with Refer-To; the peer's NOTIFYs are answered 200.
   * Rejects a target that is not one SIP, SIPS or tel URI, and a second REFER while one is in
   * progress.
   */
  async refer(target: string): Promise<SipResponse> {
    if (!isReferTarget(target)) throw new Error('transfer target is not a SIP, SIPS or tel URI');
    if (this.#referring) throw new Error('a transfer is already in progress');
    const dialog = this.#confirmedDialog();
    const request = dialog.createRequest('REFER');
    request.append('Refer-To', `<${target}>`);
    request.append('Contact', this.#contact(dialog));
    this.#referring = true;
    try {
      return await this.#request(dialog, request);
    } finally {
      this.#referring = false;
    }
  }

  /**
   * Every in-dialog request of ours but BYE (re-INVITE, UPDATE, INFO, REFER): an answer that
   * ends the dialog (endsDialog: 481, 408 or no answer at all, 404...) ends the call with BYE
   * (RFC 3261 §12.2.1.2, RFC 5057 §5.1), for `ending`; any other fails the request only.
   */
  async #request(
    dialog: Dialog,
    request: SipRequest,
    ending: SessionEndReason = 'dialog_gone',
  ): Promise<SipResponse> {
    const response = await this.host.request(request, dialog.destination());
    if (endsDialog(response.status)) void this.bye(ending, `${request.method} answered ${response.status}`);
    return response;
  }

  /** An in-dialog request from the peer (the user agent has matched the dialog). */
  receiveRequest(request: SipRequest, transaction: ServerTransaction<SipRequest, SipResponse>): void {
    const dialog = this.dialog;
    if (!dialog) return;
    if (!dialog.acceptRemoteSeq(request)) {
      transaction.respond(createResponse(request, 500, 'Out of Order'));
      return;
    }
    switch (request.method) {
      case 'BYE':
        transaction.respond(createResponse(request, 200));
        this.terminate({ by: 'remote', reason: 'bye', ...signalledBy(request) });
        return;
      case 'INVITE':
      case 'UPDATE':
        this.#receiveOffer(request, transaction, dialog);
        return;
      case 'INFO':
        transaction.respond(createResponse(request, 200));
        this.#emit('info', request);
        return;
      case 'OPTIONS':
      case 'NOTIFY':
        transaction.respond(createResponse(request, 200));
        return;
      case 'PRACK': // RFC 3262 §3: we send no reliable provisional response for it to match
        transaction.respond(createResponse(request, 481));
        return;
      case 'REFER': {
        // §8.2.1: a method we know but do not take gets 405 with what we do take.
        const refused = createResponse(request, 405);
        refused.append('Allow', ALLOW);
        transaction.respond(refused);
        return;
      }
      default:
        transaction.respond(createResponse(request, 501));
    }
  }

  /** The ACK for a 2xx we sent arrived (the user agent matched the dialog). */
  receiveAck(ack: SipRequest): void {
    const seq = ack.cseq().seq;
    this.#acks.received(seq);
    if (seq !== this.#offerInAck || this.state !== 'confirmed') return;
    this.#offerInAck = undefined;
    // §13.2.2.4: an offer in a 2xx is answered in the ACK; a UA that cannot use it sends BYE.
    const answer = ack.body.length > 0 ? ack.body.toString() : undefined;
    const refusal =
      answer === undefined ? 'no SDP answer in the ACK' : this.#answerOffer?.takeAnswer?.(answer);
    if (refusal !== undefined) {
      void this.bye('bad_answer', refusal);
      return;
    }
    this.remoteSdp = answer;
  }

  terminate(cause: TerminationCause): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.#refreshTimer?.cancel();
    this.#acks.clear();
    this.host.unregister(this);
    this.#emit('terminated', cause);
  }

  /** Emits a base event; a subclass's event map extends SessionEvents, which TS cannot see here. */
  #emit<K extends keyof SessionEvents>(event: K, ...args: SessionEvents[K]): void {
    (this as Session).safeEmit(event, ...args);
  }

  /**
   * Sends our 2xx to an INVITE and retransmits it until its ACK (AwaitedAcks.send2xx);
   * `offers`: the INVITE had no offer, so the 2xx's SDP is ours and the ACK answers it (§13.2.1).
   */
  protected send2xxUntilAcked(
    transaction: ServerTransaction<SipRequest, SipResponse>,
    response: SipResponse,
    seq: number,
    offers: boolean,
  ): void {
    if (offers) this.#offerInAck = seq;
    this.#acks.send2xx(transaction, response, seq);
  }

  /** The dialog is up; from now on `answerOffer` answers the peer's offers. */
  protected confirm(dialog: Dialog, answerOffer: OfferAnswerer | undefined): void {
    this.dialog = dialog;
    this.#answerOffer = answerOffer;
    this.state = 'confirmed';
    this.host.register(this);
    this.#emit('confirmed');
  }

  /**
   * RFC 4028 §9/§10: from the 2xx (ours or theirs) learn the interval and who refreshes; the
   * refresher re-INVITEs at half the interval, the other side sends BYE if nothing comes.
   */
  protected negotiateSessionTimer(message: SipRequest | SipResponse, role: 'uas' | 'uac'): void {
    this.#negotiateTimer(message, role);
  }

  #negotiateTimer(message: SipRequest | SipResponse, role: 'uas' | 'uac'): void {
    const expires = parseSessionExpires(message.get('session-expires'));
    if (!expires) return;
    const refresher = expires.refresher ?? 'uac';
    // RFC 4028 §9: no 2xx sets an interval below the request's Min-SE (90 s without one). One
    // that does (0: refreshes back to back, or BYE at once) is held to our Min-SE.
    const interval = Math.max(expires.interval, this.host.sessionTimer.minSE);
    this.#sessionExpires = { interval, refresher: refresher === role ? 'local' : 'remote' };
    this.#armRefresh();
  }

  #armRefresh(): void {
    const timer = this.#sessionExpires;
    this.#refreshTimer?.cancel();
    if (!timer || this.state === 'terminated') return;
    if (timer.refresher === 'local') {
      this.#refreshTimer = this.host.clock.setTimer((timer.interval * 1000) / 2, () => void this.#refresh());
    } else {
      // §10: BYE at expiry minus min(32 s, interval/3) if no refresh arrived.
      const slack = Math.min(32, timer.interval / 3);
      this.#refreshTimer = this.host.clock.setTimer((timer.interval - slack) * 1000, () => {
        void this.bye('session_expired');
      });
    }
  }

  /**
   * A refresh: UPDATE, or re-INVITE. Its 2xx re-arms the timer (#negotiateTimer). An answer
   * that ends the dialog (endsDialog: 408, 481, 404..., RFC 5057 §5.1, RFC 4028 §10) ends the
   * call with BYE (#request). A 422 names the Min-SE to send it again with, at once (RFC 4028
   * §7.3); a 491 is glare, tried again after §14.1's wait. Any other refusal leaves the session
   * as it was; the refresh is tried again an eighth of the interval later, still before the
   * peer's expiry BYE at interval - min(32, interval/3).
   */
  async #refresh(): Promise<void> {
    const due = this.#refreshTimer;
    // One INVITE transaction at a time (§14.1): a re-INVITE of ours in progress refreshes the
    // session when its 2xx comes (which re-arms the timer); if it fails, the refresh follows it.
    if (this.#reinviting) await this.#reinviting.catch(() => undefined);
    const timer = this.#sessionExpires;
    if (this.#refreshTimer !== due || this.localSdp === undefined || !timer || this.state !== 'confirmed')
      return;
    // UPDATE when the peer takes it: no offer, so no media renegotiation; else re-INVITE.
    const viaUpdate = /\bUPDATE\b/i.test(this.peerAllow ?? '');
    const refresh = viaUpdate
      ? this.#update('refresh_failed')
      : this.#reinvite(this.localSdp, 'refresh_failed');
    const response = await refresh.catch(() => undefined);
    if (response && response.status >= 200 && response.status < 300) return;
    if (!response) {
      await this.bye('refresh_failed');
      return;
    }
    if (this.state !== 'confirmed' || this.#refreshTimer !== due) return;
    const minSE = minSEOf(response);
    if (minSE !== undefined && minSE > timer.interval) {
      this.#sessionExpires = { ...timer, interval: minSE };
      this.#minSE = minSE;
      await this.#refresh();
      return;
    }
    const wait = response.status === 491 ? glareRetryDelayMs(this.ownsCallId) : (timer.interval * 1000) / 8;
    this.#refreshTimer = this.host.clock.setTimer(wait, () => void this.#refresh());
  }

  /** Whether we made the dialog's Call-ID (we sent its INVITE): RFC 3261 §14.1's longer glare wait. */
  protected get ownsCallId(): boolean {
    return false;
  }

  #addSessionTimerHeaders(request: SipRequest): void {
    const timer = this.#sessionExpires;
    if (!timer) return;
    request.set('Supported', 'timer');
    request.set('Session-Expires', formatSessionExpires(timer.interval, 'uac'));
    if (this.#minSE !== undefined) request.set('Min-SE', String(this.#minSE));
  }

  #receiveOffer(
    request: SipRequest,
    transaction: ServerTransaction<SipRequest, SipResponse>,
    dialog: Dialog,
  ): void {
    const timerRejection = checkSessionTimer(request, this.host.sessionTimer);
    if (timerRejection) {
      const response = createResponse(request, timerRejection.status);
      for (const [name, value] of timerRejection.headers ?? []) response.append(name, value);
      transaction.respond(response);
      return;
    }
    const offer = request.body.length > 0 ? request.body.toString() : undefined;
    // Glare (RFC 3261 §14.2, RFC 3311 §5.2): the peer's offer, or re-INVITE, crossed an offer of
    // ours still awaiting its answer: our pending re-INVITE's, or our 2xx's, answered in the ACK.
    const ourOfferOpen = this.#reinviting !== undefined || this.#offerInAck !== undefined;
    if (ourOfferOpen && (request.method === 'INVITE' || offer !== undefined)) {
      transaction.respond(createResponse(request, 491));
      return;
    }
    // An offer-less UPDATE (a session refresh) is answered without SDP (RFC 3311 §5.2).
    if (offer === undefined && request.method === 'UPDATE') {
      const response = createResponse(request, 200);
      response.append('Contact', this.#contact(dialog));
      this.#answerSessionTimer(request, response);
      dialog.refreshTarget(request);
      transaction.respond(response);
      return;
    }
    // An offer-less re-INVITE asks us to offer (RFC 3261 §14.2): resend our current SDP.
    const answer: OfferAnswer =
      offer === undefined
        ? this.localSdp === undefined
          ? { status: 488 }
          : { sdp: this.localSdp }
        : (this.#answerOffer?.(offer, request) ?? { status: 488 });
    if ('status' in answer) {
      transaction.respond(createResponse(request, answer.status));
      return;
    }
    if (offer !== undefined) this.remoteSdp = offer;
    this.localSdp = answer.sdp;
    dialog.refreshTarget(request);
    const response = createResponse(request, 200);
    response.append('Contact', this.#contact(dialog));
    this.#answerSessionTimer(request, response);
    response.setBody(answer.sdp, 'application/sdp');
    if (request.method !== 'INVITE') {
      transaction.respond(response);
      return;
    }
    this.send2xxUntilAcked(transaction, response, request.cseq().seq, offer === undefined);
  }

  /** RFC 4028 §9: our 2xx to a refresh request (answerSessionTimer), and the timer it sets. */
  #answerSessionTimer(request: SipRequest, response: SipResponse): void {
    const answer = answerSessionTimer(request, this.host.sessionTimer.minSE, this.#sessionExpires?.interval);
    if (!answer) return;
    if (answer.require) response.append('Require', 'timer');
    response.append('Session-Expires', formatSessionExpires(answer.interval, answer.refresher));
    this.#negotiateTimer(response, 'uas');
  }

  #contact(dialog: Dialog): string {
    return this.ownContact(dialog.destination().transport, dialog.secure);
  }

  /** Our Contact in this session (at `contactAt` when set). */
  protected ownContact(transport: Transport, secure = false): string {
    return this.host.contactHeader(transport, secure, undefined, this.contactAt);
  }

  #confirmedDialog(): Dialog {
    if (this.state !== 'confirmed' || !this.dialog) throw new Error(`session is ${this.state}`);
    return this.dialog;
  }
}
