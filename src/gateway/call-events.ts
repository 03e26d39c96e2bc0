/** What a CallController tells the rest of the gateway, as typed events (call-observers.ts listens). */

import type { CallState } from '../control/index.js';
import type { CallEnd } from './call-end.js';
import type { CallRecord } from './call-record.js';

/** Extra facts that go with a state change, for status callbacks. */
export interface StateInfo {
  end?: CallEnd;
  durationMs?: number;
}

export interface CallControllerEvents {
  /** The call holds a gateway place and a trunk slot (and will have a record). */
  admitted: [];
  state: [state: CallState, info: StateInfo];
  /**
   * One outbound attempt finished: `gateway` is the configured gateway's name (an SRV
   * target's too), `status` its final SIP status (408 for a timeout), or `dns_failure` when the
   * target's name did not resolve and nothing was sent.
   */
  attempt: [attempt: { trunk: string; gateway: string; status: number | 'dns_failure' }];
  answered: [];
  /** Refused at CPS admission by this bucket's key; undefined when the shared limit store failed. */
  cpsRefused: [bucket: string | undefined];
  /**
   * A call taken over from a dead node, once the carrier answered its re-INVITE: `resumed`
   * (the carrier took it; `gapMs` is the record's takeover.gapMs) or `refused` (the call ends
   * next). Not at all for a call that ended first.
   */
  resumed: [outcome: { outcome: 'resumed' | 'refused'; gapMs: number }];
  /** Exactly once. `record` is undefined for a call refused before it was admitted. */
  ended: [end: CallEnd, record: CallRecord | undefined];
}
