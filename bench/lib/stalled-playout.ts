/**
 * One call's bot->caller path through a stall of the gateway's loop, in simulated time with the
 * real Playout and HeldSlots (bench/playout-stall.ts reports it; test/stream/late-audio-debt
 * holds the playout to it). A real-time talker (the playout tests' talking bot: 360 ms of
 * speech, 140 ms of pause) answers each caller frame `answerMs` after the tick that sent it;
 * at 5 s the loop stops for `stallMs`,
 * then the missed ticks run back to back, each costing `tickWorkMs` for every call (this
 * call's part half-way through), in slices of at most a frame of work as MediaClock runs them,
 * the bot's answers read between slices as the poll phase reads them.
 */
import { HeldSlots } from '../../src/media/held-slots.js';
import { Playout } from '../../src/stream/index.js';
import { speechId, talkingFrame } from '../../test/stream/talking-bot.js';

const FRAME_MS = 20;
const FRAME_SAMPLES = 160;
const STALL_AT_MS = 5000;
export const SECONDS_AFTER = 5;

export interface StallOutcome {
  /** Per second from the stall on: [p50, p99] wait in ms. */
  seconds: Array<[number, number]>;
  silentSlots: number;
  givenBack: number;
}

/**
 * One call through a stall at 5 s (none when `stallMs` is 0): see bench/playout-stall.ts.
 */
export function simulateStall(answerMs: number, stallMs: number, tickWorkMs: number): StallOutcome {
  const playout = new Playout({ sampleRate: 8000 });
  let now = 0;
  const arrivedAt = new Map<number, number>();
  const waits: Array<[number, number]> = [];
  let silentSlots = 0;
  const source = (mayHold: boolean): Int16Array | undefined =>
    mayHold && playout.holdsSlot() ? undefined : playout.pullFrame().frame;
  const slots = new HeldSlots(8, source, (frame) => {
    const index = speechId(frame);
    if (index === undefined) {
      if (frame.every((sample) => sample === 0)) silentSlots++;
      return;
    }
    const arrived = arrivedAt.get(index);
    if (arrived !== undefined) waits.push([now, now - arrived]);
  });
  const answers: Array<[number, number]> = []; // [arrival ms, frame index], in order
  let nextTick = 0;
  let stalled = stallMs === 0;
  const deliver = (upTo: number): void => {
    while (answers.length > 0 && (answers[0]?.[0] ?? Number.POSITIVE_INFINITY) <= upTo) {
      const [at, index] = answers.shift() as [number, number];
      const arrival = Math.max(now, at);
      arrivedAt.set(index, arrival);
      now = arrival;
      playout.enqueue(talkingFrame(index));
      slots.fill();
    }
  };
  const tick = (at: number): void => {
    now = at;
    slots.releaseExpired(now);
    answers.push([now + answerMs, nextTick]);
    slots.offer(nextTick * FRAME_SAMPLES, now);
    nextTick++;
  };
  const endMs = STALL_AT_MS + (SECONDS_AFTER + 1) * 1000;
  while (now < endMs) {
    const deadline = nextTick * FRAME_MS;
    const nextAnswer = answers[0]?.[0] ?? Number.POSITIVE_INFINITY;
    let next = Math.max(now, Math.min(deadline, nextAnswer));
    if (!stalled && next >= STALL_AT_MS) {
      stalled = true;
      next = STALL_AT_MS + stallMs; // the loop is held: nothing runs, the bot's answers wait unread
      now = next;
      deliver(now); // the poll phase first, as the media clock yields before catching up
      continue;
    }
    now = next;
    if (nextAnswer <= now && deadline > now) {
      deliver(now);
      continue;
    }
    // The timer: the ticks due run back to back, each costing a tick's work, until another
    // would take the slice past a frame (MediaClock's slicing); then the loop reads what came.
    const sliceStart = now;
    let ran = 0;
    while (nextTick * FRAME_MS <= sliceStart + ran * tickWorkMs) {
      tick(sliceStart + ran * tickWorkMs + tickWorkMs / 2);
      ran++;
      if ((ran + 1) * tickWorkMs > FRAME_MS) break;
    }
    now = sliceStart + ran * tickWorkMs;
    deliver(now);
  }
  const seconds: Array<[number, number]> = [];
  for (let s = 0; s < SECONDS_AFTER; s++) {
    const from = STALL_AT_MS + s * 1000;
    const inSecond = waits
      .filter(([at]) => at >= from && at < from + 1000)
      .map(([, wait]) => wait)
      .sort((a, b) => a - b);
    const pick = (q: number) => inSecond[Math.min(inSecond.length - 1, Math.floor(q * inSecond.length))] ?? 0;
    seconds.push([pick(0.5), pick(0.99)]);
  }
  return { seconds, silentSlots, givenBack: playout.stats.trimmedFrames };
}
