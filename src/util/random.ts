/**
 * A small seeded PRNG (mulberry32) with distribution helpers, so impairment models,
 * probe jitter and tests are reproducible for a given seed.
 */
export class SeededRandom {
  #state: number;
  #spareGaussian: number | null = null;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Normal deviate (Box-Muller, the second value of each pair is kept for the next call). */
  gaussian(mean = 0, stdDev = 1): number {
    if (this.#spareGaussian !== null) {
      const z = this.#spareGaussian;
      this.#spareGaussian = null;
      return mean + stdDev * z;
    }
    const u = 1 - this.next();
    const v = this.next();
    const radius = Math.sqrt(-2 * Math.log(u));
    this.#spareGaussian = radius * Math.sin(2 * Math.PI * v);
    return mean + stdDev * radius * Math.cos(2 * Math.PI * v);
  }

  /** Pareto deviate with minimum `scale` and tail index `shape` (mean = scale·shape/(shape−1)). */
  pareto(scale: number, shape: number): number {
    return scale / (1 - this.next()) ** (1 / shape);
  }

  /** Exponential deviate with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }
}

/** A uniform [0, 1) source for APIs that take a plain `() => number` (routing, relays). */
export function seededRandom(seed: number): () => number {
  const random = new SeededRandom(seed);
  return () => random.next();
}
