/**
 * The load bench's talking callers against the gateway's real playout: after a stall of the
 * gateway leaves standing delay behind the echo bot, the playout gives it back in the callers'
 * pauses and voice, and every tagged frame still reaches the caller intact, once, in order, so
 * the bench's latency and loss stay exact. The constant level the callers sent before was given
 * back too, but only by compressing it at its tag copies' spacing, which cut tags.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameStats } from '../../../bench/load/frame-stats.js';
import { findTags, TAG_OFFSETS, TagStreamReader, writeTag } from '../../../bench/load/frame-tag.js';
import { FRAME_SAMPLES, TAG_EVERY, Talker } from '../../../bench/load/talker.js';
import { decodeMulaw, encodeMulaw } from '../../../src/media/index.js';
import { Playout } from '../../../src/stream/index.js';

const FRAME_US = 20_000;
/** The stall: a second of the bot's audio arrives at once, 5 s into the call. */
const STALL_AT_TICK = 250;
const STALL_FRAMES = 50;
/** The G.711 Appendix I concealment delays caller audio by this much: tags land mid-frame. */
const PLC_DELAY_SAMPLES = 30;

interface Replay {
  /** Caller send times of the tagged frames the bot sent, in order. */
  sent: number[];
  /** Caller send times of the tagged frames the caller read, each copy, in order. */
  copies: number[];
  /** Tagged frames the caller's FrameStats counted. */
  received: number;
  /** Queue depth after each pull, ms. */
  depthMs: number[];
  playout: Playout;
}

/**
 * A real-time echo bot behind the playout, one frame per pull, with a stall at STALL_AT_TICK;
 * the caller reads each pulled frame (re-encoded to µ-law, as the gateway sends it) with the
 * callers' tag reader and counts it with their FrameStats. `speak` writes frame `i` and says
 * whether it is tagged.
 */
function replay(seconds: number, speak: (payload: Buffer) => boolean, shift = PLC_DELAY_SAMPLES): Replay {
  const playout = new Playout({ sampleRate: 8000 });
  const reader = new TagStreamReader(FRAME_SAMPLES);
  const stats = new FrameStats();
  stats.setWindow(0, Number.MAX_SAFE_INTEGER);
  const spoken = Buffer.alloc(FRAME_SAMPLES);
  // What the bot gets: the caller's audio `shift` samples late, cut into payloads of a frame.
  const toBot = Buffer.alloc(FRAME_SAMPLES + shift, 0xff);
  const heard = new Uint8Array(FRAME_SAMPLES);
  const result: Replay = { sent: [], copies: [], received: 0, depthMs: [], playout };
  let sentFrames = 0;
  let tick = 0;
  const send = () => {
    // Send times start at 1 s: a tag's times are never 0 (0 is "not echoed yet").
    const sentUs = 1e6 + FRAME_US * sentFrames++;
    if (speak(spoken)) {
      for (const at of TAG_OFFSETS) writeTag(spoken, at, { call: 7, callerSentUs: sentUs, botSentUs: 0 });
      result.sent.push(sentUs);
    }
    spoken.copy(toBot, shift);
    // The echo bot re-tags the copies whole in its payload, as bench/load/echo-bot.ts does.
    const payload = toBot.subarray(0, FRAME_SAMPLES);
    const botSentUs = sentUs + 1000;
    for (const { at, tag } of findTags(payload)) writeTag(payload, at, { ...tag, botSentUs });
    playout.enqueue(decodeMulaw(payload));
    toBot.copy(toBot, 0, FRAME_SAMPLES);
  };
  for (; tick < seconds * 50; tick++) {
    if (tick === STALL_AT_TICK) for (let i = 0; i < STALL_FRAMES; i++) send();
    send();
    encodeMulaw(playout.pullFrame().frame, heard);
    // The caller hears the frame in this tick's slot, the stall's second behind it at most.
    const arrivalUs = 3e6 + FRAME_US * tick;
    for (const { tag } of reader.read(heard, 0, FRAME_SAMPLES)) {
      assert.equal(tag.call, 7, 'no garbled copy');
      result.copies.push(tag.callerSentUs);
      if (tag.botSentUs !== 0 && stats.observe(tag.call, tag.callerSentUs, tag.botSentUs, arrivalUs))
        result.received++;
    }
    result.depthMs.push(playout.queuedMs);
  }
  return result;
}

test('a talking caller: the playout gives a stall back, and every tagged frame arrives once, in order, intact', () => {
  const talker = new Talker(3);
  const { sent, copies, received, depthMs, playout } = replay(30, (payload) => talker.next(payload));
  assert.ok(
    depthMs[STALL_AT_TICK]! >= 1000,
    `the stall leaves a second standing (${depthMs[STALL_AT_TICK]} ms)`,
  );
  const back = depthMs.findIndex((ms, tick) => tick > STALL_AT_TICK && ms <= 40);
  assert.ok(
    back > 0 && (back - STALL_AT_TICK) * 20 <= 15_000,
    `back to 40 ms after ${(back - STALL_AT_TICK) * 20} ms`,
  );
  const { trimmedFrames, compressedMs } = playout.stats;
  assert.ok(
    trimmedFrames > 0 || compressedMs > 0,
    `given back: ${trimmedFrames} frames trimmed, ${compressedMs} ms compressed`,
  );
  assert.ok(
    depthMs.slice(back).every((ms) => ms <= 60),
    'and stays back',
  );
  // Each frame's copies come together, the frames in the order they were sent, none skipped:
  // all but those still queued at the end (the queue holds about a frame, a tagged one in 4).
  const distinct = copies.filter((frame, i) => frame !== copies[i - 1]);
  assert.equal(new Set(distinct).size, distinct.length, 'a frame read again after a later one');
  assert.deepEqual(distinct, sent.slice(0, distinct.length), 'every tagged frame, in order');
  assert.ok(sent.length - distinct.length <= 1, `${sent.length - distinct.length} tagged frames not read`);
  assert.equal(received, distinct.length, 'counted once each');
  // A spurt frame in TAG_EVERY is tagged, and spurts are most of the talk.
  assert.ok(sent.length > (30 * 50) / TAG_EVERY / 2, `${sent.length} tagged frames in 30 s`);
});

test('the constant level with a tag in every frame the callers sent before: compressed at its tags, which it cuts', () => {
  // µ-law 0x30 (a steady -3,900) under the two copies: no pause to trim, and no period but the
  // copies' own half frame (80 samples, 10 ms), at which the playout compresses it. Where the
  // copies straddle the bot's payloads (alignments 44-124), the bot re-tags only the first, and
  // cutting that one loses the frame: 49 of 1,550 here, loss the bench reported that no caller
  // speaking would have.
  const { playout, sent, received } = replay(
    30,
    (payload) => {
      payload.fill(0x30);
      return true;
    },
    57,
  );
  assert.ok(playout.stats.compressedMs >= 900, `${playout.stats.compressedMs} ms compressed`);
  assert.equal(playout.stats.trimmedFrames, 0, 'no pause');
  assert.ok(sent.length - received > 10, `${sent.length - received} of ${sent.length} tagged frames lost`);
});
