import type { Clock } from '../../util/index.js';
import type { TransportAddress } from '../types.js';
import { type StatusBearer, type TimerProfile, Transaction } from './base.js';
import { ClientSender, type ClientTransactionUser, type TransportFallback } from './invite-client.js';

export interface NonInviteClientOptions<Req, Res> {
  request: Req;
  clock: Clock;
  profile: TimerProfile;
  reliable: boolean;
  send(message: Req): Promise<void> | void;
  user: ClientTransactionUser<Res>;
  fallback?: TransportFallback<Req> | undefined;
}

/** Non-INVITE client transaction, RFC 3261 §17.1.2. */
export class NonInviteClientTransaction<Req, Res extends StatusBearer> extends Transaction {
  readonly request: Req;
  readonly #user: ClientTransactionUser<Res>;
  readonly #sender: ClientSender<Req>;

  constructor(options: NonInviteClientOptions<Req, Res>) {
    super('trying', options.clock, options.profile, options.reliable);
    this.request = options.request;
    this.#user = options.user;
    this.#sender = new ClientSender(options.send, options.fallback);
  }

  /** Sends the request and arms timers E (unreliable only) and F. */
  start(): void {
    this.#transmit();
    if (!this.reliable) this.#armTimerE(this.profile.t1);
    this.startTimer('F', this.profile.timerF ?? this.transactionTimeout, () => {
      this.timeout('Timer F');
      this.#user.onTimeout?.();
    });
  }

  receiveResponse(response: Res, source?: TransportAddress): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return; // Completed absorbs
    if (response.status < 200) {
      this.setState('proceeding');
      this.#user.onProvisional?.(response);
      return;
    }
    this.cancelTimer('E');
    this.cancelTimer('F');
    this.setState('completed');
    this.#user.onFinal?.(response, source);
    // RFC 3261 §17.1.2.2: Timer K buffers response retransmissions; zero on reliable transports.
    this.completeAfter('K', this.reliable ? 0 : this.profile.t4);
  }

  protected override reportTransportError(error: unknown): void {
    this.#user.onTransportError?.(error);
  }

  /** Still Trying (nothing answered), with a fallback: the request goes again over it, Timer E and all. */
  protected override recoverFromTransportError(): boolean {
    if (this.state !== 'trying' || !this.#sender.fallBack()) return false;
    this.becomeUnreliable();
    this.#transmit();
    this.#armTimerE(this.profile.t1);
    return true;
  }

  #armTimerE(interval: number): void {
    this.startTimer('E', interval, () => {
      this.#transmit();
      // RFC 3261 §17.1.2.2: doubles up to T2 in Trying; once Proceeding, retransmit every T2.
      const next = this.state === 'proceeding' ? this.profile.t2 : Math.min(interval * 2, this.profile.t2);
      this.#armTimerE(next);
    });
  }

  #transmit(): void {
    this.transmitWith(this.#sender.send, this.request);
  }
}
