/**
 * A confirmed dialog continued by another user agent than the one that set it up (call takeover
 * in a cluster): the dialog's identifiers, CSeq spaces and route set come from a snapshot, and
 * the new owner tells the peer where it now is with a re-INVITE whose Contact is its own
 * (a target refresh, RFC 3261 §12.2.1.2, §14.1) and whose SDP offers its media address.
 */
import { Dialog, type DialogState } from './dialog.js';
import { type OfferAnswerer, Session, type SessionHost } from './session.js';

export class ResumedSession extends Session {
  readonly #answerOffer: OfferAnswerer | undefined;
  readonly #ownsCallId: boolean;

  /**
   * Throws SipParseError when the state's URIs do not parse. `ownsCallId`: the dialog was set up
   * by our INVITE (an outbound call), for RFC 3261 §14.1's glare wait.
   */
  constructor(
    host: SessionHost,
    state: DialogState,
    sdp: { local: string; remote: string },
    answerOffer?: OfferAnswerer,
    ownsCallId = false,
  ) {
    const dialog = Dialog.fromState(state);
    // The dialog's identity as a request, for `callId`; it is never sent (no CSeq is taken).
    super(host, dialog.createRequest('INVITE', dialog.localSeq));
    this.localSdp = sdp.local;
    this.remoteSdp = sdp.remote;
    this.#answerOffer = answerOffer;
    this.#ownsCallId = ownsCallId;
    this.dialog = dialog;
  }

  protected override get ownsCallId(): boolean {
    return this.#ownsCallId;
  }

  /**
   * Registers the dialog with the user agent: in-dialog requests reach this session from now
   * on. The new owner then sends `reinvite` with its SDP and Contact (idempotent).
   */
  open(): void {
    if (this.state === 'initial' && this.dialog) this.confirm(this.dialog, this.#answerOffer);
  }
}
