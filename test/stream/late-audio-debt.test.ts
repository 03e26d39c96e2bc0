import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simulateStall } from '../../bench/lib/stalled-playout.js';
import { Playout } from '../../src/stream/index.js';
import { realTimeBotWithStall, talkingFrame } from './talking-bot.js';

/** 2 s of a bot talking in real time, then `pauseTicks` pulls with nothing from it; returns the next frame's id. */
function sentenceThenPause(playout: Playout, pauseTicks: number): number {
  let next = 0;
  for (let tick = 0; tick < 100; tick++) {
    playout.enqueue(talkingFrame(next++));
    playout.pullFrame();
  }
  for (let tick = 0; tick < pauseTicks; tick++) playout.pullFrame();
  return next;
}

test('what a caught-up stall leaves behind a real-time bot goes in its next pauses, not after a 2.4 s window', () => {
  const playout = new Playout({ sampleRate: 8000 });
  const { depthMs, played, sent } = realTimeBotWithStall(playout, 10, 25, { caughtUp: true });
  const afterStall = 250 + 25;
  assert.equal(depthMs[afterStall], 500, 'the answers to the 25 caught-up ticks stand');
  // A block of pulls to see the bot keep pace, and the first pause after it: within a second,
  // where StandingDelay's window alone waits 2.4 s before its first drop.
  const firstDrop = depthMs.findIndex((ms, pull) => pull > afterStall && ms < 500);
  assert.ok((firstDrop - afterStall) * 20 <= 1000, `first drop after ${(firstDrop - afterStall) * 20} ms`);
  // Then two or three frames of each of the bot's 7-frame pauses, one every 500 ms.
  const back = depthMs.findIndex((ms, pull) => pull > afterStall && ms === 0);
  assert.ok(
    back > afterStall && (back - afterStall) * 20 <= 3000,
    `back after ${(back - afterStall) * 20} ms`,
  );
  assert.ok(
    depthMs.slice(back).every((ms) => ms === 0),
    'and stays so',
  );
  assert.equal(playout.stats.trimmedFrames, 25, 'no more than the ticks that went dry');
  assert.deepEqual(played, sent, 'every speech frame played, in order');
});

test('a bot that paused and then sends its next words ahead keeps its lead: a burst, or a bot at 2x', () => {
  for (const framesPerPull of [500, 2]) {
    const playout = new Playout({ sampleRate: 8000 });
    // A sentence and a pause of 0.6 s, then 10 s of audio: all at once, or at twice real time.
    let next = sentenceThenPause(playout, 30);
    const lead = next + 500;
    for (let tick = 0; tick < 1000; tick++) {
      for (let i = 0; i < framesPerPull && next < lead; i++) playout.enqueue(talkingFrame(next++));
      playout.pullFrame();
    }
    assert.equal(playout.stats.trimmedFrames, 0, `${framesPerPull} frames per pull: nothing trimmed`);
    assert.equal(playout.stats.compressedMs, 0);
  }
});

test('a real-time bot back after a pause with no lead of its own has nothing taken', () => {
  const playout = new Playout({ sampleRate: 8000 });
  let next = 0;
  for (let tick = 0; tick < 1000; tick++) {
    // Silent from the bot for 0.4 s of every 2 s: nothing stands, whatever the pauses owed.
    if (tick % 100 >= 20) playout.enqueue(talkingFrame(next++));
    playout.pullFrame();
  }
  assert.equal(playout.stats.trimmedFrames, 0);
  assert.equal(playout.queuedMs, 0);
});

test('a lead a bot sends after a pause loses at most the pause, in its silent frames', () => {
  const playout = new Playout({ sampleRate: 8000 });
  let next = sentenceThenPause(playout, 10);
  // A 1 s lead at once, then real-time pace: looks like our stall's answers, but only the
  // 10 frames of the pause were owed. (After a whole window of that pace, StandingDelay
  // takes the lead for standing delay too.)
  for (let i = 0; i < 50; i++) playout.enqueue(talkingFrame(next++));
  for (let tick = 0; tick < 100; tick++) {
    playout.enqueue(talkingFrame(next++));
    playout.pullFrame();
  }
  assert.equal(playout.stats.trimmedFrames, 10);
  assert.equal(playout.queuedMs, 800);
});

test('a stall caught up in slices, the answers read between them: the frames it left go within a second or two', () => {
  // Some blocks of the catch-up leave nothing queued after a pull while the answers still come
  // in; the debt waits for the block in which they stand, and is given back as they do.
  for (const answerMs of [7, 12]) {
    for (const stallMs of [200, 400]) {
      const { seconds, givenBack } = simulateStall(answerMs, stallMs, 7);
      const [, secondSecondP99] = seconds[1] ?? [0, 0];
      const [, thirdSecondP99] = seconds[2] ?? [0, 0];
      const between = 20 - answerMs; // the frame between ticks: StandingDelay's window, on purpose
      assert.ok(
        thirdSecondP99 <= between,
        `${answerMs} ms bot, ${stallMs} ms stall: p99 ${thirdSecondP99} ms in the third second`,
      );
      assert.ok(secondSecondP99 <= between + 20, `and ${secondSecondP99} ms in the second`);
      assert.ok(givenBack <= 5, `${givenBack} frames given back, no more than the silent slots`);
    }
  }
  const baseline = simulateStall(7, 0, 7);
  assert.ok(
    baseline.seconds.every(([, p99]) => p99 === 0),
    'no stall: every frame goes as it arrives',
  );
});
