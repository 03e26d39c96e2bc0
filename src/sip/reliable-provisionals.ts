/**
 * Reliable provisional responses to our INVITE (RFC 3262 §4, the UAC side). A 101-199 response
 * requiring 100rel with an RSeq is acknowledged with a PRACK in the early dialog it makes,
 * whether or not our INVITE offered 100rel: the UAS retransmits it until then, and gives up on
 * the call without one. Each early dialog takes its responses in RSeq order: after the first
 * (any RSeq), only the one just above the last acknowledged; a retransmission or one out of
 * order is discarded (it comes again, in order). The PRACKs take CSeqs in the early dialog,
 * which its confirmed dialog continues above (RFC 3261 §12.2.1.1).
 */
import { Dialog } from './dialog.js';
import { SipParseError } from './grammar.js';
import type { SipRequest, SipResponse } from './message.js';
import type { TransportAddress } from './types.js';
import { DEFAULT_CAPABILITIES, requiresReliableProvisionals, unsupportedRequirements } from './validate.js';

/** RFC 3262 §7.1: RSeq is 1 to 2^31-1. */
const MAX_RSEQ = 2 ** 31 - 1;

/** The early dialogs of one INVITE we PRACK in (one per fork), as early-dialog.ts bounds them. */
const MAX_RELIABLE_DIALOGS = 16;

/** What to do with a provisional response to our INVITE. */
export type Reliability =
  /** Sent unreliably (or without a valid RSeq): taken as it is, no PRACK. */
  | { kind: 'unreliable' }
  /** Reliable and next in its dialog: `prack` goes to `destination`, and the response is taken. */
  | { kind: 'acknowledge'; prack: SipRequest; destination: TransportAddress }
  /** Reliable but a retransmission or out of order: neither PRACKed nor taken (§4). */
  | { kind: 'discard' };

/** The RSeq of a response sent reliably (§3: Require: 100rel, RSeq in range), else undefined. */
export function reliableRSeq(response: SipResponse): number | undefined {
  if (response.status <= 100 || response.status >= 200 || !requiresReliableProvisionals(response))
    return undefined;
  const value = response.get('rseq');
  if (value === undefined || !/^\d{1,10}$/.test(value)) return undefined;
  const rseq = Number(value);
  return rseq >= 1 && rseq <= MAX_RSEQ ? rseq : undefined;
}

/**
 * A 421 (RFC 3261 §21.4.15) our INVITE can be retried for with 100rel in Supported: its Require
 * lists 100rel and nothing we lack.
 */
export function acceptsOnlyWith100rel(response: SipResponse): boolean {
  try {
    if (response.status !== 421 || !requiresReliableProvisionals(response)) return false;
    return unsupportedRequirements(response, DEFAULT_CAPABILITIES).length === 0;
  } catch (error) {
    if (error instanceof SipParseError) return false; // a Require that does not parse
    throw error;
  }
}

export class ReliableProvisionals {
  /** By To tag: the early dialog's state, for its PRACKs, and the last RSeq it acknowledged. */
  readonly #dialogs = new Map<string, { dialog: Dialog; lastRSeq: number }>();

  /** A provisional response to `invite`, sent to `destination`: see Reliability. */
  receive(invite: SipRequest, response: SipResponse, destination: TransportAddress): Reliability {
    try {
      return this.#receive(invite, response, destination);
    } catch (error) {
      // A Require, Contact or Record-Route that does not parse: no PRACK can be made of it.
      if (error instanceof SipParseError) return { kind: 'discard' };
      throw error;
    }
  }

  #receive(invite: SipRequest, response: SipResponse, destination: TransportAddress): Reliability {
    const toTag = response.toTag();
    const rseq = reliableRSeq(response);
    // Without a To tag there is no early dialog to PRACK in: taken as sent unreliably.
    if (rseq === undefined || toTag === undefined) return { kind: 'unreliable' };
    let early = this.#dialogs.get(toTag);
    if (early) {
      if (rseq !== early.lastRSeq + 1) return { kind: 'discard' };
      early.dialog.refreshTarget(response);
    } else {
      if (this.#dialogs.size >= MAX_RELIABLE_DIALOGS) return { kind: 'discard' };
      // The first reliable response of the dialog sets its route set (§12.1.2).
      early = { dialog: Dialog.forUac(invite, response, destination), lastRSeq: rseq };
      this.#dialogs.set(toTag, early);
    }
    early.lastRSeq = rseq;
    const prack = early.dialog.createRequest('PRACK');
    prack.append('RAck', `${rseq} ${invite.cseq().seq} INVITE`);
    return { kind: 'acknowledge', prack, destination: early.dialog.destination() };
  }

  /** The lowest CSeq above `invite`'s and above every PRACK sent in its early dialogs. */
  nextLocalSeq(invite: SipRequest): number {
    let next = invite.cseq().seq + 1;
    for (const { dialog } of this.#dialogs.values()) next = Math.max(next, dialog.localSeq);
    return next;
  }

  /** RFC 3261 §12.2.1.1: `dialog`, confirmed by a 2xx, sends above the PRACKs of its early dialog. */
  continueLocalSeq(dialog: Dialog): void {
    const early = this.#dialogs.get(dialog.remoteTag);
    if (early && early.dialog.localSeq > dialog.localSeq) dialog.localSeq = early.dialog.localSeq;
  }
}
