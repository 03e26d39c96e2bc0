/**
 * Whether this node takes a new call: not while draining, not past `limits.maxCalls` calls in
 * progress, not past the trunk's concurrent-call cap; then the call's CPS buckets decide.
 */
import type { TrunkConfig } from '../config/index.js';
import type { ConcurrencyLimiter, CpsKeyLimit, CpsLimiter, OverflowPolicy } from '../trunks/index.js';
import type { CallAdmission, CallSlot } from './ports.js';

export interface GatewayAdmissionOptions {
  concurrency: ConcurrencyLimiter;
  cps: CpsLimiter;
  /** Calls in progress on this node. */
  liveCalls(): number;
  /** `limits.maxCalls` as the current config says. */
  maxCalls(): number;
}

export class GatewayAdmission implements CallAdmission {
  readonly #options: GatewayAdmissionOptions;
  #draining = false;

  constructor(options: GatewayAdmissionOptions) {
    this.#options = options;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** From now on every new call is refused with cause `draining`. */
  drain(): void {
    this.#draining = true;
  }

  admit(trunk: TrunkConfig): CallSlot {
    if (this.#draining) return { ok: false, cause: 'draining' };
    if (this.#options.liveCalls() >= this.#options.maxCalls())
      return { ok: false, cause: 'rejected_concurrency' };
    const slot = this.#options.concurrency.tryAcquire(trunk.name, trunk.maxConcurrentCalls);
    return slot ? { ok: true, release: () => slot.release() } : { ok: false, cause: 'rejected_concurrency' };
  }

  cps(limits: readonly CpsKeyLimit[], overflow: OverflowPolicy) {
    return this.#options.cps.admit(limits, overflow);
  }
}
