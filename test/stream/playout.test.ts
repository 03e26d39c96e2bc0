import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Playout } from '../../src/stream/index.js';
import { TimeCompressor } from '../../src/stream/time-compression.js';
import { FakeClock, silentLogger } from '../../src/util/index.js';
import { realTimeBotWithStall, speechId, talkingFrame } from './talking-bot.js';

/** 20 ms frames of 8 kHz audio whose samples count up, so order and gaps are visible. */
function ramp(start: number, samples: number): Int16Array {
  return Int16Array.from({ length: samples }, (_, i) => 1000 + ((start + i) % 20000));
}

test('audio enqueued faster than real time comes out one frame per pull, in order, nothing lost', () => {
  const playout = new Playout({ sampleRate: 8000 });
  // A whole second arrives at once (a bot sending at "infinite" speed).
  playout.enqueue(ramp(0, 8000));
  const out: number[] = [];
  for (let i = 0; i < 50; i++) {
    const { frame } = playout.pullFrame();
    assert.equal(frame.length, 160);
    out.push(...frame);
  }
  // The first 2 ms fade in from silence; everything after is exactly the input.
  assert.deepEqual(out.slice(16), [...ramp(16, 8000 - 16)]);
  assert.equal(playout.queuedMs, 0);
  assert.equal(playout.stats.underrunFrames, 0);
});

test('a mark is released only with the frame that hands out the last sample queued before it', () => {
  const playout = new Playout({ sampleRate: 8000 });
  playout.enqueue(ramp(0, 400)); // 50 ms: frames 1-2 full, frame 3 half
  assert.equal(playout.mark('after-50ms'), true);
  playout.enqueue(ramp(400, 160));
  assert.deepEqual(playout.pullFrame().marks, []);
  assert.deepEqual(playout.pullFrame().marks, []);
  assert.deepEqual(playout.pullFrame().marks, ['after-50ms']);
  assert.deepEqual(playout.pullFrame().marks, []);
  assert.equal(playout.stats.marksEchoed, 1);
});

test('a mark with no audio before it comes back on the next pull', () => {
  const playout = new Playout({ sampleRate: 8000 });
  playout.mark('idle');
  assert.deepEqual(playout.pullFrame().marks, ['idle']);
});

test('clear drops queued audio at once and returns every pending mark in order', () => {
  const playout = new Playout({ sampleRate: 8000 });
  playout.enqueue(ramp(0, 8000));
  playout.mark('a');
  playout.enqueue(ramp(0, 800));
  playout.mark('b');
  playout.pullFrame();
  assert.deepEqual(playout.clear(), ['a', 'b']);
  const { frame, marks } = playout.pullFrame();
  assert.deepEqual(marks, []);
  // The frame after clear fades out within 2 ms (16 samples) and is silent after that.
  assert.ok(frame.subarray(16).every((s) => s === 0));
  assert.equal(playout.queuedMs, 0);
});

test('underrun fades out without a click and is counted; idle silence is not an underrun', () => {
  const playout = new Playout({ sampleRate: 8000 });
  playout.pullFrame();
  assert.equal(playout.stats.underrunFrames, 0);
  playout.enqueue(new Int16Array(240).fill(12000)); // 1.5 frames of loud DC
  playout.pullFrame();
  const { frame } = playout.pullFrame();
  assert.equal(playout.stats.underrunFrames, 1);
  for (let i = 1; i < frame.length; i++) {
    assert.ok(Math.abs((frame[i] ?? 0) - (frame[i - 1] ?? 0)) <= 12000 / 16 + 1, `step at ${i}`);
  }
});

test('the queue is bounded: audio beyond maxQueueMs is refused and counted, queued audio kept', () => {
  const playout = new Playout({ sampleRate: 8000, maxQueueMs: 100 });
  assert.equal(playout.enqueue(ramp(0, 600)), 0);
  assert.equal(playout.enqueue(ramp(600, 600)), 400);
  assert.equal(playout.stats.overflowSamples, 400);
  assert.equal(playout.queuedMs, 100);
});

test('pending marks are bounded: beyond the limit a mark is refused, never echoed early or out of order', () => {
  const playout = new Playout({ sampleRate: 8000, maxPendingMarks: 2 });
  playout.enqueue(ramp(0, 160));
  assert.equal(playout.mark('1'), true);
  playout.enqueue(ramp(160, 160));
  assert.equal(playout.mark('2'), true);
  assert.equal(playout.mark('3'), false);
  assert.equal(playout.stats.marksRefused, 1);
  assert.deepEqual(playout.pullFrame().marks, ['1']);
  // One mark has been echoed, so there is room again, behind '2'.
  assert.equal(playout.mark('4'), true);
  assert.deepEqual(playout.pullFrame().marks, ['2', '4']);
  assert.equal(playout.stats.marksEchoed, 3);
});

test('marks due together are handed out at most maxMarksPerFrame per frame, in order, and stay pending until then', () => {
  const playout = new Playout({ sampleRate: 8000, maxPendingMarks: 30, maxMarksPerFrame: 10 });
  playout.enqueue(ramp(0, 160));
  for (let i = 0; i < 25; i++) playout.mark(`m${i}`);
  const names = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `m${from + i}`);
  assert.deepEqual(playout.pullFrame().marks, names(0, 10));
  // 15 are still due: with 30 allowed, 15 more fit and the 16th is refused.
  for (let i = 25; i < 40; i++) assert.equal(playout.mark(`m${i}`), true);
  assert.equal(playout.mark('m40'), false);
  assert.deepEqual(playout.pullFrame().marks, names(10, 20));
  assert.deepEqual(playout.pullFrame().marks, names(20, 30));
  assert.deepEqual(playout.pullFrame().marks, names(30, 40));
  assert.deepEqual(playout.pullFrame().marks, []);
  assert.equal(playout.stats.marksEchoed, 40);
});

test('clear makes every pending mark due: the first maxMarksPerFrame at once, the rest with the next frames', () => {
  const playout = new Playout({ sampleRate: 8000, maxMarksPerFrame: 2 });
  for (let i = 0; i < 5; i++) {
    playout.enqueue(ramp(0, 800));
    playout.mark(`m${i}`);
  }
  assert.deepEqual(playout.clear(), ['m0', 'm1']);
  playout.mark('after');
  assert.deepEqual(playout.pullFrame().marks, ['m2', 'm3']);
  assert.deepEqual(playout.pullFrame().marks, ['m4', 'after']);
});

test('a refused mark is logged at most every 5 s, with the count suppressed in between', () => {
  const clock = new FakeClock();
  const lines: Array<Record<string, unknown>> = [];
  const logger = { ...silentLogger, warn: (fields: object) => lines.push(fields as Record<string, unknown>) };
  const playout = new Playout({ sampleRate: 8000, maxPendingMarks: 1, log: { logger, clock } });
  playout.mark('kept');
  for (let i = 0; i < 1000; i++) playout.mark(`refused-${i}`);
  clock.advance(5000);
  playout.mark('refused-late');
  assert.equal(playout.stats.marksRefused, 1001);
  assert.deepEqual(
    lines.map((line) => line['suppressed']),
    [0, 999],
  );
  assert.deepEqual(playout.pullFrame().marks, ['kept']);
});

test('a real-time bot after a 1 s stall is trimmed back to nothing standing in its silences, speech intact', () => {
  const playout = new Playout({ sampleRate: 8000 });
  const { depthMs, played, sent } = realTimeBotWithStall(playout, 20, 50);
  assert.equal(depthMs[249], 0);
  assert.equal(depthMs[250], 1000, 'the stall leaves a second standing');
  const back = depthMs.findIndex((ms, tick) => tick > 250 && ms === 0);
  assert.ok(back > 250, 'nothing standing again');
  // A 2.4 s window to see the delay stand, then 50 silent frames to drop, two per played
  // frame while 200 ms or more stand (4 of each of the bot's 7-frame pauses, one every 500 ms)
  // and one after: back within 6.5 s, where one per played frame took 7.5 s.
  assert.ok((back - 250) * 20 <= 6500, `back after ${(back - 250) * 20} ms`);
  assert.ok(
    depthMs.slice(back).every((ms) => ms === 0),
    'and stays so',
  );
  assert.equal(playout.stats.trimmedFrames, 50);
  assert.equal(playout.stats.compressedMs, 0, 'whole frames of silence were enough');
  // Every speech frame sent came out, in order.
  assert.deepEqual(played, sent);
});

test('a bot that streams a voice without pauses is never trimmed: it plays faster, seamlessly', () => {
  const playout = new Playout({ sampleRate: 8000 });
  // A 200 Hz voice with a harmonic (a 40-sample period), one frame per pull, after a 1 s stall.
  const voice = (n: number) =>
    Math.round(6000 * Math.sin((2 * Math.PI * n) / 40) + 1500 * Math.sin((4 * Math.PI * n) / 40));
  let sentSamples = 0;
  const send = () => {
    playout.enqueue(Int16Array.from({ length: 160 }, (_, k) => voice(sentSamples + k)));
    sentSamples += 160;
  };
  let previous: number | undefined;
  let largestStep = 0;
  let backAt = -1;
  for (let tick = 0; tick < 20 * 50; tick++) {
    if (tick === 250) for (let i = 0; i < 50; i++) send();
    send();
    for (const sample of playout.pullFrame().frame) {
      if (previous !== undefined) largestStep = Math.max(largestStep, Math.abs(sample - previous));
      previous = sample;
    }
    if (tick === 250 + 118) assert.equal(playout.queuedMs, 1000, 'untouched until a window judged it');
    if (backAt < 0 && tick > 250 && playout.queuedMs <= 40) backAt = tick;
  }
  // A 2.4 s window, a second with no pause, then 15 ms of every 40 (three of the voice's 5 ms
  // periods): back within 6 s.
  assert.ok(backAt > 0 && (backAt - 250) * 20 <= 6000, `back after ${(backAt - 250) * 20} ms`);
  assert.equal(playout.stats.trimmedFrames, 0);
  assert.ok(playout.stats.compressedMs >= 900, `${playout.stats.compressedMs} ms compressed`);
  assert.ok(playout.queuedMs <= 40, `${playout.queuedMs} ms still standing`);
  // Whole periods went, cross-faded: no step larger than the voice's own between two samples.
  let voiceStep = 0;
  for (let n = 1; n < 40; n++) voiceStep = Math.max(voiceStep, Math.abs(voice(n) - voice(n - 1)));
  assert.ok(
    largestStep <= voiceStep + 2,
    `a step of ${largestStep} where the voice moves ${voiceStep} at most`,
  );
});

test('a second or more standing behind a talking voice: its words go faster too, until less than a second stands', () => {
  const playout = new Playout({ sampleRate: 8000 });
  // A 200 Hz voice in spurts of 1.5 s with pauses of 0.3 s, after a 2 s stall.
  const voice = (n: number) =>
    Math.round(6000 * Math.sin((2 * Math.PI * n) / 40) + 1500 * Math.sin((4 * Math.PI * n) / 40));
  const frameAt = (i: number) =>
    Int16Array.from({ length: 160 }, (_, k) => (i % 90 < 75 ? voice(i * 160 + k) : k % 2 === 0 ? 20 : -20));
  const { depthMs } = realTimeBotWithStall(playout, 30, 100, { frameAt });
  const underSecond = depthMs.findIndex((ms, tick) => tick > 250 && ms <= 1000);
  const back = depthMs.findIndex((ms, tick) => tick > 250 && ms <= 40);
  // Pauses alone (and speech only after a second without one) took 7.6 s to the first second
  // and 10.9 s to all of it.
  assert.ok((underSecond - 250) * 20 <= 5000, `under a second after ${(underSecond - 250) * 20} ms`);
  assert.ok(back > 0 && (back - 250) * 20 <= 9500, `back after ${(back - 250) * 20} ms`);
  assert.ok(playout.stats.trimmedFrames > 0 && playout.stats.compressedMs > 0);
});

test('audio that does not repeat is searched for a period once per 6 pulls, not on every one', (t) => {
  const findPeriod = t.mock.method(TimeCompressor.prototype, 'findPeriod');
  const playout = new Playout({ sampleRate: 8000 });
  // Loud noise from a fixed generator (never silent, never periodic), after a 1 s stall.
  let seed = 1;
  const noise = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed % 16001) - 8000;
  };
  const send = () => playout.enqueue(Int16Array.from({ length: 160 }, noise));
  for (let tick = 0; tick < 20 * 50; tick++) {
    if (tick === 250) for (let i = 0; i < 50; i++) send();
    send();
    playout.pullFrame();
  }
  const searches = findPeriod.mock.calls.length;
  // A 2.4 s window to see the delay stand, then a search as soon as it may (200 ms or more stand).
  const eligiblePulls = 20 * 50 - 250 - 120;
  assert.ok(searches > 0, 'the standing delay was searched');
  assert.ok(searches <= Math.ceil(eligiblePulls / 6), `${searches} searches in ${eligiblePulls} pulls`);
  assert.equal(playout.stats.compressedMs, 0, 'noise is never compressed');
  assert.equal(playout.queuedMs, 1000, 'so its standing delay stays');
});

test('audio sent ahead of real time is never trimmed: a 10 s burst in 200 ms, or a bot at 2x', () => {
  // 500 frames in 10 pulls, then silence from the bot while they play.
  const burst = new Playout({ sampleRate: 8000 });
  const out: number[] = [];
  let next = 0;
  for (let tick = 0; tick < 700; tick++) {
    if (tick < 10) for (let i = 0; i < 50; i++) burst.enqueue(talkingFrame(next++));
    const id = speechId(burst.pullFrame().frame);
    if (id !== undefined) out.push(id);
  }
  assert.equal(burst.stats.trimmedFrames, 0);
  assert.equal(burst.stats.framesPlayed - burst.stats.underrunFrames, 700 - 1);
  const sent = Array.from({ length: 500 }, (_, i) => speechId(talkingFrame(i))).filter(
    (id) => id !== undefined,
  );
  assert.deepEqual(out, sent);

  // Pipecat's pace: each 4 s utterance at 2x real time, the next one once the queue drained.
  const fast = new Playout({ sampleRate: 8000 });
  next = 0;
  for (let utterance = 0; utterance < 5; utterance++) {
    for (let tick = 0; tick < 100 || fast.queuedMs > 0; tick++) {
      if (tick < 100) for (let i = 0; i < 2; i++) fast.enqueue(talkingFrame(next++));
      fast.pullFrame();
    }
  }
  assert.equal(fast.stats.trimmedFrames, 0);
  assert.equal(fast.stats.framesPlayed - fast.stats.underrunFrames, 1000);
});

test('marks inside trimmed audio are echoed in order once their audio is passed, never early', () => {
  const playout = new Playout({ sampleRate: 8000, maxPendingMarks: 1000 });
  let enqueued = 0;
  let next = 0;
  const echoed: number[] = [];
  const check = (marks: readonly string[]) => {
    const consumed = enqueued - playout.stats.queuedSamples;
    for (const name of marks) {
      const mark = Number(name);
      // Mark `i` follows frame i: due exactly when the queue has moved past that frame.
      assert.ok((mark + 1) * 160 <= consumed, `mark ${mark} early`);
      echoed.push(mark);
    }
    assert.equal(echoed.length, Math.floor(consumed / 160), 'every passed mark echoed at once');
  };
  const send = () => {
    enqueued += playout.enqueue(talkingFrame(next)) === 0 ? 160 : 0;
    playout.mark(String(next++));
  };
  for (let tick = 0; tick < 1000; tick++) {
    if (tick === 250) for (let i = 0; i < 50; i++) send();
    send();
    check(playout.pullFrame().marks);
  }
  assert.equal(playout.stats.trimmedFrames, 50);
  assert.deepEqual(
    echoed,
    Array.from({ length: echoed.length }, (_, i) => i),
  );
});

test('clear takes the standing delay with the audio: what the bot sends next is judged afresh', () => {
  const playout = new Playout({ sampleRate: 8000 });
  realTimeBotWithStall(playout, 10, 50);
  const trimmed = playout.stats.trimmedFrames;
  assert.ok(trimmed > 0 && trimmed < 50, `clear halfway through trimming (${trimmed} frames)`);
  playout.clear();
  // The bot goes on in real time with a 40 ms cushion, starting with a pause: nothing of it
  // may go until it has stood for a window.
  for (let i = 0; i < 2; i++) playout.enqueue(talkingFrame(18 + i));
  for (let tick = 0; tick < 500; tick++) {
    playout.enqueue(talkingFrame(20 + tick));
    playout.pullFrame();
    if (tick < 120)
      assert.equal(playout.stats.trimmedFrames, trimmed, 'nothing left of the old standing delay');
  }
  assert.equal(playout.stats.trimmedFrames, trimmed + 2);
  assert.equal(playout.queuedMs, 0);
});

test("a frame that stands between ticks (each of a real-time bot's frames arriving just after one) is skipped at a silence, and the slot held", () => {
  const playout = new Playout({ sampleRate: 8000 });
  const speech = () => ramp(0, 160);
  const silence = () => new Int16Array(160);
  playout.enqueue(speech());
  let skippedAt = -1;
  for (let tick = 0; tick < 300 && skippedAt < 0; tick++) {
    if (playout.holdsSlot()) skippedAt = tick;
    else playout.pullFrame();
    // The bot's next frame, just after the tick: a pause every tenth frame.
    playout.enqueue(tick % 10 === 9 ? silence() : speech());
  }
  assert.ok(skippedAt >= 120, `skipped at tick ${skippedAt}: after a whole 2.4 s window`);
  assert.equal(playout.stats.trimmedFrames, 1);
  assert.equal(playout.holdsSlot(), false, 'the next frame is there: it goes in the held slot now');
  assert.equal(playout.pullFrame().frame[80], ramp(0, 160)[80]);
});

test('a bot whose queue a tick finds dry now and then has no frame standing: nothing is skipped', () => {
  const playout = new Playout({ sampleRate: 8000 });
  for (let tick = 0; tick < 300; tick++) {
    // Every seventh frame comes after its tick's slot was held for it.
    if (tick % 7 === 0) {
      assert.equal(playout.holdsSlot(), tick > 0);
      playout.enqueue(new Int16Array(160));
      playout.pullFrame();
    } else {
      playout.enqueue(new Int16Array(160));
      assert.equal(playout.holdsSlot(), false);
      playout.pullFrame();
    }
  }
  assert.equal(playout.stats.trimmedFrames, 0);
});

test('an utterance whose first chunk is under a frame is not padded with silence: the slot waits for the rest', () => {
  const playout = new Playout({ sampleRate: 8000 });
  // A real-time bot sending 10 ms chunks, each arriving 5 ms before a tick or 5 ms after one,
  // behind a leg that holds a tick's slot while holdsSlot() says so (src/media/held-slots.ts).
  const played: number[] = [];
  let held = false;
  const play = () => played.push(...playout.pullFrame().frame);
  const utterance = ramp(0, 1600);
  for (let ms = 0; ms <= 260; ms += 5) {
    if (ms % 20 === 0) {
      if (held) play(); // a slot still waiting at the next tick goes as what is queued
      held = playout.holdsSlot();
      if (!held) play();
    }
    if (ms % 10 === 5 && ms >= 15 && (ms - 15) / 10 < 20) {
      const at = ((ms - 15) / 10) * 80;
      playout.enqueue(utterance.subarray(at, at + 80));
      if (held && !playout.holdsSlot()) {
        held = false;
        play();
      }
    }
  }
  const start = played.findIndex((sample) => sample !== 0);
  // The first 2 ms fade in from silence; from there on every sample is the bot's, in order.
  assert.deepEqual(played.slice(start + 16, start + 1600), [...utterance.subarray(16)]);
});
