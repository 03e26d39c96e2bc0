/**
 * The connection a registration's binding rests on, over TCP or TLS. The registrar sends the
 * calls for our binding over the connection our REGISTER came in on: behind a NAT or a
 * firewall, or when it does not open connections of its own, it has no other way to us. When
 * that connection closes (the registrar or a proxy in front of it restarted, a NAT dropped the
 * mapping, our keep-alive got no answer), RFC 5626 §4.4.1 counts the flow as failed and
 * registers again over a new one; a plain RFC 3261 binding is refreshed the same way here,
 * soon rather than at half its interval, so calls do not go unanswered until then.
 */
import type { Clock } from '../util/index.js';
import type { TransportAddress } from './types.js';

/**
 * A refresh for a lost connection waits a random 1-4 s: the clients of a proxy that restarted
 * do not all come back at once (RFC 5626 §4.5 spreads its flow recovery for the same reason).
 */
const RECOVERY_WAIT_MIN_MS = 1000;
const RECOVERY_WAIT_MAX_MS = 4000;
/**
 * At most one such refresh a minute: a registrar that closes every connection after its
 * answer is refreshed at the binding's own pace, not in a loop.
 */
const RECOVERY_INTERVAL_MS = 60_000;

export class RegistrationFlow {
  readonly #clock: Clock;
  readonly #random: () => number;
  /** Where the last granted REGISTER was answered from, over TCP or TLS. */
  #remote: TransportAddress | undefined;
  #recoveredAtMs = Number.NEGATIVE_INFINITY;

  constructor(clock: Clock, random: () => number) {
    this.#clock = clock;
    this.#random = random;
  }

  /** A binding was granted in a response from `source` (over UDP there is no connection to keep). */
  granted(source: TransportAddress): void {
    this.#remote = source.transport === 'udp' ? undefined : source;
  }

  /** The binding is gone (removed, or the client stopped). */
  forget(): void {
    this.#remote = undefined;
  }

  /**
   * The connection to `remote` closed: how long to wait before refreshing the binding over a
   * new one, or undefined when it was not the binding's, when the binding's own refresh, due
   * in `refreshInMs`, comes first, or when a refresh for a lost connection went out less than
   * a minute ago.
   */
  lost(remote: TransportAddress, refreshInMs: number): number | undefined {
    const flow = this.#remote;
    if (
      !flow ||
      flow.transport !== remote.transport ||
      flow.address !== remote.address ||
      flow.port !== remote.port
    )
      return undefined;
    this.#remote = undefined;
    const now = this.#clock.now();
    if (now - this.#recoveredAtMs < RECOVERY_INTERVAL_MS) return undefined;
    const waitMs = RECOVERY_WAIT_MIN_MS + this.#random() * (RECOVERY_WAIT_MAX_MS - RECOVERY_WAIT_MIN_MS);
    if (refreshInMs <= waitMs) return undefined;
    this.#recoveredAtMs = now;
    return waitMs;
  }
}
