/**
 * The replay list of RFC 3711 §3.3.2 as a sliding window: the highest authenticated index and,
 * for the WINDOW indices up to it, which ones arrived. Anything older is refused. Indices reach
 * 2^48 (SRTP) or 2^31 (SRTCP), exact in a double.
 */
export const REPLAY_WINDOW = 128;

export class ReplayWindow {
  /** Ring indexed by index % REPLAY_WINDOW: 1 when that index arrived. */
  readonly #seen = new Uint8Array(REPLAY_WINDOW);
  #highest = -1;

  /** Checked before authentication: `index` is new and not older than the window. */
  accepts(index: number): boolean {
    if (index > this.#highest) return true;
    if (this.#highest - index >= REPLAY_WINDOW) return false;
    return this.#seen[index % REPLAY_WINDOW] === 0;
  }

  /** The highest authenticated index, -1 before any. */
  get highest(): number {
    return this.#highest;
  }

  /**
   * A window carried on from another context whose highest index was `index`: which of the
   * indices below it arrived there is not known, so every one of them counts as taken. A late
   * packet among them is lost; none is taken twice.
   */
  static takenThrough(index: number): ReplayWindow {
    const window = new ReplayWindow();
    window.#highest = index;
    window.#seen.fill(1);
    return window;
  }

  /** Records an authenticated index (§3.3.2: only after authentication). */
  mark(index: number): void {
    if (index > this.#highest) {
      // Slots between the old and the new highest belong to indices that have not arrived.
      const advance = Math.min(index - this.#highest, REPLAY_WINDOW);
      for (let step = 1; step <= advance; step++) this.#seen[(this.#highest + step) % REPLAY_WINDOW] = 0;
      this.#highest = index;
    }
    this.#seen[index % REPLAY_WINDOW] = 1;
  }
}
