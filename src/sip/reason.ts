/**
 * The Reason header (RFC 3326): why a BYE or CANCEL ends a call, as a Q.850 cause (ITU-T Q.850,
 * the cause codes of the telephone network behind a carrier) or a SIP status, with free text.
 * RFC 6432 allows it in responses too. Read from what a carrier sends; written into our BYEs,
 * CANCELs and refusals.
 */
import { parseParams, SipParseError } from './grammar.js';
import type { SipMessage } from './message.js';

/** A Reason value we read: its protocol, its cause, and its text (bounded, printable ASCII). */
export interface SignalledReason {
  protocol: 'Q.850' | 'SIP';
  cause: number;
  text?: string;
}

/** Longest reason text kept: it is the peer's free text, for records and logs only. */
const MAX_TEXT_LENGTH = 100;

/** Q.850 cause values are 1-127 (Q.850 §2.2.5); a SIP cause is a final or provisional status. */
const CAUSE_RANGE = { 'Q.850': [1, 127], SIP: [100, 699] } as const;

/**
 * The message's Reason (RFC 3326 §2): its Q.850 value if it has one, else its SIP value, else
 * undefined; a value whose cause is missing or out of range, or a header that does not parse,
 * counts as none.
 */
export function signalledReason(message: SipMessage): SignalledReason | undefined {
  let values: string[];
  try {
    values = message.listValues('reason');
  } catch (error) {
    if (error instanceof SipParseError) return undefined;
    throw error;
  }
  let sip: SignalledReason | undefined;
  for (const value of values) {
    const reason = reasonValue(value);
    if (reason?.protocol === 'Q.850') return reason;
    sip ??= reason;
  }
  return sip;
}

/** One reason-value (`protocol *(SEMI reason-params)`), or undefined. */
function reasonValue(value: string): SignalledReason | undefined {
  const semicolon = value.indexOf(';');
  const name = (semicolon < 0 ? value : value.slice(0, semicolon)).trim().toUpperCase();
  if (name !== 'Q.850' && name !== 'SIP') return undefined;
  let params: ReadonlyMap<string, string | null>;
  try {
    params = parseParams(semicolon < 0 ? '' : value.slice(semicolon + 1));
  } catch (error) {
    if (error instanceof SipParseError) return undefined;
    throw error;
  }
  const cause = params.get('cause');
  if (typeof cause !== 'string' || !/^\d{1,3}$/.test(cause)) return undefined;
  const [low, high] = CAUSE_RANGE[name];
  const number = Number(cause);
  if (number < low || number > high) return undefined;
  const text = params.get('text');
  const printable =
    typeof text === 'string' ? text.replace(/[^\x20-\x7e]/g, '').slice(0, MAX_TEXT_LENGTH) : '';
  return printable === ''
    ? { protocol: name, cause: number }
    : { protocol: name, cause: number, text: printable };
}

/** A Reason value of ours: a Q.850 cause with a token-like text (RFC 3326 §2). */
export function q850Reason(cause: number, text: string): string {
  return `Q.850;cause=${cause};text="${text.replace(/["\\]/g, '')}"`;
}

/** The message's Reason as a TerminationCause carries it (spread into one): empty without one. */
export function signalledBy(message: SipMessage): { signalled?: SignalledReason } {
  const signalled = signalledReason(message);
  return signalled ? { signalled } : {};
}
