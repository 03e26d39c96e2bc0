/** Concurrent-call limits per key (trunk), counted with handles that release exactly once. */

export interface CallSlot {
  readonly key: string;
  /** Returns true the first time; later calls are no-ops returning false. */
  release(): boolean;
}

export class ConcurrencyLimiter {
  readonly #inUseByKey = new Map<string, number>();

  /** Takes a slot when fewer than `max` are in use for `key`; undefined when full. */
  tryAcquire(key: string, max: number): CallSlot | undefined {
    const current = this.#inUseByKey.get(key) ?? 0;
    if (current >= max) return undefined;
    this.#inUseByKey.set(key, current + 1);
    let released = false;
    return {
      key,
      release: () => {
        if (released) return false;
        released = true;
        const remaining = (this.#inUseByKey.get(key) ?? 1) - 1;
        // Keys with no calls are dropped so the map only holds active trunks.
        if (remaining <= 0) this.#inUseByKey.delete(key);
        else this.#inUseByKey.set(key, remaining);
        return true;
      },
    };
  }

  inUse(key: string): number {
    return this.#inUseByKey.get(key) ?? 0;
  }

  snapshot(): Array<{ key: string; inUse: number }> {
    return [...this.#inUseByKey.entries()].map(([key, inUse]) => ({ key, inUse }));
  }
}
