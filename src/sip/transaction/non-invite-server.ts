import { type StatusBearer, Transaction } from './base.js';
import type { ServerTransactionOptions } from './server-options.js';

/**
 * Non-INVITE server transaction, RFC 3261 §17.2.2. It keeps the bytes of the last response it
 * sent, which is all a retransmitted request needs; once the final response is sent it drops
 * the request, so a large request is not held for Timer J.
 */
export class NonInviteServerTransaction<Req, Res extends StatusBearer> extends Transaction {
  #request: Req | undefined;
  #responseBytes: Buffer | undefined;
  readonly #serialize: ServerTransactionOptions<Req, Res>['serialize'];
  readonly #send: ServerTransactionOptions<Req, Res>['send'];

  constructor(options: ServerTransactionOptions<Req, Res>) {
    super('trying', options.clock, options.profile, options.reliable);
    this.#request = options.request;
    this.#serialize = options.serialize;
    this.#send = options.send;
  }

  /** The request, until the final response is sent. */
  get request(): Req | undefined {
    return this.#request;
  }

  /** The bytes of the last response sent, which a retransmitted request gets again. */
  get responseBytes(): Buffer | undefined {
    return this.#responseBytes;
  }

  respond(response: Res): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') {
      throw new RangeError(`cannot respond in state ${this.state}`);
    }
    this.#responseBytes = this.#serialize(response);
    this.transmitWith(this.#send, this.#responseBytes);
    if (response.status < 200) {
      this.setState('proceeding');
      return;
    }
    this.#request = undefined;
    this.setState('completed');
    // RFC 3261 §17.2.2: Timer J absorbs request retransmissions; zero on reliable transports.
    this.completeAfter('J', this.reliable ? 0 : this.transactionTimeout);
  }

  /** Trying absorbs a retransmission; later states re-send the last response. */
  receiveRetransmission(): void {
    if (this.state === 'trying' || !this.#responseBytes) return;
    this.transmitWith(this.#send, this.#responseBytes);
  }
}
