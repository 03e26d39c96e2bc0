/**
 * Early dialogs (RFC 3261 §12.1): the dialog a provisional response with a To tag makes before
 * the 2xx. Besides the caller's BYE (§15, call-legs.ts), either side may send UPDATE in it
 * (RFC 3311 §5.1). While the INVITE's offer is open (no reliable provisional response answered
 * it), an UPDATE with an offer is refused: 491 when the open offer is ours, 500 with
 * Retry-After when it is the peer's (RFC 3311 §5.2). Once a reliable 18x answered our offer
 * (RFC 3262 §5), an offer in an UPDATE is answered like one in a confirmed dialog. One without
 * an offer (a session or target refresh) gets 200. The peer's CSeq is held per early dialog
 * (§12.2.2), and the confirmed dialog goes on from it.
 */
import { randomInt } from 'node:crypto';
import type { Dialog } from './dialog.js';
import type { SipRequest, SipResponse } from './message.js';
import { createResponse } from './message-ops.js';
import type { OfferAnswer } from './offer-answer.js';
import type { ServerTransaction } from './transaction/index.js';

/** Whose offer, made with the INVITE or to be made in its 2xx, still waits for its answer. */
export type OpenOffer = 'ours' | 'theirs';

/** The early dialogs of one INVITE we keep (one per fork that answered with a To tag). */
const MAX_EARLY_DIALOGS = 16;

interface EarlyState {
  /** Highest CSeq the peer sent in this early dialog (§12.2.2). */
  remoteSeq: number | undefined;
  /** The last UPDATE, whose Contact is the peer's target (RFC 3311 §5.2). */
  refresh: SipRequest | undefined;
}

export class EarlyDialogs {
  readonly #dialogs = new Map<string, EarlyState>();

  /** A provisional response made the early dialog with the peer's tag `remoteTag`. */
  open(remoteTag: string | undefined, remoteSeq?: number): void {
    if (remoteTag === undefined || this.#dialogs.has(remoteTag)) return;
    if (this.#dialogs.size >= MAX_EARLY_DIALOGS) return;
    this.#dialogs.set(remoteTag, { remoteSeq, refresh: undefined });
  }

  has(remoteTag: string | undefined): boolean {
    return remoteTag !== undefined && this.#dialogs.has(remoteTag);
  }

  /**
   * An UPDATE in the early dialog: answered at once (see above). `open` is the offer still
   * waiting for its answer; with none, `answer` answers an offer in the UPDATE.
   */
  receive(
    request: SipRequest,
    transaction: ServerTransaction<SipRequest, SipResponse>,
    contact: string,
    open: OpenOffer | { answer: (offer: string) => OfferAnswer },
  ): void {
    const state = this.#dialogs.get(request.fromTag() ?? '');
    if (!state) {
      transaction.respond(createResponse(request, 481));
      return;
    }
    const seq = request.cseq().seq;
    if (state.remoteSeq !== undefined && seq <= state.remoteSeq) {
      transaction.respond(createResponse(request, 500, 'Out of Order'));
      return;
    }
    state.remoteSeq = seq;
    let answerSdp: string | undefined;
    if (request.body.length > 0) {
      if (typeof open === 'string') {
        const refused = createResponse(request, open === 'ours' ? 491 : 500);
        if (open === 'theirs') refused.append('Retry-After', String(randomInt(11)));
        transaction.respond(refused);
        return;
      }
      const answer = open.answer(request.body.toString());
      if ('status' in answer) {
        transaction.respond(createResponse(request, answer.status));
        return;
      }
      answerSdp = answer.sdp;
    }
    state.refresh = request;
    const response = createResponse(request, 200);
    response.append('Contact', contact);
    if (answerSdp !== undefined) response.setBody(answerSdp, 'application/sdp');
    transaction.respond(response);
  }

  /**
   * The early dialog became `dialog`: its CSeq goes on from the early one's, and (`refreshTarget`,
   * UAS side: the target came from the INVITE) an UPDATE's Contact is its remote target.
   */
  confirm(dialog: Dialog, refreshTarget: boolean): void {
    const state = this.#dialogs.get(dialog.remoteTag);
    this.#dialogs.clear();
    if (!state) return;
    if (
      state.remoteSeq !== undefined &&
      (dialog.remoteSeq === undefined || state.remoteSeq > dialog.remoteSeq)
    )
      dialog.remoteSeq = state.remoteSeq;
    if (refreshTarget && state.refresh) dialog.refreshTarget(state.refresh);
  }
}
