import type { Clock, TimerHandle } from '../../util/index.js';

/** Every state any of the four RFC 3261 §17 / RFC 6026 machines can be in. */
export type TransactionState =
  | 'calling'
  | 'trying'
  | 'proceeding'
  | 'accepted'
  | 'completed'
  | 'confirmed'
  | 'terminated';

/**
 * Timer values in ms (RFC 3261 §17.1.1.1, Table 4). Timer B/F/H/J/L/M default to 64*T1;
 * D defaults to 32 s. On reliable transports D/I/J/K are 0 and A/E/G never start.
 */
export interface TimerProfile {
  t1: number;
  t2: number;
  t4: number;
  timerB?: number;
  timerF?: number;
  timerD?: number;
  /**
   * How long an INVITE client transaction may stay Proceeding without a final response.
   * RFC 3261 leaves this to the TU (a UAC CANCELs; proxies use Timer C, §16.6, > 3 min);
   * here it bounds the transaction so a silent peer cannot pin it forever. Default 180 s.
   */
  proceedingTimeout?: number;
}

export const DEFAULT_TIMER_PROFILE: Readonly<TimerProfile> = { t1: 500, t2: 4000, t4: 5000 };

/** Minimal shape of a response the state machines need: only the status class. */
export interface StatusBearer {
  status: number;
}

type StateListener = (state: TransactionState, previous: TransactionState) => void;

/** RFC 3261 §17 timer names (C bounds an INVITE client's Proceeding here) and the automatic 100 Trying. */
type TimerName = 'A' | 'B' | 'C' | 'D' | 'E' | 'F' | 'G' | 'H' | 'I' | 'J' | 'K' | 'L' | 'M' | 'trying';

/** Shared plumbing: observable state and named timers on an injected clock. */
export abstract class Transaction {
  #state: TransactionState;
  /** Made on the first listener, holding just that one: most transactions have a single one. */
  #listeners: StateListener[] | undefined;
  /** Armed timers by name: a plain record, lighter than a Map for the two or three a transaction has. */
  readonly #timers: Partial<Record<TimerName, TimerHandle>> = {};

  protected constructor(
    initial: TransactionState,
    protected readonly clock: Clock,
    protected readonly profile: TimerProfile,
    readonly reliable: boolean,
  ) {
    this.#state = initial;
  }

  get state(): TransactionState {
    return this.#state;
  }

  get terminated(): boolean {
    return this.#state === 'terminated';
  }

  onStateChange(listener: StateListener): void {
    if (this.#listeners) this.#listeners.push(listener);
    else this.#listeners = [listener];
  }

  /** Number of timers still armed (for leak checks in tests). */
  get activeTimers(): number {
    return Object.values(this.#timers).filter((timer) => timer !== undefined).length;
  }

  /** Ends the transaction at once (TU abort, manager shutdown). Idempotent. */
  terminate(): void {
    if (this.#state === 'terminated') return;
    for (const name of Object.keys(this.#timers) as TimerName[]) this.cancelTimer(name);
    this.setState('terminated');
  }

  /** The transport failed to send (RFC 3261 §17.1.4 / §17.2.4): terminate and tell the TU. */
  transportError(error: unknown): void {
    if (this.#state === 'terminated') return;
    this.terminate();
    this.reportTransportError(error);
  }

  protected abstract reportTransportError(error: unknown): void;

  /** Sends through the transport; a synchronous throw or a rejected promise is a transport error. */
  protected transmitWith<M>(send: (message: M) => Promise<void> | void, message: M): void {
    try {
      const pending = send(message);
      if (pending) pending.catch((error: unknown) => this.transportError(error));
    } catch (error) {
      this.transportError(error);
    }
  }

  protected setState(next: TransactionState): void {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    for (const listener of this.#listeners ?? []) listener(next, previous);
  }

  protected startTimer(name: TimerName, delayMs: number, fire: () => void): void {
    this.cancelTimer(name);
    this.#timers[name] = this.clock.setTimer(delayMs, () => {
      this.#timers[name] = undefined;
      if (this.#state !== 'terminated') fire();
    });
  }

  protected cancelTimer(name: TimerName): void {
    this.#timers[name]?.cancel();
    this.#timers[name] = undefined;
  }

  /** 64*T1: Timers B, F, H, J, L and M (RFC 3261 Table 4, RFC 6026 §8.4). */
  protected get transactionTimeout(): number {
    return 64 * this.profile.t1;
  }
}
