/**
 * The types around an INVITE we send (call-legs.ts's OutboundSession): how its attempt ends,
 * the options that steer it, and what it needs from the user agent.
 */
import type { SipRequest, SipResponse } from './message.js';
import type { OfferAnswerer } from './offer-answer.js';
import type { SessionEvents, SessionHost } from './session.js';
import type { ClientTransaction } from './transaction/index.js';
import type { TransportAddress } from './types.js';

/**
 * An attempt that ended without a 2xx, as a failover log records it: the final status and its
 * Reason-Phrase (control characters removed, at most 64 characters). `cause` says where they
 * come from: the peer's final response, or no response at all, which RFC 3261 §8.1.3.1 treats
 * as 408 (Timer B, §17.1.1.2) or 503 (transport error) with their §21 phrases.
 */
export type OutboundFailure = {
  kind: 'failed';
  /** A provisional response carried SDP before the failure. */
  earlyMedia: boolean;
} & AttemptFailure;

export type AttemptFailure = { status: number; reason: string } & (
  | { cause: 'response'; response: SipResponse }
  | { cause: 'timeout' | 'transport_error' }
);

export type OutboundOutcome = { kind: 'answered'; response: SipResponse } | OutboundFailure;

export interface OutboundSessionEvents extends SessionEvents {
  /** Every provisional response but 100 (180/183, with or without SDP). */
  progress: [response: SipResponse];
}

export interface OutboundSessionOptions {
  authorize?: Authorizer;
  /** Answers the peer's re-INVITE/UPDATE offers once the call is up; without it they get 488. */
  answerOffer?: OfferAnswerer;
  /**
   * RFC 3261 §8.1.3.4: for a 3xx, the Request-URI to try next (same Call-ID, From tag, To and
   * destination), or undefined to fail the call with the 3xx.
   */
  redirect?: (response: SipResponse) => string | undefined;
}

export interface OutboundHost extends SessionHost {
  /** Sends the INVITE (adds Via) and returns its client transaction. */
  sendInvite(
    invite: SipRequest,
    destination: TransportAddress,
    user: InviteUser,
  ): ClientTransaction<SipRequest, SipResponse>;
  /** Sends a CANCEL carrying the INVITE's Via (no new branch, §9.1). */
  sendCancel(cancel: SipRequest, destination: TransportAddress): void;
}

export interface InviteUser {
  onProvisional(response: SipResponse): void;
  onFinal(response: SipResponse): void;
  onTimeout(): void;
  onTransportError(error: unknown): void;
}

/** Our answer to a 401/407: the Authorization header, and whether its challenge said stale=true. */
export interface DigestAnswer {
  header: [string, string];
  stale: boolean;
}

/** Answers a 401/407, or undefined to give up (RFC 3261 §22.2). */
export type Authorizer = (challenge: SipResponse, request: SipRequest) => DigestAnswer | undefined;
