import type { Clock } from '../../util/index.js';
import type { TimerProfile } from './base.js';

/**
 * What both server transactions are built with. Their TU learns of a Timer H expiry or a
 * response that could not be sent (RFC 3261 §17.2.1, §17.2.4) from the `ended` event.
 */
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
}
