/** A bot's talk for the playout tests: frames that say whether they are speech, and which. */
import type { Playout } from '../../src/stream/index.js';

/**
 * A bot that talks: frame `i` (20 ms at 8 kHz) is speech for 360 ms, then 140 ms of near
 * silence (a TTS noise floor). Every sample of a speech frame is 2000 + i, so the frames that
 * reach the caller can be read back in order.
 */
const SPEECH_BASE = 2000;
export function talkingFrame(i: number, speechFrames = 18, cycleFrames = 25): Int16Array {
  const speech = i % cycleFrames < speechFrames;
  return Int16Array.from({ length: 160 }, (_, k) => (speech ? SPEECH_BASE + i : k % 2 === 0 ? 30 : -30));
}

/** The speech frame ids a frame carries (its middle sample, clear of fades), or undefined. */
export function speechId(frame: Int16Array): number | undefined {
  const sample = frame[80] ?? 0;
  return sample >= SPEECH_BASE ? sample - SPEECH_BASE : undefined;
}

/**
 * A bot streaming in real time (one frame per tick) for `seconds`, behind a media clock that
 * stalls for `stallFrames` ticks after the first 5 s. Skipped ticks (the default) are never
 * pulled: the bot's frames of that time arrive with no pull between them. Caught-up ticks run
 * back to back before the bot's answers to them come: each of those pulls finds the queue dry
 * and plays silence, and the answers then arrive together. Returns the depth after each pull
 * and the speech ids sent and played.
 */
export function realTimeBotWithStall(
  playout: Playout,
  seconds: number,
  stallFrames: number,
  options: { caughtUp?: boolean; frameAt?: (i: number) => Int16Array } = {},
): { depthMs: number[]; played: number[]; sent: number[] } {
  const frameAt = options.frameAt ?? ((i) => talkingFrame(i));
  const depthMs: number[] = [];
  const played: number[] = [];
  const sent: number[] = [];
  let next = 0;
  const send = () => {
    const frame = frameAt(next++);
    const id = speechId(frame);
    if (id !== undefined) sent.push(id);
    playout.enqueue(frame);
  };
  const pull = () => {
    const id = speechId(playout.pullFrame().frame);
    if (id !== undefined) played.push(id);
    depthMs.push(playout.queuedMs);
  };
  for (let tick = 0; tick < seconds * 50; tick++) {
    if (tick === 250) {
      if (options.caughtUp) for (let i = 0; i < stallFrames; i++) pull();
      for (let i = 0; i < stallFrames; i++) send();
    }
    send();
    pull();
  }
  return { depthMs, played, sent };
}
