import type { Clock } from '../../util/index.js';
import { type StatusBearer, type TimerProfile, Transaction } from './base.js';
import type { ServerTransactionUser } from './server-user.js';

export interface NonInviteServerOptions<Req, Res> {
  request: Req;
  clock: Clock;
  profile: TimerProfile;
  reliable: boolean;
  send(response: Res): Promise<void> | void;
  user?: ServerTransactionUser;
}

/**
 * Non-INVITE server transaction, RFC 3261 §17.2.2. Once the final response is sent it keeps
 * only that response: retransmissions need nothing else, and a large request is not held
 * for Timer J.
 */
export class NonInviteServerTransaction<Req, Res extends StatusBearer> extends Transaction {
  #request: Req | undefined;
  #lastResponse: Res | undefined;
  readonly #options: Omit<NonInviteServerOptions<Req, Res>, 'request'>;

  constructor({ request, ...options }: NonInviteServerOptions<Req, Res>) {
    super('trying', options.clock, options.profile, options.reliable);
    this.#request = request;
    this.#options = options;
  }

  /** The request, until the final response is sent. */
  get request(): Req | undefined {
    return this.#request;
  }

  get lastResponse(): Res | undefined {
    return this.#lastResponse;
  }

  respond(response: Res): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') {
      throw new RangeError(`cannot respond in state ${this.state}`);
    }
    this.#lastResponse = response;
    this.transmitWith(this.#options.send, response);
    if (response.status < 200) {
      this.setState('proceeding');
      return;
    }
    this.#request = undefined;
    this.setState('completed');
    // RFC 3261 §17.2.2: Timer J absorbs request retransmissions; zero on reliable transports.
    this.startTimer('J', this.reliable ? 0 : this.transactionTimeout, () => this.terminate());
  }

  /** Trying absorbs a retransmission; later states re-send the last response. */
  receiveRetransmission(): void {
    if (this.state === 'trying' || !this.#lastResponse) return;
    this.transmitWith(this.#options.send, this.#lastResponse);
  }

  protected override reportTransportError(error: unknown): void {
    this.#options.user?.onTransportError?.(error);
  }
}
