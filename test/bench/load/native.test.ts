/**
 * The native instrument (bench/load/native) makes the same talk as talker.ts, so a gateway
 * does the same work under either instrument, and its report replays into the same figures.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LineChild } from '../../../bench/load/child.js';
import { buildNativeInstrument } from '../../../bench/load/native.js';
import { FRAME_SAMPLES, Talker } from '../../../bench/load/talker.js';

const FRAMES = 1000;

let instrument: LineChild;
before(async () => {
  instrument = new LineChild(buildNativeInstrument(), []);
  await instrument.ready<{ url: string }>();
});
after(() => instrument.close());

for (const seed of [1, 2, 77, 200]) {
  test(`talker.c makes talker.ts's frames, byte for byte (seed ${seed}, ${FRAMES} frames)`, async () => {
    instrument.send(`talk ${seed} ${FRAMES}`);
    const native = await instrument.next<{ frames: string; tagged: string }>();
    const talker = new Talker(seed);
    const payload = Buffer.alloc(FRAME_SAMPLES);
    for (let frame = 0; frame < FRAMES; frame++) {
      const tagged = talker.next(payload);
      const at = frame * FRAME_SAMPLES * 2;
      assert.equal(
        native.frames.slice(at, at + FRAME_SAMPLES * 2),
        payload.toString('hex'),
        `frame ${frame}`,
      );
      assert.equal(native.tagged[frame], tagged ? '1' : '0', `frame ${frame} tagged`);
    }
  });
}
