import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeldSlots, HOLD_MS } from '../../src/media/held-slots.js';

/** A bot source: queued frames (their first sample names them); without leave to hold, silence (0). */
function harness(capacity = 8) {
  const queue: number[] = [];
  const sent: Array<[frame: number, timestamp: number]> = [];
  const slots = new HeldSlots(
    capacity,
    (mayHold) => {
      const next = queue.shift();
      if (next !== undefined) return new Int16Array(1).fill(next);
      return mayHold ? undefined : new Int16Array(1);
    },
    (frame, timestamp) => sent.push([frame[0] ?? -1, timestamp]),
  );
  return { queue, sent, slots };
}

test('a slot whose frame is there goes at once; one whose frame is late waits for it', () => {
  const { queue, sent, slots } = harness();
  queue.push(1);
  slots.offer(0, 0);
  slots.offer(160, 20);
  assert.deepEqual(sent, [[1, 0]]);
  queue.push(2);
  slots.fill();
  assert.deepEqual(sent, [
    [1, 0],
    [2, 160],
  ]);
  assert.deepEqual([slots.held, slots.arrived], [1, 1]);
});

test('ticks caught up back to back hold their slots, and the late frames fill them in order as they come', () => {
  const { queue, sent, slots } = harness();
  for (let tick = 0; tick < 4; tick++) {
    slots.releaseExpired(100 + tick);
    slots.offer(tick * 160, 100 + tick);
  }
  assert.deepEqual(sent, [], 'nothing sent: no silence in the slots the answers are coming for');
  queue.push(10, 11, 12);
  slots.fill();
  queue.push(13);
  slots.fill();
  assert.deepEqual(sent, [
    [10, 0],
    [11, 160],
    [12, 320],
    [13, 480],
  ]);
  assert.deepEqual([slots.held, slots.arrived], [4, 4]);
});

test(`a slot that waited ${HOLD_MS} ms goes out as what the source has, before the next tick's slot`, () => {
  const { queue, sent, slots } = harness();
  slots.offer(0, 0);
  slots.releaseExpired(HOLD_MS - 1);
  assert.deepEqual(sent, []);
  slots.releaseExpired(HOLD_MS);
  queue.push(5);
  slots.offer(160, HOLD_MS);
  assert.deepEqual(sent, [
    [0, 0],
    [5, 160],
  ]);
  assert.deepEqual([slots.held, slots.arrived], [1, 0]);
});

test('past its capacity the oldest slot goes out as what the source has; releaseAll empties it', () => {
  const { sent, slots } = harness(2);
  slots.offer(0, 0);
  slots.offer(160, 0);
  slots.offer(320, 0);
  assert.deepEqual(sent, [[0, 0]]);
  slots.releaseAll();
  assert.deepEqual(
    sent.map(([, timestamp]) => timestamp),
    [0, 160, 320],
  );
});

test('slots still waiting when a release leaves the bot idle go out with the next offer, not counted as filled', () => {
  // As the bridge answers: mid-utterance nothing until the bot's frame comes; once a slot has
  // gone out as silence the bot is idle, and every pull gets silence.
  let idle = false;
  const sent: number[] = [];
  const slots = new HeldSlots(
    8,
    (mayHold) => {
      if (!mayHold) idle = true;
      return idle ? new Int16Array(1) : undefined;
    },
    (_frame, timestamp) => sent.push(timestamp),
  );
  slots.offer(0, 0);
  slots.offer(160, 5); // a catch-up slice later: two slots wait, and the utterance has ended
  slots.releaseExpired(HOLD_MS); // the first goes out as silence: the bot is idle from here
  assert.deepEqual(sent, [0]);
  slots.offer(320, HOLD_MS);
  assert.deepEqual(sent, [0, 160, 320]);
  assert.deepEqual([slots.held, slots.arrived], [3, 0]);
});
