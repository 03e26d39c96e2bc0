/**
 * Standing delay that our own lateness put in the playout queue, given back without waiting
 * for StandingDelay's 2.4 s window.
 *
 * When our media clock stalls and then catches up, its ticks run back to back. The bot's
 * answers to the caller frames of those ticks come after them, so the caller leg's held
 * slots go out as silence, and the answers then stand in the queue, one frame of delay for
 * each slot that went dry. The playout knows how many frames it played as silence while the
 * bot was mid-stream: that is the debt, and it bounds what the playout may give back. It
 * still has to tell that case from a bot that paused and then sent its next words ahead (a
 * TTS burst, a bot at 2x): their audio also arrives after dry pulls. So the debt is judged on
 * the blocks of pulls after the dry spell in which no pull ran dry: when the depth stayed
 * within LATE_PACE_BAND_FRAMES over one (the bot streams at real-time pace again), the depth
 * that stood under it, up to what is owed, is granted to the budget, and what is still owed
 * waits for the next block (the catch-up runs in slices with the bot's answers read between
 * them, so the answers stand a few at a time). A bot draining a lead it sent ahead, or
 * building one, moves the depth by a frame per pull and keeps its lead; after JUDGED_BLOCKS
 * such blocks the debt is forgiven, and after WAITING_BLOCKS with nothing standing. So is a
 * dry spell longer than the media clock's catch-up (1 s): that was a pause of the bot, not
 * our lateness.
 *
 * It takes only what is still queued after a pull, never the frame that comes between ticks:
 * skipping that one so the next slots are held (StandingDelay's `frameStands`) after a block,
 * rather than a whole window, would turn a bot whose frames come 10-20 ms after each tick,
 * past a held slot's wait, into an underrun in its speech every few blocks.
 *
 * What such a bot can lose is bounded by the dry spell before it: a bot that paused, then
 * streams at real-time pace with a lead of its own, has its lead shortened by at most the
 * pause, in its silent frames (see Playout).
 */

/** Dry pulls in a row after which the bot paused rather than came late: 1 s, the catch-up bound. */
const LONGEST_LATE_SPELL_PULLS = 50;
/** How far the depth may move over a block and still be real-time pace: 100 ms, a bot's chunk. */
const LATE_PACE_BAND_FRAMES = 5;
/** Blocks with no dry pull over which the debt is judged before it is forgiven. */
const JUDGED_BLOCKS = 3;
/**
 * Blocks at real-time pace with nothing standing under them after which the debt is forgiven:
 * longer than the catch-up of the longest stall the media clock makes up (1 s of ticks, run
 * in slices between which the answers come).
 */
const WAITING_BLOCKS = 6;

export class LateAudioDebt {
  readonly #frameSamples: number;
  readonly #paceBandSamples: number;
  /** Samples played as silence while the bot was mid-stream, not yet granted or forgiven. */
  #debt = 0;
  /** Starts as after a long pause: the silence before the bot's first words is owed to no one. */
  #dryPullsInRow = LONGEST_LATE_SPELL_PULLS;
  #blocksJudged = 0;
  /** Samples the playout may drop as standing delay that our lateness left. */
  #budget = 0;

  constructor(frameSamples: number) {
    this.#frameSamples = frameSamples;
    this.#paceBandSamples = frameSamples * LATE_PACE_BAND_FRAMES;
  }

  get budget(): number {
    return this.#budget;
  }

  /** Once per pulled frame: how many of its samples had no bot audio. */
  pulled(silentSamples: number): void {
    if (silentSamples === 0) {
      this.#dryPullsInRow = 0;
      return;
    }
    this.#budget = 0; // the queue ran dry: nothing stands
    if (++this.#dryPullsInRow > LONGEST_LATE_SPELL_PULLS) {
      this.#debt = 0;
      return;
    }
    // Owed for what the bot's next audio will stand behind; at most a catch-up's worth.
    this.#debt = Math.min(this.#debt + silentSamples, this.#frameSamples * LONGEST_LATE_SPELL_PULLS);
    this.#blocksJudged = 0;
  }

  /**
   * At the end of a block of pulls in which none ran dry: a debt is judged (see the class
   * comment) on the least and greatest depth the pulls left, counted with what was dropped
   * (StandingDelay's depths), and the least depth as queued, what can still be dropped.
   */
  blockEnded(minDepth: number, maxDepth: number, minQueued: number): void {
    if (this.#debt === 0) return;
    const keptPace = maxDepth - minDepth <= this.#paceBandSamples;
    // What stood under the block beyond what is granted already, up to what is still owed.
    const grant = keptPace ? Math.min(this.#debt, minQueued - this.#budget) : 0;
    if (grant > 0) {
      this.#budget += grant;
      this.#debt -= grant;
      return;
    }
    // Nothing standing under a block at real-time pace is no answer yet: while the caught-up
    // ticks run in slices, the bot's answers read between them, some pulls leave the queue
    // empty until every answer has come in.
    if (++this.#blocksJudged >= (keptPace ? WAITING_BLOCKS : JUDGED_BLOCKS)) this.#debt = 0;
  }

  /** Audio taken out without being played: it pays the budget; a clear also ends the debt. */
  removed(samples: number, cleared: boolean): void {
    this.#budget = Math.max(0, this.#budget - samples);
    if (cleared) this.#debt = 0;
  }
}
