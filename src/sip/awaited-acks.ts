/**
 * The ACKs of a dialog's 2xx responses to INVITEs, both ways, each by its CSeq: a peer may send
 * its next re-INVITE once our 2xx reached it, before its ACK has reached us, so one slot would
 * let the second 2xx forget the first (and end the call for a lost ACK it did get).
 */
import type { Clock, TimerHandle } from '../util/index.js';
import type { SipRequest, SipResponse } from './message.js';
import type { ServerTransaction } from './transaction/index.js';

/** What the 2xx retransmissions are timed by (RFC 3261 §13.3.1.4): the session's host gives it. */
export interface RetransmitTimers {
  readonly clock: Clock;
  readonly t1: number;
  readonly t2: number;
}

/** ACKs we sent, kept for retransmissions of their 2xx; a dialog has a few INVITEs in flight at most. */
const KEPT_ACKS = 4;

export class AwaitedAcks {
  readonly #host: RetransmitTimers;
  readonly #giveUp: () => void;
  /** Our 2xx responses still waiting for their ACK, by CSeq. */
  readonly #awaited = new Map<number, TimerHandle>();
  readonly #sent = new Map<number, SipRequest>();
  #settled: Array<() => void> = [];

  /** `giveUp` runs when a 2xx got no ACK within 64*T1 (the session then ends with BYE). */
  constructor(host: RetransmitTimers, giveUp: () => void) {
    this.#host = host;
    this.#giveUp = giveUp;
  }

  /** Whether a 2xx of ours still waits for its ACK. */
  get pending(): boolean {
    return this.#awaited.size > 0;
  }

  /**
   * RFC 3261 §13.3.1.4 with RFC 6026 §7.1: the UAS core retransmits its 2xx at T1, doubling up
   * to T2, until the ACK arrives; after 64*T1 without one the session is torn down with BYE.
   * Over TCP or TLS the transport carries the 2xx and it is sent once, but an ACK that never
   * comes (the caller died, or never sends one) ends the session at 64*T1 all the same.
   */
  send2xx(transaction: ServerTransaction<SipRequest, SipResponse>, response: SipResponse, seq: number): void {
    transaction.respond(response);
    const { clock, t1, t2 } = this.#host;
    const giveUpAt = clock.now() + 64 * t1;
    const schedule = (interval: number): void => {
      // The last wait is cut short so the BYE goes out at 64*T1, not at the next retransmission.
      const wait = transaction.reliable ? 64 * t1 : Math.min(interval, giveUpAt - clock.now());
      const timer = clock.setTimer(wait, () => {
        if (transaction.reliable || clock.now() >= giveUpAt || transaction.state === 'terminated') {
          this.#settle(seq);
          this.#giveUp();
          return;
        }
        transaction.respond(response);
        schedule(Math.min(interval * 2, t2));
      });
      this.#awaited.set(seq, timer);
    };
    schedule(t1);
  }

  /** The ACK for our 2xx with CSeq `seq` arrived. */
  received(seq: number): void {
    this.#awaited.get(seq)?.cancel();
    this.#settle(seq);
  }

  /** Resolves once no 2xx of ours waits for its ACK (got it, or gave up). */
  settled(): Promise<void> {
    if (!this.pending) return Promise.resolve();
    return new Promise((resolve) => this.#settled.push(resolve));
  }

  /** Keeps the ACK we sent for the 2xx to our INVITE with its CSeq. */
  sent(ack: SipRequest): void {
    this.#sent.set(ack.cseq().seq, ack);
    if (this.#sent.size > KEPT_ACKS) this.#sent.delete(this.#sent.keys().next().value as number);
  }

  /** The ACK we sent for the 2xx with CSeq `seq`, for that 2xx's retransmission. */
  sentFor(seq: number): SipRequest | undefined {
    return this.#sent.get(seq);
  }

  /** The session ended: no more retransmissions, nobody waits. */
  clear(): void {
    for (const timer of this.#awaited.values()) timer.cancel();
    this.#awaited.clear();
    this.#wake();
  }

  #settle(seq: number): void {
    this.#awaited.delete(seq);
    if (!this.pending) this.#wake();
  }

  #wake(): void {
    const waiting = this.#settled;
    this.#settled = [];
    for (const resolve of waiting) resolve();
  }
}
