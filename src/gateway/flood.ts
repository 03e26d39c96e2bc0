/**
 * Per-source request rate limit (flood protection at the SIP transport's pre-parse
 * `allowSource` hook, which ACKs and retransmissions of live transactions bypass): a token
 * bucket per source address, in a bounded map (least recently seen evicted), so a scanner
 * or a looping peer costs a Map lookup per datagram, before any parsing, and cannot grow memory.
 */
import type { Clock } from '../util/index.js';

interface Bucket {
  tokens: number;
  updatedMs: number;
}

export class SourceRateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  dropped = 0;

  readonly #clock: Clock;
  #ratePerSec: number;
  #burst: number;
  readonly #maxSources: number;

  constructor(clock: Clock, ratePerSec: number, burst = ratePerSec * 2, maxSources = 10_000) {
    this.#clock = clock;
    this.#ratePerSec = ratePerSec;
    this.#burst = burst;
    this.#maxSources = maxSources;
  }

  /** A reloaded rate: sources keep their saved tokens, up to the new burst. */
  setRate(ratePerSec: number, burst = ratePerSec * 2): void {
    this.#ratePerSec = ratePerSec;
    this.#burst = burst;
  }

  allow(source: string): boolean {
    const now = this.#clock.now();
    const bucket = this.#buckets.get(source) ?? { tokens: this.#burst, updatedMs: now };
    // Re-insert so the map's order is least recently seen first.
    this.#buckets.delete(source);
    bucket.tokens = Math.min(
      this.#burst,
      bucket.tokens + ((now - bucket.updatedMs) * this.#ratePerSec) / 1000,
    );
    bucket.updatedMs = now;
    this.#buckets.set(source, bucket);
    if (this.#buckets.size > this.#maxSources)
      this.#buckets.delete(this.#buckets.keys().next().value as string);
    if (bucket.tokens < 1) {
      this.dropped++;
      return false;
    }
    bucket.tokens -= 1;
    return true;
  }
}
