import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LateFrameWait } from '../../src/media/jitter/late-frame-wait.js';

test('a late frame is taken when its packet comes, or at the next tick ahead of that tick’s own; never twice', () => {
  let late = false;
  let taken = 0;
  const wait = new LateFrameWait(
    () => late,
    () => taken++,
  );
  wait.onTick();
  assert.equal(taken, 1, 'on time: taken at the tick');
  late = true;
  wait.onTick();
  assert.equal(taken, 1, 'late: it waits');
  wait.onPacket();
  assert.equal(taken, 1, 'a packet that leaves the stream late (another one) changes nothing');
  late = false;
  wait.onPacket();
  assert.equal(taken, 2, 'its packet came: taken then');
  wait.onPacket();
  assert.equal(taken, 2, 'and only once');
  late = true;
  wait.onTick();
  wait.onTick();
  assert.equal(taken, 3, 'still late at the next tick: taken (concealed) then, and that tick waits');
  wait.cancel();
  late = false;
  wait.onPacket();
  assert.equal(taken, 3, 'cancelled: nothing waits any more');
});
