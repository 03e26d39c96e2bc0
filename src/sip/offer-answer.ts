/**
 * Offer/answer inside a session (RFC 3264 §8): who answers the peer's new offers, and what an
 * answer is. A session has one answerer, fixed when its dialog is confirmed.
 */
import type { SipRequest } from './message.js';

/** Answer to a re-INVITE/UPDATE offer: SDP, or a status such as 488 or 491. */
export type OfferAnswer = { sdp: string } | { status: number };

/**
 * Answers the peer's re-INVITE/UPDATE offers (RFC 3264 §8). Exactly one answerer per session,
 * fixed when the dialog is confirmed: `InboundSession.accept(sdp, answerOffer)` or
 * `CallOptions.answerOffer`, so no later caller can replace it. Without one, offers get 488.
 */
export interface OfferAnswerer {
  (offer: string, request: SipRequest): OfferAnswer;
  /**
   * The peer's answer, in its ACK, to the offer our 2xx made to a re-INVITE without one (RFC 3261
   * §14.2: our current SDP, offered again): undefined when taken, else why it cannot be used,
   * and the session ends with BYE (§13.2.2.4). Without it, any answer is taken.
   */
  takeAnswer?(answer: string): string | undefined;
}
