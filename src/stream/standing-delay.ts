/**
 * Tells standing delay in the playout queue apart from audio a bot sent ahead on purpose.
 *
 * A bot that streams in real time keeps the queue near empty. When our event loop stalls and
 * media-clock ticks are skipped (or the bot's socket delivers a second of audio at once), the
 * queue keeps that second for the rest of the call: arrivals and playout run at the same pace
 * again, so nothing ever drains it, and every later word reaches the caller that much late.
 * A bot that sends ahead (a TTS burst of 10 s in 200 ms, Pipecat at 2x) also leaves a deep
 * queue, but it arrives faster than it plays and then stops: that lead is the bot's to keep.
 *
 * So, over a sliding window of whole blocks of frames (no wall clock: time is pulled frames),
 * when the queue's depth stayed within PACE_BAND_FRAMES of itself the whole window (what
 * arrived kept pace with what played, in every part of it: a bot ahead of real time or
 * draining moves the depth by its whole lead, a stall by its length) and never fell below some
 * depth D, that D stood for the whole window: it is the budget the playout may drop (silent
 * frames only, see Playout). No margin is kept under it: a frame the bot sends late after the
 * queue ran dry is sent as it arrives (the caller leg holds the tick's slot for it), so a
 * frame standing in the queue only delays every later word.
 *
 * From here, a bot that first sends ahead and then streams at exactly real-time pace for a
 * whole window looks like a stall: its pauses are shortened too (never its speech).
 *
 * One frame can stand with the queue empty after every pull: each of a real-time bot's frames
 * arriving just after a tick, to wait for the next one (the bot's frame came after its tick's
 * held slot had to go). No pull leaves anything, but no tick ever finds the queue dry either:
 * over a whole window of that (`frameStands`), the playout skips one silent frame at a tick
 * and holds the slot instead, so the next frame goes out as it arrives.
 *
 * The delay a stall of ours leaves behind a real-time bot is also given back sooner, within
 * what the playout played as silence while the bot's answers were late (LateAudioDebt).
 *
 * Depths are kept as if nothing had been dropped (the depth plus everything removed so far),
 * so a drop lowers the window's minimum at once, without waiting for the window to pass, and
 * a real-time bot's depth stays steady while it is trimmed.
 */

import { LateAudioDebt } from './late-audio-debt.js';

/** Frames per block: the window slides a block (200 ms) at a time. */
const BLOCK_FRAMES = 10;
/** Blocks per window: 2.4 s, long enough that one stall or burst does not look like pace. */
const WINDOW_BLOCKS = 12;
/**
 * How far the depth may move over a window and still count as real-time pace: 200 ms, for
 * socket jitter and bots that send 100 ms chunks; a bot 10% ahead moves it 240 ms.
 */
const PACE_BAND_FRAMES = 10;

export class StandingDelay {
  readonly #paceBandSamples: number;
  /** Per block of the window (a ring): the least and the greatest depth seen. */
  readonly #blockMinDepth = new Float64Array(WINDOW_BLOCKS);
  readonly #blockMaxDepth = new Float64Array(WINDOW_BLOCKS);
  /** Per block: whether a tick found less than a frame queued (held its slot, or ran dry). */
  readonly #blockRanDry = new Uint8Array(WINDOW_BLOCKS);
  #ranDry = false;
  /** Whether a pull of this block played silence of its own (less than a frame of bot audio queued). */
  #playedDry = false;
  /** The least depth a pull of this block left, as queued (what could be dropped now). */
  #minQueued = Number.POSITIVE_INFINITY;
  readonly #lateAudio: LateAudioDebt;
  #frameStands = false;
  #nextBlock = 0;
  #blocksFilled = 0;
  #minDepth = Number.POSITIVE_INFINITY;
  #maxDepth = 0;
  #pulls = 0;
  /** Samples removed other than by playing (trimmed or cleared): depth offset. */
  #removed = 0;
  #budget = 0;

  constructor(frameSamples: number) {
    this.#paceBandSamples = frameSamples * PACE_BAND_FRAMES;
    this.#lateAudio = new LateAudioDebt(frameSamples);
  }

  /** Samples the playout may still drop as standing delay. */
  get budget(): number {
    return Math.max(this.#budget, this.#lateAudio.budget);
  }

  /** A frame stood between ticks for a whole window, the queue dry after each pull. */
  get frameStands(): boolean {
    return this.#frameStands;
  }

  /** A tick found less than a frame queued: it held its slot for the bot, or ran dry. */
  ranDry(): void {
    this.#ranDry = true;
  }

  /** The playout skipped the frame that stood: a whole new window before the next. */
  frameSkipped(samples: number): void {
    this.removed(samples, false);
    this.#frameStands = false;
    this.#blocksFilled = 0;
  }

  /** Audio taken out of the queue without being played: dropped as standing delay, or cleared. */
  removed(samples: number, cleared: boolean): void {
    this.#removed += samples;
    this.#budget = Math.max(0, this.#budget - samples);
    this.#lateAudio.removed(samples, cleared);
  }

  /**
   * Once per pulled frame, with the depth the queue is left with and how many of the frame's
   * samples had no bot audio.
   */
  pulled(depthSamples: number, silentSamples: number): void {
    const depth = depthSamples + this.#removed;
    if (depth < this.#minDepth) this.#minDepth = depth;
    if (depth > this.#maxDepth) this.#maxDepth = depth;
    if (depthSamples < this.#minQueued) this.#minQueued = depthSamples;
    if (silentSamples > 0) this.#playedDry = true;
    this.#lateAudio.pulled(silentSamples);
    if (++this.#pulls < BLOCK_FRAMES) return;
    if (!this.#playedDry) this.#lateAudio.blockEnded(this.#minDepth, this.#maxDepth, this.#minQueued);
    this.#blockMinDepth[this.#nextBlock] = this.#minDepth;
    this.#blockMaxDepth[this.#nextBlock] = this.#maxDepth;
    this.#blockRanDry[this.#nextBlock] = this.#ranDry ? 1 : 0;
    this.#nextBlock = (this.#nextBlock + 1) % WINDOW_BLOCKS;
    this.#blocksFilled = Math.min(WINDOW_BLOCKS, this.#blocksFilled + 1);
    this.#minDepth = Number.POSITIVE_INFINITY;
    this.#maxDepth = 0;
    this.#ranDry = false;
    this.#playedDry = false;
    this.#minQueued = Number.POSITIVE_INFINITY;
    this.#pulls = 0;
    if (this.#blocksFilled < WINDOW_BLOCKS) {
      this.#budget = 0;
      this.#frameStands = false;
      return;
    }
    this.#judgeWindow();
  }

  /**
   * Over the whole window, when the bot kept real-time pace (the depth stayed within the pace
   * band): the depth that stood is the budget; with none, a frame stands between ticks when no
   * tick found the queue dry.
   */
  #judgeWindow(): void {
    let minDepth = Number.POSITIVE_INFINITY;
    let maxDepth = 0;
    let ranDry = false;
    for (let i = 0; i < WINDOW_BLOCKS; i++) {
      minDepth = Math.min(minDepth, this.#blockMinDepth[i] ?? 0);
      maxDepth = Math.max(maxDepth, this.#blockMaxDepth[i] ?? 0);
      ranDry ||= this.#blockRanDry[i] === 1;
    }
    const keptPace = maxDepth - minDepth <= this.#paceBandSamples;
    this.#budget = keptPace ? Math.max(0, minDepth - this.#removed) : 0;
    this.#frameStands = keptPace && this.#budget === 0 && !ranDry;
  }
}
