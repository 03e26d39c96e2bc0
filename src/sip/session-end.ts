/**
 * How a SIP session ends: the fixed list of reasons, the cause a session reports once, and
 * which answers to a request of ours inside the dialog end it.
 */
import type { SignalledReason } from './reason.js';

/** Why a session ended, from a fixed list; what it means for a call is the call's to say. */
export type SessionEndReason =
  /** The peer's BYE. */
  | 'bye'
  /** The caller's CANCEL of its INVITE. */
  | 'cancel'
  /** We answered the INVITE with a final error. */
  | 'rejected'
  /** Our INVITE got a final error, timed out or could not be sent (`detail`: its reason phrase). */
  | 'attempt_failed'
  /** We ended it: CANCEL, or BYE (§15.1.1). */
  | 'hangup'
  /** Our 2xx was never acknowledged (§13.3.1.4). */
  | 'no_ack'
  /** The ACK to the offer in our 2xx carried no answer, or one we cannot use (§13.2.2.4). */
  | 'bad_answer'
  /** An in-dialog request of ours got an answer that ends the dialog (endsDialog, RFC 5057 §5.1). */
  | 'dialog_gone'
  /** No refresh came before the session interval ran out (RFC 4028 §10). */
  | 'session_expired'
  /** Our refresh got an answer that ends the dialog (endsDialog), or could not be sent (RFC 4028 §10). */
  | 'refresh_failed'
  /** The INVITE server transaction timed out or its transport failed before we answered. */
  | 'transaction_failed'
  /** The user agent closed. */
  | 'shutdown'
  /** Another node took the call over: let go without BYE. */
  | 'taken_over';

export interface TerminationCause {
  by: 'local' | 'remote' | 'timeout' | 'error';
  reason: SessionEndReason;
  status?: number;
  /** Free text beside the reason (a reason phrase, the transaction's failure). */
  detail?: string;
  /** The Reason header (RFC 3326) of the peer's BYE or CANCEL. */
  signalled?: SignalledReason;
}

/**
 * RFC 5057 §5.1: the final responses to a request of ours inside a dialog that end the dialog
 * itself, not only that request: the peer has no such dialog (481, RFC 3261 §12.2.1.2), no
 * answer came (408, also a timeout, §8.1.3.1), or its remote target or route set no longer
 * leads anywhere (404, 410, 416, 482, 483, 484, 485, 502, 604). Any other failure (403, 405,
 * 488, 491, 500, 501, 503...) fails the request or its usage only (a REFER's transfer), never
 * the call.
 */
const DIALOG_ENDING = new Set([404, 408, 410, 416, 481, 482, 483, 484, 485, 502, 604]);

/** Whether `status`, answering a request of ours in a dialog, ends the dialog (RFC 5057 §5.1). */
export function endsDialog(status: number): boolean {
  return DIALOG_ENDING.has(status);
}
