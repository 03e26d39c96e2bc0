/**
 * The INVITEs a user agent already handed to the application, remembered by what identifies
 * them apart from their branch, to tell a retransmission whose transaction is gone from a call.
 */
import type { SipRequest } from './message.js';

/**
 * How long an INVITE handed to the application is remembered (Call-ID, From tag, CSeq): a UAC
 * retransmits for 64*T1 (Timer B, RFC 3261 §17.1.1.2), and a copy can wait minutes more in a
 * socket backlog. Forgetting by age keeps the memory at the call rate times this, flat from
 * then on; forgetting only by count grew it with every call until the cap.
 */
const REMEMBER_INVITES_MS = 5 * 60_000;
/** And at most this many, oldest forgotten first (~170 bytes each, under 6 MB). */
const MAX_REMEMBERED_INVITES = 32_768;

/**
 * What identifies an INVITE apart from its branch (RFC 3261 §8.2.2.2), as one flat string: built
 * from the parsed headers it is a tree of concatenated and sliced strings, ~430 bytes kept per
 * remembered INVITE where the copy keeps ~170 (with its time).
 */
function inviteIdentity(invite: SipRequest): string {
  const identity = `${invite.callId()}\n${invite.fromTag() ?? ''}\n${invite.cseq().seq}`;
  return Buffer.from(identity, 'utf8').toString('utf8');
}

export class SeenInvites {
  /** Identity -> when first seen, in that order: the oldest are at the front. */
  readonly #seen = new Map<string, number>();

  /**
   * An INVITE we already handed to the application whose transaction is gone (it met none): a
   * retransmission read after its transaction ended, e.g. from a socket backlog while the
   * process was overloaded. As a new call it would be answered to a caller that gave up long
   * ago, hold a media leg and a bot until Timer H, and feed the overload that delayed it; it is
   * refused as a merged request instead (RFC 3261 §8.2.2.2: 482). Remembers the others.
   */
  isStale(invite: SipRequest, now: number): boolean {
    const seen = this.#seen;
    for (const [oldest, seenAt] of seen) {
      if (seen.size < MAX_REMEMBERED_INVITES && now - seenAt < REMEMBER_INVITES_MS) break;
      seen.delete(oldest);
    }
    const identity = inviteIdentity(invite);
    if (seen.has(identity)) return true;
    seen.set(identity, now);
    return false;
  }
}
