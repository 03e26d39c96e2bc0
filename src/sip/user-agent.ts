/**
 * The B2BUA's SIP user agent: transport + endpoint + dialogs. It turns new INVITEs into
 * InboundSessions for the application, originates OutboundSessions, routes in-dialog
 * requests, 2xx ACKs, CANCELs and stray 2xx retransmissions to their sessions, and answers
 * everything else (OPTIONS 200, unknown dialogs 481, other methods 405).
 */
import type { Clock, Logger } from '../util/index.js';
import { type Authorizer, InboundSession, type InviteUser, OutboundSession } from './call-legs.js';
import { type DialogState, dialogKey } from './dialog.js';
import { type EndpointTransport, SipEndpoint } from './endpoint.js';
import { escapeUser, SipParseError } from './grammar.js';
import { type SipMessage, SipRequest, type SipResponse } from './message.js';
import { createResponse, messageOps, randomToken } from './message-ops.js';
import type { PublicAddress } from './nat-mapping.js';
import { ResumedSession } from './resumed-session.js';
import { SeenInvites } from './seen-invites.js';
import {
  ALLOW,
  checkSessionTimer,
  DEFAULT_SESSION_TIMER,
  type OfferAnswerer,
  type Session,
  type SessionTimerConfig,
} from './session.js';
import {
  DEFAULT_TIMER_PROFILE,
  type ServerTransaction,
  type TimerProfile,
  type TransactionMemoryLimits,
} from './transaction/index.js';
import type { TransportAddress } from './types.js';
import { uriHost } from './uri.js';
import {
  checkRequest,
  DEFAULT_CAPABILITIES,
  isResponseForUs,
  requireRejection,
  type UasCapabilities,
} from './validate.js';

const KEEP_ALIVE = Buffer.from('\r\n\r\n');

/** What the user agent needs of a transport: SipTransport, or an in-memory pair in unit tests. */
export interface UserAgentTransport extends EndpointTransport<SipMessage> {
  local(transport: TransportAddress['transport']): TransportAddress | undefined;
}

export interface UserAgentOptions {
  transport: UserAgentTransport;
  clock: Clock;
  logger: Logger;
  /** Host written in Via and Contact (a public address behind NAT); default: the bound one. */
  advertisedHost?: string;
  profile?: TimerProfile;
  /** User-Agent / Server header value. */
  product?: string;
  capabilities?: UasCapabilities;
  sessionTimer?: SessionTimerConfig;
  /** Status for out-of-dialog OPTIONS and new INVITEs, e.g. 503 while draining. */
  admissionStatus?: () => number | undefined;
  /**
   * Status for out-of-dialog OPTIONS when a load balancer should hear more than admissionStatus
   * says (e.g. 503 at the node's call limit); undefined answers 200. Default: admissionStatus.
   */
  optionsStatus?: () => number | undefined;
  /** Headers added to every answer to an out-of-dialog OPTIONS (e.g. the node's load). */
  optionsHeaders?: () => Array<[string, string]>;
  /**
   * The one handler of new calls: it must answer the session (progress, accept or reject).
   * If it throws, the INVITE gets 500.
   */
  onInvite: (session: InboundSession) => void;
  /** Bytes server transactions may hold, per source and in all (beyond: 503, shed as `memory`). */
  transactionMemory?: Partial<TransactionMemoryLimits>;
  /**
   * An in-dialog request for a dialog this agent does not hold (a call another node may have
   * carried): true when the handler takes it (and delivers or answers it later); false for
   * the usual 481.
   */
  onUnknownDialog?: (held: HeldRequest) => boolean;
}

/** A request's final response and the address it came from, or why none came. */
export type Exchanged = { response: SipResponse; source: TransportAddress } | 'timeout' | 'transport_error';

/** An in-dialog request waiting for its dialog (call takeover), its transaction still open. */
export interface HeldRequest {
  readonly request: SipRequest;
  /** Hands the request to its dialog's session if one is registered now; false when none is. */
  deliver(): boolean;
  respond(status: number, headers?: Array<[string, string]>): void;
}

export interface CallOptions {
  requestUri: string;
  destination: TransportAddress;
  /** From and To as name-addr strings (`"Name" <sip:user@host>`); a From tag is added. */
  from: string;
  to: string;
  sdp: string;
  headers?: Array<[string, string]>;
  authorize?: Authorizer;
  /** Answers the peer's re-INVITE/UPDATE offers once the call is up; without it they get 488. */
  answerOffer?: OfferAnswerer;
  /** Ask for RFC 4028 session timers (Session-Expires with our interval). */
  sessionTimer?: boolean;
  /** For a 3xx: the Request-URI to try next, or undefined to fail (OutboundSessionOptions). */
  redirect?: (response: SipResponse) => string | undefined;
  /** Our Contact at this address instead of ours (where a NAT maps us, see contactAddressOf). */
  contactAt?: PublicAddress;
}

type InviteServer = ServerTransaction<SipRequest, SipResponse>;

export class SipUserAgent {
  readonly endpoint: SipEndpoint<SipRequest, SipResponse>;
  readonly clock: Clock;
  readonly t1: number;
  readonly t2: number;
  readonly sessionTimer: SessionTimerConfig;
  readonly #options: UserAgentOptions;
  readonly #sessions = new Map<string, Session>();
  readonly #pendingInvites = new Map<InviteServer, InboundSession>();
  /** Registration Contacts moved to where a NAT maps us, by user part (contactMoved). */
  readonly #contactsAt = new Map<string, PublicAddress>();
  /**
   * Sessions not yet answered, ours and the peers', by Call-ID: a BYE or UPDATE finds its early
   * dialog without a scan of them all.
   */
  readonly #pendingByCallId = new Map<string, Array<InboundSession | OutboundSession>>();
  /** The INVITEs already handed to `onInvite` (see SeenInvites). */
  readonly #seenInvites = new SeenInvites();

  constructor(options: UserAgentOptions) {
    this.#options = options;
    this.clock = options.clock;
    const profile = options.profile ?? DEFAULT_TIMER_PROFILE;
    this.t1 = profile.t1;
    this.t2 = profile.t2;
    this.sessionTimer = options.sessionTimer ?? DEFAULT_SESSION_TIMER;
    this.endpoint = new SipEndpoint<SipRequest, SipResponse>({
      transport: options.transport,
      application: {
        onRequest: (request, transaction, source) => this.#receive(request, transaction, source),
        onAck: (ack) => this.#sessionFor(ack.callId(), ack.toTag(), ack.fromTag())?.receiveAck(ack),
        onCancel: (invite, cancel) => this.#pendingInvites.get(invite)?.receiveCancel(cancel),
        // The caller cannot be answered any more (its connection is gone): the session ends
        // now, not when the call's setup next tries to respond.
        onServerFailure: (invite, reason) =>
          this.#pendingInvites.get(invite)?.terminate({
            by: 'error',
            reason: 'transaction_failed',
            detail: `INVITE transaction ${reason}`,
          }),
        onStrayResponse: (response) => this.#stray(response),
      },
      ops: messageOps,
      clock: options.clock,
      profile,
      sentBy: (transport) => this.#advertised(transport),
      // A header that breaks as it is read is the peer's (answered 400): not a warning per request.
      onError: (error) =>
        error instanceof SipParseError
          ? options.logger.debug({ err: error }, 'sip request refused')
          : options.logger.warn({ err: error }, 'sip request failed'),
      ...(options.transactionMemory ? { transactionMemory: options.transactionMemory } : {}),
    });
  }

  /**
   * A request in an early dialog (RFC 3261 §12.1): the caller's BYE ends its pending INVITE
   * (§15), an UPDATE is answered (RFC 3311 §5.1). False when no such dialog is ringing, or the
   * method is another.
   */
  #earlyRequest(request: SipRequest, transaction: InviteServer, respond: (status: number) => void): boolean {
    const pending = this.#pendingByCallId.get(request.callId()) ?? [];
    const session = pending.find((candidate) => candidate.inEarlyDialog(request));
    if (!session) return false;
    if (request.method === 'UPDATE') {
      session.receiveEarlyUpdate(request, transaction);
      return true;
    }
    if (request.method !== 'BYE' || !(session instanceof InboundSession)) return false;
    session.receiveEarlyBye(request);
    respond(200);
    return true;
  }

  /** Keeps a session by Call-ID until it is answered or ends (see #pendingByCallId); returns the forgetting. */
  #trackPending(session: InboundSession | OutboundSession): () => void {
    const callId = session.callId;
    const sameCallId = this.#pendingByCallId.get(callId);
    if (sameCallId) sameCallId.push(session);
    else this.#pendingByCallId.set(callId, [session]);
    const settle = (): void => {
      const others = this.#pendingByCallId.get(callId)?.filter((pending) => pending !== session) ?? [];
      if (others.length > 0) this.#pendingByCallId.set(callId, others);
      else this.#pendingByCallId.delete(callId);
    };
    (session as Session).once('confirmed', settle);
    (session as Session).once('terminated', settle);
    return settle;
  }

  /**
   * Whether an in-dialog request (one with a To tag) belongs to a call here: a confirmed
   * dialog, or the early dialog of an INVITE still being answered (a BYE may end that).
   */
  knowsDialog(request: SipRequest): boolean {
    const callId = request.callId();
    return (
      this.#sessionFor(callId, request.toTag(), request.fromTag()) !== undefined ||
      this.#pendingByCallId.has(callId)
    );
  }

  get sessionCount(): number {
    return this.#sessions.size + this.#pendingInvites.size;
  }

  /** Starts an outbound INVITE; watch `session.outcome` and the session's `progress` events. */
  call(options: CallOptions): OutboundSession {
    const invite = new SipRequest('INVITE', options.requestUri);
    const host = this.#advertised(options.destination.transport).address;
    invite.append('Max-Forwards', '70');
    invite.append('From', `${options.from};tag=${randomToken()}`);
    invite.append('To', options.to);
    invite.append('Call-ID', `${randomToken(12)}@${host}`);
    invite.append('CSeq', '1 INVITE');
    invite.append(
      'Contact',
      this.contactHeader(options.destination.transport, false, undefined, options.contactAt),
    );
    invite.append('Allow', ALLOW);
    invite.append('Supported', 'timer');
    if (options.sessionTimer) {
      const config = this.sessionTimer;
      invite.append('Session-Expires', String(config.expires));
      invite.append('Min-SE', String(config.minSE));
    }
    if (this.#options.product) invite.append('User-Agent', this.#options.product);
    for (const [name, value] of options.headers ?? []) invite.append(name, value);
    invite.setBody(options.sdp, 'application/sdp');
    const session = new OutboundSession(this, invite, options.destination, {
      ...(options.authorize ? { authorize: options.authorize } : {}),
      ...(options.answerOffer ? { answerOffer: options.answerOffer } : {}),
      ...(options.redirect ? { redirect: options.redirect } : {}),
    });
    session.contactAt = options.contactAt;
    const forget = this.#trackPending(session);
    try {
      session.start();
    } catch (error) {
      forget(); // nothing was sent (too many transactions): no early dialog to find
      throw error;
    }
    return session;
  }

  /**
   * Continues a dialog another node set up (call takeover); `open()` registers it. `ownsCallId`:
   * that node sent the dialog's INVITE (RFC 3261 §14.1).
   */
  resume(
    state: DialogState,
    sdp: { local: string; remote: string },
    answerOffer?: OfferAnswerer,
    ownsCallId = false,
  ): ResumedSession {
    return new ResumedSession(this, state, sdp, answerOffer, ownsCallId);
  }

  /**
   * Our Contact for `transport`: `transport=tls` over TLS, or, in a SIPS dialog over TLS
   * (`secure`), a SIPS URI (RFC 3261 §12.1.1; RFC 5630 §3.1: sips: already means TLS). A
   * registration passes its own user part (RFC 3261 §10.2.1).
   */
  contactHeader(
    transport: TransportAddress['transport'],
    secure = false,
    user = 'patchbay',
    at?: PublicAddress,
  ): string {
    const local = at ?? this.#advertised(transport);
    const host = uriHost(local.address);
    const userPart = escapeUser(user);
    if (secure && transport === 'tls') return `<sips:${userPart}@${host}:${local.port}>`;
    return `<sip:${userPart}@${host}:${local.port}${transport === 'udp' ? '' : `;transport=${transport}`}>`;
  }

  /**
   * A registration's Contact `user` is at `at` (where a NAT maps us, as its registrar saw it),
   * or back at our own address when undefined: calls to it answer with that Contact.
   */
  contactMoved(user: string, at: PublicAddress | undefined): void {
    if (at) this.#contactsAt.set(user, at);
    else this.#contactsAt.delete(user);
  }

  /** Where a registration's Contact `user` was moved (contactMoved), if it was. */
  contactAddressOf(user: string): PublicAddress | undefined {
    return this.#contactsAt.get(user);
  }

  /** A CRLF CRLF keep-alive (RFC 5626 §3.5.1) to `destination`, keeping a NAT's mapping open. */
  keepAlive(destination: TransportAddress): void {
    this.#options.transport.send(KEEP_ALIVE, destination).catch(() => undefined);
  }

  /** An out-of-transaction-user request: the final response, or why none came. */
  async send(
    request: SipRequest,
    destination: TransportAddress,
  ): Promise<SipResponse | 'timeout' | 'transport_error'> {
    const outcome = await this.exchange(request, destination);
    return typeof outcome === 'string' ? outcome : outcome.response;
  }

  /** Like `send`, with the address the final response came from (a registrar's, registration.ts). */
  exchange(request: SipRequest, destination: TransportAddress): Promise<Exchanged> {
    return new Promise((resolve) => {
      let settled = false;
      try {
        this.endpoint.sendRequest(request, destination, {
          // A re-INVITE's transaction passes on 2xx retransmissions (RFC 6026 Accepted state):
          // they mean our ACK was lost, and the session sends it again.
          onFinal: (response, source) => {
            if (settled) this.#stray(response);
            settled = true;
            resolve({ response, source: source ?? destination });
          },
          onTimeout: () => resolve('timeout'),
          onTransportError: () => resolve('transport_error'),
        });
      } catch {
        resolve('transport_error');
      }
    });
  }

  /** Like `send`, with timeouts and transport errors as 408/503 responses (RFC 3261 §8.1.3.1). */
  async request(request: SipRequest, destination: TransportAddress): Promise<SipResponse> {
    const outcome = await this.send(request, destination);
    if (typeof outcome !== 'string') return outcome;
    return createResponse(request, outcome === 'timeout' ? 408 : 503);
  }

  ack(ack: SipRequest, destination: TransportAddress): void {
    this.endpoint.sendAck(ack, destination).catch(() => undefined);
  }

  sendInvite(invite: SipRequest, destination: TransportAddress, user: InviteUser) {
    return this.endpoint.sendRequest(invite, destination, user);
  }

  sendCancel(cancel: SipRequest, destination: TransportAddress): void {
    try {
      this.endpoint.sendCancel(cancel, destination);
    } catch (error) {
      this.#options.logger.debug({ err: error }, 'CANCEL not sent');
    }
  }

  register(session: Session): void {
    if (session.dialog) this.#sessions.set(session.dialog.key, session);
  }

  unregister(session: Session): void {
    if (session.dialog && this.#sessions.get(session.dialog.key) === session)
      this.#sessions.delete(session.dialog.key);
  }

  /** Drops every session without signalling (shutdown) and stops all timers. */
  close(): void {
    for (const session of [...this.#sessions.values(), ...this.#pendingInvites.values()]) {
      session.terminate({ by: 'local', reason: 'shutdown' });
    }
    this.endpoint.close();
  }

  #advertised(transport: TransportAddress['transport']): TransportAddress {
    const local = this.#options.transport.local(transport) ?? { transport, address: '127.0.0.1', port: 5060 };
    return this.#options.advertisedHost ? { ...local, address: this.#options.advertisedHost } : local;
  }

  #sessionFor(
    callId: string,
    localTag: string | undefined,
    remoteTag: string | undefined,
  ): Session | undefined {
    if (localTag === undefined || remoteTag === undefined) return undefined;
    return this.#sessions.get(dialogKey(callId, localTag, remoteTag));
  }

  #receive(request: SipRequest, transaction: InviteServer, source: TransportAddress): void {
    const respond = (status: number, headers: Array<[string, string]> = []): void => {
      const response = createResponse(request, status);
      for (const [name, value] of headers) response.append(name, value);
      if (this.#options.product) response.append('Server', this.#options.product);
      transaction.respond(response);
    };
    const capabilities = this.#options.capabilities ?? DEFAULT_CAPABILITIES;
    if (request.toTag() !== undefined) {
      // §8.2.2.3 holds in a dialog too: a refresh requiring an extension we lack is not answered 200.
      const unsupported = requireRejection(request, capabilities);
      if (unsupported) {
        respond(unsupported.status, unsupported.headers);
        return;
      }
      const session = this.#sessionFor(request.callId(), request.toTag(), request.fromTag());
      if (session) session.receiveRequest(request, transaction);
      else if (this.#earlyRequest(request, transaction, respond)) return;
      else if (!this.#options.onUnknownDialog?.(this.#held(request, transaction, respond))) respond(481);
      return;
    }
    const rejection = checkRequest(request, capabilities);
    if (rejection) {
      respond(rejection.status, rejection.headers);
      return;
    }
    if (request.method === 'OPTIONS') {
      const status = (this.#options.optionsStatus ?? this.#options.admissionStatus)?.() ?? 200;
      const load = this.#options.optionsHeaders?.() ?? [];
      const capabilities: Array<[string, string]> = [
        ['Allow', ALLOW],
        ['Accept', 'application/sdp'],
        ['Supported', 'timer'],
      ];
      respond(status, status === 200 ? [...capabilities, ...load] : load);
      return;
    }
    if (request.method !== 'INVITE') {
      respond(405, [['Allow', ALLOW]]);
      return;
    }
    const admission = this.#options.admissionStatus?.();
    const config = this.sessionTimer;
    if (admission !== undefined) {
      respond(admission);
      return;
    }
    const timerRejection = checkSessionTimer(request, config);
    if (timerRejection) {
      respond(timerRejection.status, timerRejection.headers);
      return;
    }
    // Read now the route set the dialog takes at the answer: one that does not parse gets 400
    // here (the endpoint answers a SipParseError), not a 503 after the bot has been connected.
    request.routes('Record-Route');
    if (this.#seenInvites.isStale(request, this.clock.now())) {
      respond(482);
      return;
    }
    const session = new InboundSession(this, request, transaction, source, config);
    // A call to a registration's Contact answers with that Contact, where the registrar saw us.
    const user = request.requestUri().user;
    session.contactAt = user === undefined ? undefined : this.#contactsAt.get(user);
    this.#pendingInvites.set(transaction, session);
    this.#trackPending(session);
    const settle = (): void => void this.#pendingInvites.delete(transaction);
    session.once('confirmed', settle);
    session.once('terminated', settle);
    try {
      this.#options.onInvite(session);
    } catch (error) {
      // Unanswered, the INVITE would stay pending and its session tracked until shutdown.
      this.#options.logger.error({ err: error }, 'INVITE handler failed');
      session.reject(500);
    }
  }

  #held(
    request: SipRequest,
    transaction: InviteServer,
    respond: (status: number, headers?: Array<[string, string]>) => void,
  ): HeldRequest {
    return {
      request,
      deliver: () => {
        const session = this.#sessionFor(request.callId(), request.toTag(), request.fromTag());
        session?.receiveRequest(request, transaction);
        return session !== undefined;
      },
      respond,
    };
  }

  #stray(response: SipResponse): void {
    if (!isResponseForUs(response) || response.status < 200 || response.status >= 300) return;
    if (response.cseq().method !== 'INVITE') return;
    const session = this.#sessionFor(response.callId(), response.fromTag(), response.toTag());
    session?.resendAck(response.cseq().seq);
  }
}
