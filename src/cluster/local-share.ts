/**
 * What one node may take on its own while Redis is unreachable: with `divide`, a cluster-wide
 * limit split by the live nodes last seen (N), so N nodes deciding alone still add up to about
 * the limit; with `full`, the whole limit (for carriers that count per source address).
 */
import {
  type BucketSnapshot,
  type CpsDecision,
  type CpsKeyLimit,
  type CpsStore,
  MemoryCpsStore,
} from '../trunks/index.js';

export type LocalShare = 'divide' | 'full';

/** This node's part of a cluster-wide count limit (rounded up: a node always gets one). */
export function shareOfCount(max: number, share: LocalShare, liveNodes: number): number {
  return share === 'full' ? max : Math.max(1, Math.ceil(max / Math.max(1, liveNodes)));
}

/** In-memory buckets at this node's share of each rate and burst. */
export class LocalShareCpsStore implements CpsStore {
  readonly #buckets = new MemoryCpsStore();
  readonly #share: LocalShare;
  readonly #liveNodes: () => number;

  constructor(share: LocalShare, liveNodes: () => number) {
    this.#share = share;
    this.#liveNodes = liveNodes;
  }

  take(limits: readonly CpsKeyLimit[], nowMs: number): Promise<CpsDecision> {
    return this.#buckets.take(
      limits.map((limit) => this.#scale(limit)),
      nowMs,
    );
  }

  refund(limits: readonly CpsKeyLimit[], nowMs: number): Promise<void> {
    return this.#buckets.refund(
      limits.map((limit) => this.#scale(limit)),
      nowMs,
    );
  }

  snapshot(nowMs: number): Promise<BucketSnapshot[]> {
    return this.#buckets.snapshot(nowMs);
  }

  #scale(limit: CpsKeyLimit): CpsKeyLimit {
    const nodes = this.#share === 'full' ? 1 : Math.max(1, this.#liveNodes());
    return { key: limit.key, rate: limit.rate / nodes, burst: Math.max(1, limit.burst / nodes) };
  }
}
