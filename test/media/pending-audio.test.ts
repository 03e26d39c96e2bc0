import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMulaw, encodeMulaw } from '../../src/media/g711.js';
import { G711Decoder } from '../../src/media/g711-codec.js';
import { PendingAudio } from '../../src/media/jitter/pending-audio.js';

const FRAME = 8;
const codec = new G711Decoder('PCMU').bytes;
const bytes = (...values: number[]) => Uint8Array.from(values);

test('a passed packet is led by what is held, and its tail is carried as bytes to lead the next', () => {
  const pending = new PendingAudio(FRAME);
  const held = decodeMulaw(bytes(0x10, 0x20, 0x30));
  pending.write(held);
  const first = bytes(1, 2, 3, 4, 5, 6, 7, 8);
  assert.deepEqual(pending.passFrame(first, codec), bytes(0x10, 0x20, 0x30, 1, 2, 3, 4, 5));
  assert.equal(pending.length, 3, 'the packet tail is held');
  assert.deepEqual(
    pending.passFrame(bytes(11, 12, 13, 14, 15, 16, 17, 18), codec),
    bytes(6, 7, 8, 11, 12, 13, 14, 15),
  );
  // Samples asked for or added after it: the carried bytes are decoded first, in order.
  pending.write(decodeMulaw(bytes(21, 22, 23, 24, 25)));
  const out = new Int16Array(FRAME);
  pending.read(out);
  assert.deepEqual(out, decodeMulaw(bytes(16, 17, 18, 21, 22, 23, 24, 25)));
  assert.equal(pending.length, 0);
  assert.equal(pending.passFrame(first, codec), first, 'nothing held: the packet is the frame');
});

test('silence written behind carried bytes comes after them', () => {
  const pending = new PendingAudio(FRAME);
  pending.writeSilence(2);
  pending.passFrame(encodeMulaw(Int16Array.of(100, 200, 300, 400, 500, 600, 700, 800)), codec);
  pending.writeSilence(6);
  const out = new Int16Array(FRAME);
  pending.read(out);
  assert.deepEqual(
    out,
    Int16Array.of(...decodeMulaw(encodeMulaw(Int16Array.of(700, 800))), 0, 0, 0, 0, 0, 0),
  );
});
