import type { Clock } from '../../util/index.js';
import type { TimerProfile } from './base.js';

/**
 * What a server transaction tells its transaction user (RFC 3261 §17.2). It names itself, so
 * one user can serve every transaction (the manager's does) rather than closures for each.
 */
export interface ServerTransactionUser<T = unknown> {
  /** Timer H fired: the ACK for a non-2xx final never came (RFC 3261 §17.2.1). */
  onTimeout?(transaction: T): void;
  /** The transport could not send a response (RFC 3261 §17.2.4). */
  onTransportError?(error: unknown, transaction: T): void;
}

/** What both server transactions are built with; T is the transaction's own type. */
export interface ServerTransactionOptions<Req, Res, T = unknown> {
  request: Req;
  clock: Clock;
  profile: TimerProfile;
  reliable: boolean;
  /**
   * A response's bytes, made once: they are sent, and only they are kept for the
   * retransmissions RFC 3261 §17.2.1 and §17.2.2 ask for, not the response object.
   */
  serialize(response: Res): Buffer;
  send(bytes: Buffer): Promise<void> | void;
  user?: ServerTransactionUser<T>;
}
