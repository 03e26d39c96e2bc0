/** How a SIP session ends: the fixed list of reasons, and the cause a session reports once. */

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
  /** An in-dialog request of ours got 481 or 408: the peer no longer has the dialog (§12.2.1.2). */
  | 'dialog_gone'
  /** No refresh came before the session interval ran out (RFC 4028 §10). */
  | 'session_expired'
  /** Our refresh was refused or timed out (RFC 4028 §10). */
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
}
