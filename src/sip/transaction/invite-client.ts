import type { Clock } from '../../util/index.js';
import type { TransportAddress } from '../types.js';
import { type StatusBearer, type TimerProfile, Transaction } from './base.js';

export interface ClientTransactionUser<Res> {
  onProvisional?(response: Res): void;
  /**
   * First final response; for INVITE also every retransmitted 2xx (RFC 6026 §7.2). `source`:
   * where it came from, as the transport saw it.
   */
  onFinal?(response: Res, source?: TransportAddress): void;
  /** Timer B/F fired without a final response (RFC 3261 §17.1.1.2 / §17.1.2.2): treat as 408. */
  onTimeout?(): void;
  /** The transport could not send (RFC 3261 §17.1.4): treat as 503. */
  onTransportError?(error: unknown): void;
}

/**
 * Where a client transaction goes instead when its transport fails before any response came:
 * back to UDP for a request RFC 3261 §18.1.1 moved to TCP, when the peer takes no TCP (a
 * connection refused, or not up in time). Used once.
 */
export interface TransportFallback<Req> {
  /** Readies the request for the fallback (its top Via's transport); the branch stays. */
  prepare(): void;
  /** Sends one message over the fallback, which is unreliable (UDP). */
  send(message: Req): Promise<void> | void;
}

/** A client transaction's sending: its transport's, until it falls back (once) to the fallback's. */
export class ClientSender<Req> {
  #send: (message: Req) => Promise<void> | void;
  #fallback: TransportFallback<Req> | undefined;

  constructor(send: (message: Req) => Promise<void> | void, fallback: TransportFallback<Req> | undefined) {
    this.#send = send;
    this.#fallback = fallback;
  }

  readonly send = (message: Req): Promise<void> | void => this.#send(message);

  /** Takes the fallback, readying the request for it: false when there is none (left). */
  fallBack(): boolean {
    const fallback = this.#fallback;
    if (!fallback) return false;
    this.#fallback = undefined;
    fallback.prepare();
    this.#send = fallback.send;
    return true;
  }
}

export interface InviteClientOptions<Req, Res> {
  request: Req;
  clock: Clock;
  profile: TimerProfile;
  reliable: boolean;
  /** Sends one message; a rejected promise is a transport error. */
  send(message: Req): Promise<void> | void;
  /** Builds the ACK for a non-2xx final response (RFC 3261 §17.1.1.3). */
  createAck(response: Res): Req;
  user: ClientTransactionUser<Res>;
  fallback?: TransportFallback<Req> | undefined;
}

/** INVITE client transaction, RFC 3261 §17.1.1 with the Accepted state of RFC 6026 §7.2. */
export class InviteClientTransaction<Req, Res extends StatusBearer> extends Transaction {
  readonly request: Req;
  #ack: Req | undefined;
  readonly #options: InviteClientOptions<Req, Res>;
  readonly #sender: ClientSender<Req>;

  constructor(options: InviteClientOptions<Req, Res>) {
    super('calling', options.clock, options.profile, options.reliable);
    this.request = options.request;
    this.#options = options;
    this.#sender = new ClientSender(options.send, options.fallback);
  }

  /** Sends the INVITE and arms timers A (unreliable only) and B. */
  start(): void {
    this.#transmit(this.request);
    if (!this.reliable) this.#armTimerA(this.profile.t1);
    this.startTimer('B', this.profile.timerB ?? this.transactionTimeout, () => {
      // RFC 3261 §17.1.1.2: Timer B only matters while still Calling.
      if (this.state !== 'calling') return;
      this.timeout('Timer B');
      this.#options.user.onTimeout?.();
    });
  }

  receiveResponse(response: Res, source?: TransportAddress): void {
    const status = response.status;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (status < 200) {
          this.cancelTimer('A');
          if (this.state === 'calling') this.#armProceedingTimeout();
          this.setState('proceeding');
          this.#options.user.onProvisional?.(response);
        } else if (status < 300) {
          this.#enterAccepted();
          this.#options.user.onFinal?.(response, source);
        } else {
          this.#enterCompleted(response);
          this.#options.user.onFinal?.(response, source);
        }
        return;
      case 'accepted':
        // RFC 6026 §7.2: 2xx retransmissions (and other forks' 2xx) go to the TU for its ACK.
        if (status >= 200 && status < 300) this.#options.user.onFinal?.(response, source);
        return;
      case 'completed':
        // RFC 3261 §17.1.1.2: a retransmitted final response is answered with the same ACK.
        if (status >= 300 && this.#ack) this.#transmit(this.#ack);
        return;
      default:
        return;
    }
  }

  protected override reportTransportError(error: unknown): void {
    this.#options.user.onTransportError?.(error);
  }

  /** Still Calling (nothing answered), with a fallback: the INVITE goes again over it, Timer A and all. */
  protected override recoverFromTransportError(): boolean {
    if (this.state !== 'calling' || !this.#sender.fallBack()) return false;
    this.becomeUnreliable();
    this.#transmit(this.request);
    this.#armTimerA(this.profile.t1);
    return true;
  }

  #armTimerA(interval: number): void {
    // RFC 3261 §17.1.1.2: Timer A doubles each time, without the T2 cap.
    this.startTimer('A', interval, () => {
      if (this.state !== 'calling') return;
      this.#transmit(this.request);
      this.#armTimerA(interval * 2);
    });
  }

  #armProceedingTimeout(): void {
    this.startTimer('C', this.profile.proceedingTimeout ?? 180_000, () => {
      this.timeout('Timer C: no final response while Proceeding');
      this.#options.user.onTimeout?.();
    });
  }

  #enterAccepted(): void {
    this.cancelTimer('A');
    this.cancelTimer('B');
    this.cancelTimer('C');
    this.setState('accepted');
    this.completeAfter('M', this.transactionTimeout);
  }

  #enterCompleted(response: Res): void {
    this.cancelTimer('A');
    this.cancelTimer('B');
    this.cancelTimer('C');
    this.#ack = this.#options.createAck(response);
    this.#transmit(this.#ack);
    this.setState('completed');
    const timerD = this.reliable ? 0 : (this.profile.timerD ?? 32_000);
    this.completeAfter('D', timerD);
  }

  #transmit(message: Req): void {
    this.transmitWith(this.#sender.send, message);
  }
}
