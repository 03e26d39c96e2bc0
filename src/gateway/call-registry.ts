/**
 * The calls in progress, by id, and a bounded memory of finished ones kept as their final
 * detail only (no sockets, codecs or buffers), so `GET /v1/calls/:id` answers after hang-up.
 */

import type { CallDetail } from '../control/index.js';
import type { CallController } from './call-controller.js';
import type { CallMediaRecord } from './call-record.js';

const RECENT_CALLS = 1000;

export class CallRegistry {
  readonly #live = new Map<string, CallController>();
  readonly #recent = new Map<string, CallDetail<CallMediaRecord>>();
  #emptyWaiters: Array<() => void> = [];

  get size(): number {
    return this.#live.size;
  }

  add(call: CallController): void {
    this.#live.set(call.id, call);
  }

  remove(call: CallController): void {
    if (!this.#live.delete(call.id)) return;
    this.#recent.set(call.id, call.detail());
    if (this.#recent.size > RECENT_CALLS) {
      const oldest = this.#recent.keys().next().value;
      if (oldest !== undefined) this.#recent.delete(oldest);
    }
    if (this.#live.size === 0) {
      const waiters = this.#emptyWaiters;
      this.#emptyWaiters = [];
      for (const waiter of waiters) waiter();
    }
  }

  get(id: string): CallController | undefined {
    return this.#live.get(id);
  }

  /** A live call's detail, or a finished one's as it ended. */
  detail(id: string): CallDetail<CallMediaRecord> | undefined {
    return this.#live.get(id)?.detail() ?? this.#recent.get(id);
  }

  /** A snapshot: ending a call while iterating is safe. */
  live(): CallController[] {
    return [...this.#live.values()];
  }

  /** Calls `waiter` once no call is left (at once if none is). */
  whenEmpty(waiter: () => void): void {
    if (this.#live.size === 0) waiter();
    else this.#emptyWaiters.push(waiter);
  }
}
