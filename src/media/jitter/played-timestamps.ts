/** Recently played timestamps remembered to tell duplicates from late packets. */
const PLAYED_MEMORY = 64;

/**
 * The last PLAYED_MEMORY timestamps a receiver played, in a ring of numbers (NaN: a slot not
 * used yet), and the newest of all: a packet past it cannot be a duplicate, so the usual
 * packet, new audio, is told so without a scan.
 */
export class PlayedTimestamps {
  readonly #ring = new Float64Array(PLAYED_MEMORY).fill(Number.NaN);
  #next = 0;
  #newest = Number.NEGATIVE_INFINITY;

  has(timestamp: number): boolean {
    if (timestamp > this.#newest) return false;
    // A plain loop: TypedArray#includes runs in the runtime, ~100 ns per packet here.
    const ring = this.#ring;
    for (let i = 0; i < PLAYED_MEMORY; i++) if (ring[i] === timestamp) return true;
    return false;
  }

  add(timestamp: number): void {
    this.#ring[this.#next] = timestamp;
    this.#next = (this.#next + 1) % PLAYED_MEMORY;
    if (timestamp > this.#newest) this.#newest = timestamp;
  }

  clear(): void {
    this.#ring.fill(Number.NaN);
    this.#next = 0;
    this.#newest = Number.NEGATIVE_INFINITY;
  }
}
