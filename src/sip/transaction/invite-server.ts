import { type StatusBearer, Transaction } from './base.js';
import type { ServerTransactionOptions } from './server-options.js';

/** RFC 3261 §17.2.1: send 100 Trying if the TU has not answered within 200 ms. */
const AUTO_TRYING_DELAY_MS = 200;

export interface InviteServerOptions<Req, Res extends StatusBearer>
  extends ServerTransactionOptions<Req, Res> {
  /** Builds the automatic 100 Trying for the INVITE. */
  createTrying(request: Req): Res;
}

/**
 * INVITE server transaction, RFC 3261 §17.2.1 with the Accepted state of RFC 6026 §7.1. It
 * holds the INVITE only while Proceeding (a CANCEL answers it 487, §9.2); after the final
 * response ACKs match on the branch key alone and retransmissions need only that response's
 * bytes, which are all it keeps of it (none after a 2xx: Accepted absorbs retransmissions).
 */
export class InviteServerTransaction<Req, Res extends StatusBearer> extends Transaction {
  #request: Req | undefined;
  #responseBytes: Buffer | undefined;
  readonly #serialize: InviteServerOptions<Req, Res>['serialize'];
  readonly #send: InviteServerOptions<Req, Res>['send'];

  constructor(options: InviteServerOptions<Req, Res>) {
    super('proceeding', options.clock, options.profile, options.reliable);
    this.#request = options.request;
    this.#serialize = options.serialize;
    this.#send = options.send;
    this.startTimer('trying', AUTO_TRYING_DELAY_MS, () => {
      // Any response from the TU cancels this timer (respond), so here it has not answered.
      if (this.#request) this.respond(options.createTrying(this.#request));
    });
  }

  /** The INVITE, until the final response is sent. */
  get request(): Req | undefined {
    return this.#request;
  }

  /** The bytes a retransmitted INVITE gets: the last provisional, or the non-2xx final. */
  get responseBytes(): Buffer | undefined {
    return this.#responseBytes;
  }

  /** Sends a response from the TU (RFC 3261 §17.2.1). */
  respond(response: Res): void {
    const status = response.status;
    if (this.state === 'accepted') {
      // RFC 6026 §7.1: the TU retransmits its 2xx through the Accepted transaction.
      if (status >= 200 && status < 300) this.#transmit(this.#serialize(response));
      return;
    }
    if (this.state !== 'proceeding') throw new RangeError(`cannot respond in state ${this.state}`);
    this.cancelTimer('trying');
    const bytes = this.#serialize(response);
    this.#responseBytes = status < 200 || status >= 300 ? bytes : undefined;
    this.#transmit(bytes);
    if (status < 200) return;
    this.#request = undefined;
    if (status < 300) {
      this.setState('accepted');
      this.completeAfter('L', this.transactionTimeout);
      return;
    }
    this.setState('completed');
    if (!this.reliable) this.#armTimerG(this.profile.t1);
    // RFC 3261 §17.2.1: the ACK never came.
    this.startTimer('H', this.transactionTimeout, () => this.timeout('Timer H'));
  }

  /** A retransmitted INVITE re-sends the last response; Accepted absorbs it (RFC 6026 §7.1). */
  receiveRetransmission(): void {
    if ((this.state === 'proceeding' || this.state === 'completed') && this.#responseBytes) {
      this.#transmit(this.#responseBytes);
    }
  }

  /**
   * An ACK matched this transaction. In Completed it confirms the non-2xx final; in Accepted
   * it is the 2xx ACK and returns true so the caller passes it to the TU (RFC 6026 §7.1).
   */
  receiveAck(): boolean {
    if (this.state === 'accepted') return true;
    if (this.state !== 'completed') return false;
    this.cancelTimer('G');
    this.cancelTimer('H');
    this.setState('confirmed');
    // RFC 3261 §17.2.1: Timer I absorbs ACK retransmissions, which need no response bytes.
    this.#responseBytes = undefined;
    this.completeAfter('I', this.reliable ? 0 : this.profile.t4);
    return false;
  }

  #armTimerG(interval: number): void {
    // RFC 3261 §17.2.1: Timer G doubles up to T2.
    this.startTimer('G', interval, () => {
      if (this.#responseBytes) this.#transmit(this.#responseBytes);
      this.#armTimerG(Math.min(interval * 2, this.profile.t2));
    });
  }

  #transmit(bytes: Buffer): void {
    this.transmitWith(this.#send, bytes);
  }
}
