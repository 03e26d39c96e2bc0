/**
 * Call status events to the originator's callback URL: JSON POSTs, in order, each retried
 * twice with a short timeout; a slow or dead receiver never blocks the call, and at most
 * a handful of events wait per call.
 */

import type { CallState } from '../control/index.js';
import { type Logger, shownUrl } from '../util/index.js';
import type { CallEndCause, HangupParty } from './call-end.js';

/** One status event as the originator's callback receives it (plus a `timestamp`). */
export interface StatusEvent {
  callId: string;
  status: CallState;
  /** On `completed`: how the call ended. */
  reason?: CallEndCause;
  sipStatus?: number;
  hangupBy?: HangupParty;
  durationMs?: number;
}

const TIMEOUT_MS = 3000;
const ATTEMPTS = 3;
const MAX_QUEUED = 16;

export class StatusCallback {
  #chain: Promise<void> = Promise.resolve();
  #queued = 0;

  readonly #url: string;
  readonly #logger: Logger;

  constructor(url: string, logger: Logger) {
    this.#url = url;
    this.#logger = logger;
  }

  send(event: StatusEvent): void {
    if (this.#queued >= MAX_QUEUED) {
      this.#logger.warn(
        { url: shownUrl(this.#url), event: event.status },
        'status callback queue full, event dropped',
      );
      return;
    }
    this.#queued++;
    const body = JSON.stringify({ ...event, timestamp: new Date().toISOString() });
    this.#chain = this.#chain.then(async () => {
      await this.#post(body);
      this.#queued--;
    });
  }

  /** Resolves when every queued event has been delivered or given up on. */
  flushed(): Promise<void> {
    return this.#chain;
  }

  async #post(body: string): Promise<void> {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        const response = await fetch(this.#url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        // The answer's body is never read: let go of it, so its connection is not held until GC.
        await response.body?.cancel();
        if (response.ok) return;
        this.#logger.warn(
          { url: shownUrl(this.#url), status: response.status, attempt },
          'status callback refused',
        );
      } catch (error) {
        // The message only: an error's cause or stack may quote the URL whole.
        const reason = error instanceof Error ? error.message : String(error);
        this.#logger.warn({ url: shownUrl(this.#url), err: reason, attempt }, 'status callback failed');
      }
    }
  }
}
