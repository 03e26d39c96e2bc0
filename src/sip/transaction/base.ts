import { type Clock, type TimerHandle, TypedEmitter } from '../../util/index.js';

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

/** Why a transaction ended (a bounded set: fit for a metric label). */
export type TransactionEndCause = 'completed' | 'timeout' | 'transport_error' | 'aborted';

/**
 * How a transaction reached Terminated, set once: `completed` after its final wait (Timer D, I,
 * J, K, L or M), `timeout` when Timer B, F or H (or the Proceeding bound) fired, `transport_error`
 * when a send failed (RFC 3261 §17.1.4, §17.2.4), `aborted` when the TU or the manager ended it.
 * `detail` is free text for logs only.
 */
export interface TransactionEnd {
  readonly cause: TransactionEndCause;
  readonly detail?: string;
}

export interface TransactionEvents {
  state: [state: TransactionState, previous: TransactionState];
  /** Once, right after the state event for Terminated. */
  ended: [end: TransactionEnd];
}

/** RFC 3261 §17 timer names (C bounds an INVITE client's Proceeding here) and the automatic 100 Trying. */
type TimerName = 'A' | 'B' | 'C' | 'D' | 'E' | 'F' | 'G' | 'H' | 'I' | 'J' | 'K' | 'L' | 'M' | 'trying';

/** The ends without detail, shared: a completed transaction allocates nothing to end. */
const COMPLETED: TransactionEnd = Object.freeze({ cause: 'completed' });
const ABORTED: TransactionEnd = Object.freeze({ cause: 'aborted' });

/** Shared plumbing: observable state, a typed end and named timers on an injected clock. */
export abstract class Transaction extends TypedEmitter<TransactionEvents> {
  #state: TransactionState;
  #end: TransactionEnd | undefined;
  /** Armed timers by name: a plain record, lighter than a Map for the two or three a transaction has. */
  readonly #timers: Partial<Record<TimerName, TimerHandle>> = {};
  #reliable: boolean;

  protected constructor(
    initial: TransactionState,
    protected readonly clock: Clock,
    protected readonly profile: TimerProfile,
    reliable: boolean,
  ) {
    super();
    this.#state = initial;
    this.#reliable = reliable;
  }

  /** Whether its transport is reliable: no retransmission timers, no final waits (Table 4). */
  get reliable(): boolean {
    return this.#reliable;
  }

  get state(): TransactionState {
    return this.#state;
  }

  get terminated(): boolean {
    return this.#state === 'terminated';
  }

  /** Why it ended; undefined until Terminated. */
  get end(): TransactionEnd | undefined {
    return this.#end;
  }

  /** Number of timers still armed (for leak checks in tests). */
  get activeTimers(): number {
    return Object.values(this.#timers).filter((timer) => timer !== undefined).length;
  }

  /** Ends the transaction at once (TU abort, manager shutdown) as `aborted`. Idempotent. */
  terminate(detail?: string): void {
    this.finish(detail === undefined ? ABORTED : { cause: 'aborted', detail });
  }

  /** The transport failed to send (RFC 3261 §17.1.4 / §17.2.4): terminate and tell the TU. */
  transportError(error: unknown): void {
    if (this.#state === 'terminated') return;
    if (this.recoverFromTransportError?.()) return;
    this.finish({ cause: 'transport_error', detail: error instanceof Error ? error.message : String(error) });
    this.reportTransportError?.(error);
  }

  /** Tells the TU of a transport error, for the transactions whose TU wants it. */
  protected reportTransportError?(error: unknown): void;

  /** A client transaction's second transport, tried instead of ending: true when it carries on. */
  protected recoverFromTransportError?(): boolean;

  /** From now on over an unreliable transport (a fallback to UDP): its retransmission timers apply. */
  protected becomeUnreliable(): void {
    this.#reliable = false;
  }

  /** Enters Terminated once, with `end`: timers cancelled, then the state and ended events. */
  protected finish(end: TransactionEnd): void {
    if (this.#state === 'terminated') return;
    for (const name of Object.keys(this.#timers) as TimerName[]) this.cancelTimer(name);
    this.#end = end;
    this.setState('terminated');
    this.safeEmit('ended', end);
  }

  /** A timer that gives up on the peer (B, F, H, or the Proceeding bound): ends as `timeout`. */
  protected timeout(detail: string): void {
    this.finish({ cause: 'timeout', detail });
  }

  /** The last wait (Timer D, I, J, K, L or M): when it fires the transaction has completed. */
  protected completeAfter(name: TimerName, delayMs: number): void {
    this.startTimer(name, delayMs, () => this.finish(COMPLETED));
  }

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
    this.safeEmit('state', next, previous);
  }

  /** Arms a timer; none once Terminated (a send that failed at once has already ended it). */
  protected startTimer(name: TimerName, delayMs: number, fire: () => void): void {
    this.cancelTimer(name);
    if (this.#state === 'terminated') return;
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
