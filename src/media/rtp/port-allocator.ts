/**
 * Hands out RTP ports from a configured range: even ports for RTP, the odd port above for
 * RTCP (RFC 3550 §11). Round-robin, so a just-released port is not reused at once (stray
 * packets of the old call would land in the new one).
 */
export class PortAllocator {
  readonly min: number;
  readonly max: number;
  readonly #inUse = new Set<number>();
  #next: number;

  /** `first`: where the round-robin starts (a range taken over from an owner that died). */
  constructor(min: number, max: number, first?: number) {
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1024 || max > 65535)
      throw new RangeError(`RTP port range must be integers within 1024..65535, got ${min}..${max}`);
    this.min = min + (min % 2);
    // The last even port needs its odd RTCP partner inside the range.
    this.max = max - ((max + 1) % 2);
    if (this.max - 1 < this.min) throw new RangeError(`RTP port range ${min}..${max} holds no even/odd pair`);
    this.#next =
      first !== undefined && first >= this.min && first < this.max
        ? first - ((first - this.min) % 2)
        : this.min;
  }

  /** Number of RTP ports (pairs) the range holds. */
  get capacity(): number {
    return (this.max - 1 - this.min) / 2 + 1;
  }

  get available(): number {
    return this.capacity - this.#inUse.size;
  }

  /**
   * An even port not handed out yet, or undefined when the range is exhausted. `skipPairs` moves
   * the round-robin on that many pairs first: past ports another process holds.
   */
  reserve(skipPairs = 0): number | undefined {
    if (skipPairs > 0)
      this.#next = this.min + ((this.#next - this.min + 2 * skipPairs) % (2 * this.capacity));
    for (let tried = 0; tried < this.capacity; tried++) {
      const port = this.#next;
      this.#next = port + 2 > this.max - 1 ? this.min : port + 2;
      if (!this.#inUse.has(port)) {
        this.#inUse.add(port);
        return port;
      }
    }
    return undefined;
  }

  release(port: number): void {
    this.#inUse.delete(port);
  }
}
