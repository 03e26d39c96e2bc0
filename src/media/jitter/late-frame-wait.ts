/**
 * For a jitter buffer's consumer with no playout clock of its own (the bot's socket; replay's
 * WAV, which shows what the bot would hear): a frame whose packet is only late
 * (AudioReceiver.streamLate) is taken when the packet arrives rather than concealed at its
 * tick; still missing at the next tick, it is concealed then, ahead of that tick's frame. So
 * a frame waits one tick at most, and frames leave in order, one per tick.
 */
export class LateFrameWait {
  readonly #streamLate: () => boolean;
  readonly #take: () => void;
  #waiting = false;
  #waited = 0;
  #arrived = 0;

  /** `streamLate` asks the buffer; `take` pulls one frame from it and hands it on. */
  constructor(streamLate: () => boolean, take: () => void) {
    this.#streamLate = streamLate;
    this.#take = take;
  }

  /** Frames that waited at their tick for a late packet. */
  get waited(): number {
    return this.#waited;
  }

  /** Of those, the frames whose packet came before the next tick (the others were concealed then). */
  get arrived(): number {
    return this.#arrived;
  }

  /** Once per tick. */
  onTick(): void {
    if (this.#waiting) this.#takeNow();
    if (this.#streamLate()) {
      this.#waiting = true;
      this.#waited++;
    } else this.#takeNow();
  }

  /** After each packet the buffer took. */
  onPacket(): void {
    if (this.#waiting && !this.#streamLate()) {
      this.#arrived++;
      this.#takeNow();
    }
  }

  /** The buffer is about to go (a codec change): a frame waiting on it is taken now. */
  flush(): void {
    if (this.#waiting) this.#takeNow();
  }

  /** The buffer is gone (the end of the stream): nothing waits for it. */
  cancel(): void {
    this.#waiting = false;
  }

  #takeNow(): void {
    this.#waiting = false;
    this.#take();
  }
}
