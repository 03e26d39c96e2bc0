/**
 * Whether this node takes a new call: not while draining, not while overloaded (the event loop
 * or the media clock fell behind over the last window: more calls would take the time the
 * calls in progress need), not past `limits.maxCalls` calls in progress or being admitted, not
 * past the trunk's concurrent-call cap (a lease shared by every node when clustered, else this
 * node's count); then the call's CPS buckets decide.
 */
import type { ClusterLeases } from '../cluster/index.js';
import type { TrunkConfig } from '../config/index.js';
import type { ConcurrencyLimiter, CpsKeyLimit, CpsLimiter, OverflowPolicy } from '../trunks/index.js';
import type { AdmittedCall, CallAdmission, CallSlot } from './ports.js';

export interface GatewayAdmissionOptions {
  concurrency: ConcurrencyLimiter;
  /** Cluster-wide trunk caps as leases (ClusterLeases); undefined: this node's own count decides. */
  leases?: Pick<ClusterLeases, 'acquire'> | undefined;
  cps: CpsLimiter;
  /** Calls in progress on this node. */
  liveCalls(): number;
  /** `limits.maxCalls` as the current config says. */
  maxCalls(): number;
  /**
   * The Retry-After (seconds) of the 503 while the node is overloaded (`limits.overload`, see
   * NodeLoad), else undefined; absent: load never refuses.
   */
  overloadRetryAfterSec?(): number | undefined;
}

/** RFC 3261 §21.5.4: how long a caller refused for want of a slot should wait before retrying. */
const CONCURRENCY_RETRY_AFTER_SEC = 5;

const full: CallSlot = {
  ok: false,
  cause: 'rejected_concurrency',
  retryAfterSec: CONCURRENCY_RETRY_AFTER_SEC,
};

export class GatewayAdmission implements CallAdmission {
  readonly #options: GatewayAdmissionOptions;
  #draining = false;
  /** Admissions waiting for a lease: counted against maxCalls before they are live calls. */
  #pending = 0;

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

  async admit(trunk: TrunkConfig, call: AdmittedCall): Promise<CallSlot> {
    if (this.#draining) return { ok: false, cause: 'draining', retryAfterSec: CONCURRENCY_RETRY_AFTER_SEC };
    const overloadRetryAfterSec = this.#options.overloadRetryAfterSec?.();
    if (overloadRetryAfterSec !== undefined)
      return { ok: false, cause: 'rejected_overload', retryAfterSec: overloadRetryAfterSec };
    if (this.#options.liveCalls() + this.#pending >= this.#options.maxCalls()) return full;
    const leases = this.#options.leases;
    if (!leases) {
      const slot = this.#options.concurrency.tryAcquire(trunk.name, trunk.maxConcurrentCalls);
      return slot ? { ok: true, release: () => slot.release() } : full;
    }
    this.#pending++;
    try {
      const lease = await leases.acquire({
        callId: call.id,
        trunk: trunk.name,
        trunkMax: trunk.maxConcurrentCalls,
        summary: () => call.summary(),
      });
      return lease.ok ? { ok: true, release: () => lease.release() } : full;
    } finally {
      this.#pending--;
    }
  }

  cps(limits: readonly CpsKeyLimit[], overflow: OverflowPolicy, ended?: AbortSignal) {
    return this.#options.cps.admit(limits, overflow, ended);
  }
}
