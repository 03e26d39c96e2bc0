/**
 * The caller leg's RTP slots held for bot audio that was late at their tick. A tick whose bot
 * frame is due but not there yet (mid-utterance) keeps its slot, RTP timestamp and all, and
 * the frame goes out in it as it arrives: a real-time bot's jitter reaches the carrier as
 * jitter, not as a frame of delay standing in the playout queue for the rest of the call.
 *
 * A slot waits HOLD_MS of real time, not "until the next tick": ticks the media clock catches
 * up after a stall run back to back, and the bot's answers to the caller frames they sent come
 * back after them. Released a tick later, each of those slots would go out as silence and the
 * answers stand behind it, a frame of delay each, until the playout trims them seconds later;
 * held, the answers fill them as they come, late by the stall as any audio of it is, and
 * nothing stands. Slots leave in timestamp order, the oldest first.
 */

/** Real time a slot waits for its frame: half a frame, so a regular next tick releases it. */
export const HOLD_MS = 10;

/** A source of bot frames: with mayHold, undefined while the next frame is due but late. */
export type HeldSlotSource<Frame> = (mayHold: boolean) => Frame | undefined;

export class HeldSlots<Frame> {
  readonly #timestamps: Float64Array;
  readonly #heldAtMs: Float64Array;
  readonly #pull: HeldSlotSource<Frame>;
  readonly #send: (frame: Frame, timestamp: number) => void;
  #oldest = 0;
  #count = 0;
  #held = 0;
  #arrived = 0;

  /**
   * At most `capacity` slots wait; a slot past that goes out as what the source has. `send`
   * puts a frame on the wire in the slot of `timestamp`.
   */
  constructor(
    capacity: number,
    pull: HeldSlotSource<Frame>,
    send: (frame: Frame, timestamp: number) => void,
  ) {
    this.#timestamps = new Float64Array(capacity);
    this.#heldAtMs = new Float64Array(capacity);
    this.#pull = pull;
    this.#send = send;
  }

  /** Slots held for a late bot frame. */
  get held(): number {
    return this.#held;
  }

  /** Of those, the slots the bot's frame filled while they waited (the others got what was queued). */
  get arrived(): number {
    return this.#arrived;
  }

  /** A tick's slot: its frame goes now if the source has it and no older slot waits; else it waits. */
  offer(timestamp: number, nowMs: number): void {
    if (this.#count === 0) {
      const frame = this.#pull(true);
      if (frame) {
        this.#send(frame, timestamp);
        return;
      }
    } else if (this.#count === this.#timestamps.length) this.#releaseOldest();
    const at = (this.#oldest + this.#count) % this.#timestamps.length;
    this.#timestamps[at] = timestamp;
    this.#heldAtMs[at] = nowMs;
    this.#count++;
    this.#held++;
    if (this.#count > 1) this.#drain(false);
  }

  /** Bot audio arrived: the waiting slots get it, the oldest first, while the source has frames. */
  fill(): void {
    this.#drain(true);
  }

  /**
   * Sends the waiting slots, the oldest first, while the source has a frame for them. Only a
   * fill counts them as arrived: no bot audio has come since the last fill when a tick offers
   * its slot behind waiting ones, so a frame the source gives then is what it plays with
   * nothing queued (a slot released before made it idle), not the bot's answer.
   */
  #drain(countArrived: boolean): void {
    while (this.#count > 0) {
      const frame = this.#pull(true);
      if (!frame) return;
      if (countArrived) this.#arrived++;
      this.#send(frame, this.#shift());
    }
  }

  /** At a tick, before its own slot: the slots that waited HOLD_MS go out as what the source has. */
  releaseExpired(nowMs: number): void {
    while (this.#count > 0 && nowMs - (this.#heldAtMs[this.#oldest] as number) >= HOLD_MS)
      this.#releaseOldest();
  }

  /** Every waiting slot goes out now as what the source has (a DTMF event takes the next ones). */
  releaseAll(): void {
    while (this.#count > 0) this.#releaseOldest();
  }

  #releaseOldest(): void {
    const frame = this.#pull(false);
    const timestamp = this.#shift();
    if (frame) this.#send(frame, timestamp);
  }

  #shift(): number {
    const timestamp = this.#timestamps[this.#oldest] as number;
    this.#oldest = (this.#oldest + 1) % this.#timestamps.length;
    this.#count--;
    return timestamp;
  }
}
