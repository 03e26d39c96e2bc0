/**
 * How a call ended: one bounded cause (safe as a metric label), the SIP status that went with
 * it, and free-text detail for logs and call records only. Every call reaches exactly one.
 */
import {
  type InboundSession,
  q850Reason,
  type Session,
  type SignalledReason,
  type TerminationCause,
} from '../sip/index.js';
import { shownUrlsIn } from '../util/index.js';

/**
 * Every cause, in one list so metrics and docs can enumerate them:
 * - the parties: `caller_bye` (inbound carrier leg hung up), `caller_cancel` (it cancelled
 *   before answer), `callee_bye` (outbound carrier leg hung up), `bot_hangup`, `api_hangup`;
 * - outbound attempts: `no_answer` (ring timeout, 408, 480, 487), `busy` (486, 600),
 *   `declined` (603), `failover_exhausted` (every gateway failed otherwise), `dns_failure`
 *   (the last gateway tried had a DNS name that did not resolve: NXDOMAIN, SERVFAIL, timeout);
 * - refusals before answer: `rejected_source`, `rejected_number`, `rejected_route`,
 *   `auth_challenge` (401 sent, the caller may retry), `auth_failed`, `rejected_cps`,
 *   `rejected_concurrency`, `rejected_overload` (the node's event loop or media clock fell
 *   behind over the last window, `limits.overload`), `draining`, `no_common_codec` (488; on an
 *   answered call, an SDP answer in an ACK we cannot use), `encryption_mismatch` (488: the
 *   offer or answer does not meet the trunk's `media.encryption`), `bot_unreachable`;
 * - the gateway: `bot_gone` (the bot's socket was lost for good), `rtp_timeout`,
 *   `max_duration`, `session_expired` (RFC 4028 refresh or 2xx ACK failed, or a request of ours
 *   in the dialog got an answer that ends it: 481, 408, 404... RFC 5057 §5.1), `drain_timeout`,
 *   `shutdown`, `media_worker_failed` (the media worker thread carrying the call died,
 *   `media.workers`), `error`.
 */
export const CALL_END_CAUSES = [
  'caller_bye',
  'caller_cancel',
  'callee_bye',
  'bot_hangup',
  'api_hangup',
  'no_answer',
  'busy',
  'declined',
  'failover_exhausted',
  'dns_failure',
  'rejected_source',
  'rejected_number',
  'rejected_route',
  'auth_challenge',
  'auth_failed',
  'rejected_cps',
  'rejected_concurrency',
  'rejected_overload',
  'draining',
  'no_common_codec',
  'encryption_mismatch',
  'bot_unreachable',
  'bot_gone',
  'rtp_timeout',
  'max_duration',
  'session_expired',
  'drain_timeout',
  'shutdown',
  'taken_over',
  'media_worker_failed',
  'error',
] as const;

export type CallEndCause = (typeof CALL_END_CAUSES)[number];

export interface CallEnd {
  cause: CallEndCause;
  /** The final SIP status we sent or received, when the end had one. */
  sipStatus?: number;
  /** Free text (a reason phrase, an error message): records and logs only, never a label. */
  detail?: string;
  /**
   * The carrier's Reason header (RFC 3326, RFC 6432) on the BYE, CANCEL or final response that
   * ended the call: a Q.850 cause (ITU-T Q.850) or a SIP status. Its text is in `detail`.
   */
  signalled?: { protocol: 'Q.850' | 'SIP'; cause: number };
}

/** Who ended the call, as call records and status callbacks name it. */
export type HangupParty = 'caller' | 'callee' | 'bot' | 'api' | 'gateway';

export function hangupPartyOf(cause: CallEndCause): HangupParty {
  switch (cause) {
    case 'caller_bye':
    case 'caller_cancel':
      return 'caller';
    case 'callee_bye':
    case 'no_answer':
    case 'busy':
    case 'declined':
    case 'failover_exhausted':
      return 'callee';
    case 'bot_hangup':
      return 'bot';
    case 'api_hangup':
      return 'api';
    default:
      return 'gateway';
  }
}

/** The cause of an outbound call whose last attempt got a final non-2xx `status`. */
export function causeOfFinalStatus(status: number): CallEndCause {
  if (status === 486 || status === 600) return 'busy';
  if (status === 603) return 'declined';
  if (status === 408 || status === 480 || status === 487) return 'no_answer';
  return 'failover_exhausted';
}

const MAX_DETAIL = 160;

/**
 * Free text from the network or an exception, made safe for a record and its log line:
 * printable, bounded, and any URL in it without user info or query (an error may quote a bot
 * URL whole, token and all).
 */
export function boundedDetail(text: string): string {
  return shownUrlsIn(text)
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, MAX_DETAIL);
}

/** The session ends the SIP layer decides on its own (RFC 4028 refresh, lost 2xx ACK), as the record says them. */
const SESSION_EXPIRY_DETAIL = {
  session_expired: 'session timer expired',
  refresh_failed: 'session refresh failed',
  no_ack: 'no ACK for 2xx',
} as const;

/** The carrier's Reason in an end: its protocol and cause, and its text (bounded) as the detail. */
export function signalledEnd(reason: SignalledReason | undefined): Pick<CallEnd, 'signalled' | 'detail'> {
  if (!reason) return {};
  const { protocol, cause, text } = reason;
  return {
    signalled: { protocol, cause },
    ...(text === undefined ? {} : { detail: boundedDetail(text) }),
  };
}

/**
 * The Q.850 cause our BYE or refusal gives for an end (RFC 3326, RFC 6432): unallocated number
 * (1) for a number or route we do not serve, call rejected (21) for a source or credentials we
 * refuse, no circuit available (34) at a trunk's limits, switching equipment congestion (42)
 * when overloaded, recovery on timer expiry (102) for a silent or expired session, incompatible
 * destination (88) for media we cannot use, temporary failure (41) when the bot or the gateway
 * failed or drains, else normal call clearing (16).
 */
export function q850CauseOf(cause: CallEndCause): number {
  switch (cause) {
    case 'rejected_number':
    case 'rejected_route':
      return 1;
    case 'rejected_source':
    case 'auth_failed':
      return 21;
    case 'rejected_cps':
    case 'rejected_concurrency':
      return 34;
    case 'rejected_overload':
      return 42;
    case 'rtp_timeout':
    case 'session_expired':
      return 102;
    case 'no_common_codec':
    case 'encryption_mismatch':
      return 88;
    case 'bot_unreachable':
    case 'bot_gone':
    case 'media_worker_failed':
    case 'draining':
    case 'error':
      return 41;
    default:
      return 16;
  }
}

/** How a SIP session's own end (a BYE, a CANCEL, a refresh failure) ends its call. */
export function endOfTermination(termination: TerminationCause, direction: 'inbound' | 'outbound'): CallEnd {
  const status = termination.status === undefined ? {} : { sipStatus: termination.status };
  switch (termination.reason) {
    case 'bye':
      return {
        cause: direction === 'inbound' ? 'caller_bye' : 'callee_bye',
        ...status,
        ...signalledEnd(termination.signalled),
      };
    case 'cancel':
      return { cause: 'caller_cancel', ...status, ...signalledEnd(termination.signalled) };
    case 'session_expired':
    case 'refresh_failed':
    case 'no_ack':
      return { cause: 'session_expired', detail: SESSION_EXPIRY_DETAIL[termination.reason] };
    case 'dialog_gone':
      return { cause: 'session_expired', detail: boundedDetail(`dialog gone: ${termination.detail}`) };
    case 'bad_answer':
      return { cause: 'no_common_codec', detail: boundedDetail(`SDP answer refused: ${termination.detail}`) };
    case 'shutdown':
      return { cause: 'shutdown' };
    case 'taken_over':
      return { cause: 'taken_over' };
    case 'rejected':
    case 'attempt_failed':
    case 'hangup':
    case 'transaction_failed':
      // The call ended these itself, or learns of them otherwise (the dial's result): an end
      // the session reports first is an error.
      return { cause: 'error', ...status, detail: boundedDetail(termination.detail ?? termination.reason) };
  }
}

/**
 * The SIP side of an end: a final response to a pending inbound INVITE, else CANCEL while early
 * or BYE once a 2xx came (also when we refuse that 2xx's answer: bye() does both); nothing when
 * the peer ended the call itself.
 */
export function endSignalling(
  session: Session,
  direction: 'inbound' | 'outbound',
  answered: boolean,
  end: CallEnd,
  rejectHeaders: Array<[string, string]>,
): void {
  if (session.state === 'terminated') return;
  const party = hangupPartyOf(end.cause);
  if (party === 'caller' && direction === 'inbound') return;
  if (party === 'callee' && direction === 'outbound' && answered) return;
  // RFC 3326 (RFC 6432 in a response): it says why, as a Q.850 cause with our cause as its text.
  const reason: [string, string] = ['Reason', q850Reason(q850CauseOf(end.cause), end.cause)];
  if (direction === 'inbound' && (session as InboundSession).pending) {
    // A challenge is no end for the caller, who may answer it.
    const headers = end.cause === 'auth_challenge' ? rejectHeaders : [...rejectHeaders, reason];
    (session as InboundSession).reject(end.sipStatus ?? 500, headers);
    return;
  }
  void session.bye('hangup', undefined, [reason]).catch(() => undefined);
}
