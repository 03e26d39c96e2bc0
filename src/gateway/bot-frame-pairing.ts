/**
 * Which bot frame goes out beside each caller frame (the stereo dialect's second channel): caller
 * frame n, one per media-clock tick, with bot frame n - 1, the one played last when its tick
 * came. Either may leave late: a caller frame waiting for its packet goes after its tick's bot
 * frame, and a bot frame whose slot was held goes out between ticks. So frames are paired by
 * their number in each stream, not by which came last, and neither stream skips or repeats one.
 */
import { MAX_CATCH_UP_TICKS } from '../media/index.js';

/**
 * The bot frames kept: a caller frame goes out at most one tick late, after the bot frame of
 * its own tick (MediaLeg sends a held slot before the next tick's caller frames), so it needs
 * the frame before that one at the oldest.
 */
const KEPT_FRAMES = 2;

export class BotFramePairing {
  readonly #kept: Int16Array[];
  readonly #silence: Int16Array;
  #botFrames = 0;
  #callerFrames = 0;

  constructor(frameSamples: number) {
    this.#kept = Array.from({ length: KEPT_FRAMES }, () => new Int16Array(frameSamples));
    this.#silence = new Int16Array(frameSamples);
  }

  /** A bot frame played (copied: the playout reuses its buffer). */
  botFrame(frame: Int16Array): void {
    const kept = this.#kept[this.#botFrames % KEPT_FRAMES] as Int16Array;
    if (frame.length === kept.length) kept.set(frame);
    else kept.fill(0);
    this.#botFrames++;
  }

  /** The bot frame to send beside the next caller frame, valid until the next botFrame(). */
  nextCallerFrame(): Int16Array {
    const wanted = this.#callerFrames - 1;
    this.#callerFrames++;
    // Not played yet: the media clock caught up ticks whose slots still wait for the bot's
    // frames (HeldSlots). Nothing was played at that instant; the counts meet again as they fill.
    const unplayed = wanted - (this.#botFrames - 1);
    if (unplayed > 0 && unplayed <= MAX_CATCH_UP_TICKS) return this.#silence;
    if (unplayed <= 0 && wanted >= Math.max(0, this.#botFrames - KEPT_FRAMES))
      return this.#kept[wanted % KEPT_FRAMES] as Int16Array;
    // The first caller frame, or out of step (the bot joined mid-call, a stream stopped): from
    // here on the caller frame goes with the bot frame played last (silence before any).
    this.#callerFrames = this.#botFrames + 1;
    return this.#botFrames === 0
      ? this.#silence
      : (this.#kept[(this.#botFrames - 1) % KEPT_FRAMES] as Int16Array);
  }
}
