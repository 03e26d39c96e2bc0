import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BotFramePairing } from '../../src/gateway/bot-frame-pairing.js';

const frame = (level: number) => new Int16Array(4).fill(level);

test('caller frame n goes with bot frame n - 1, whether the caller frame or the bot frame came first', () => {
  const pairing = new BotFramePairing(4);
  const got: number[] = [];
  got.push(pairing.nextCallerFrame()[0] ?? -1); // tick 0, before any bot frame: silence
  pairing.botFrame(frame(10));
  pairing.botFrame(frame(11)); // tick 1's bot frame before its late caller frame
  got.push(pairing.nextCallerFrame()[0] ?? -1);
  got.push(pairing.nextCallerFrame()[0] ?? -1); // tick 2's, on time
  pairing.botFrame(frame(12));
  assert.deepEqual(got, [0, 10, 11]);
});

test('a bot frame is copied: the playout may reuse its buffer', () => {
  const pairing = new BotFramePairing(4);
  const reused = frame(7);
  pairing.nextCallerFrame();
  pairing.botFrame(reused);
  reused.fill(8);
  assert.equal(pairing.nextCallerFrame()[0], 7);
});

test('out of step (bot frames with no caller frames between them), it goes on from the bot frame played last', () => {
  const pairing = new BotFramePairing(4);
  for (const level of [1, 2, 3, 4]) pairing.botFrame(frame(level));
  assert.equal(pairing.nextCallerFrame()[0], 4);
  pairing.botFrame(frame(5));
  assert.equal(pairing.nextCallerFrame()[0], 5);
});

test('caller frames of ticks caught up before their slots were filled go with silence, and the counts meet again', () => {
  const pairing = new BotFramePairing(4);
  pairing.nextCallerFrame();
  pairing.botFrame(frame(1));
  // Three ticks caught up back to back: their caller frames go, their bot slots wait.
  const during = [pairing.nextCallerFrame()[0], pairing.nextCallerFrame()[0], pairing.nextCallerFrame()[0]];
  assert.deepEqual(during, [1, 0, 0]);
  for (const level of [2, 3, 4]) pairing.botFrame(frame(level));
  assert.equal(pairing.nextCallerFrame()[0], 4, 'in step again: the frame played before this tick');
});
