import type { Clock } from '../../util/index.js';
import type { TimerProfile } from './base.js';

/** What a server transaction tells its transaction user (RFC 3261 §17.2). */
export interface ServerTransactionUser {
  /** Timer H fired: the ACK for a non-2xx final never came (RFC 3261 §17.2.1). */
  onTimeout?(): void;
  /** The transport could not send a response (RFC 3261 §17.2.4). */
  onTransportError?(error: unknown): void;
}

/** What both server transactions are built with. */
export interface ServerTransactionOptions<Req, Res> {
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
  user?: ServerTransactionUser;
}
