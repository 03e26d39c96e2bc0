import type { Clock } from '../../util/index.js';
import { type StatusBearer, type TimerProfile, Transaction } from './base.js';
import type { ServerTransactionUser } from './server-user.js';

/** RFC 3261 §17.2.1: send 100 Trying if the TU has not answered within 200 ms. */
export const AUTO_TRYING_DELAY_MS = 200;

export interface InviteServerOptions<Req, Res> {
  request: Req;
  clock: Clock;
  profile: TimerProfile;
  reliable: boolean;
  send(response: Res): Promise<void> | void;
  /** Builds the automatic 100 Trying for the INVITE. */
  createTrying(request: Req): Res;
  user?: ServerTransactionUser;
}

/**
 * INVITE server transaction, RFC 3261 §17.2.1 with the Accepted state of RFC 6026 §7.1. It
 * holds the INVITE only while Proceeding (a CANCEL answers it 487, §9.2); after the final
 * response ACKs match on the branch key alone and retransmissions need only that response.
 */
export class InviteServerTransaction<Req, Res extends StatusBearer> extends Transaction {
  #request: Req | undefined;
  #lastResponse: Res | undefined;
  readonly #options: Omit<InviteServerOptions<Req, Res>, 'request'>;

  constructor({ request, ...options }: InviteServerOptions<Req, Res>) {
    super('proceeding', options.clock, options.profile, options.reliable);
    this.#request = request;
    this.#options = options;
    this.startTimer('trying', AUTO_TRYING_DELAY_MS, () => {
      if (!this.#lastResponse && this.#request) this.respond(options.createTrying(this.#request));
    });
  }

  /** The INVITE, until the final response is sent. */
  get request(): Req | undefined {
    return this.#request;
  }

  /** The final or provisional response last sent, if any. */
  get lastResponse(): Res | undefined {
    return this.#lastResponse;
  }

  /** Sends a response from the TU (RFC 3261 §17.2.1). */
  respond(response: Res): void {
    const status = response.status;
    if (this.state === 'accepted') {
      // RFC 6026 §7.1: the TU retransmits its 2xx through the Accepted transaction.
      if (status >= 200 && status < 300) this.#send(response);
      return;
    }
    if (this.state !== 'proceeding') throw new RangeError(`cannot respond in state ${this.state}`);
    this.cancelTimer('trying');
    this.#lastResponse = response;
    this.#send(response);
    if (status < 200) return;
    this.#request = undefined;
    if (status < 300) {
      this.setState('accepted');
      this.startTimer('L', this.transactionTimeout, () => this.terminate());
      return;
    }
    this.setState('completed');
    if (!this.reliable) this.#armTimerG(this.profile.t1);
    this.startTimer('H', this.transactionTimeout, () => {
      this.terminate();
      this.#options.user?.onTimeout?.();
    });
  }

  /** A retransmitted INVITE re-sends the last response; Accepted absorbs it (RFC 6026 §7.1). */
  receiveRetransmission(): void {
    if ((this.state === 'proceeding' || this.state === 'completed') && this.#lastResponse) {
      this.#send(this.#lastResponse);
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
    // RFC 3261 §17.2.1: Timer I absorbs ACK retransmissions; zero on reliable transports.
    this.startTimer('I', this.reliable ? 0 : this.profile.t4, () => this.terminate());
    return false;
  }

  protected override reportTransportError(error: unknown): void {
    this.#options.user?.onTransportError?.(error);
  }

  #armTimerG(interval: number): void {
    // RFC 3261 §17.2.1: Timer G doubles up to T2.
    this.startTimer('G', interval, () => {
      if (this.#lastResponse) this.#send(this.#lastResponse);
      this.#armTimerG(Math.min(interval * 2, this.profile.t2));
    });
  }

  #send(response: Res): void {
    this.transmitWith(this.#options.send, response);
  }
}
