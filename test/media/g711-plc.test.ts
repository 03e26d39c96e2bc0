import assert from 'node:assert/strict';
import { test } from 'node:test';
import { G711Decoder, G711Encoder } from '../../src/media/g711-codec.js';
import { G711Concealer } from '../../src/media/g711-plc.js';
import { sine } from '../helpers/audio.js';

const DELAY = G711Concealer.delaySamples;

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

function rms(samples: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  return Math.sqrt(sum / samples.length);
}

function maxStep(samples: ArrayLike<number>): number {
  let step = 0;
  for (let i = 1; i < samples.length; i++) step = Math.max(step, Math.abs(samples[i]! - samples[i - 1]!));
  return step;
}

/** 200 Hz (period 40 samples, inside the 66-200 Hz pitch range); 30 frames of 20 ms. */
const TONE = sine(200, 8000, 160 * 30, 8000);
const frame = (n: number) => TONE.subarray(n * 160, (n + 1) * 160);

test('good audio passes through delayed by 3.75 ms', () => {
  const plc = new G711Concealer();
  const out = new Int16Array(TONE.length);
  for (let n = 0; n < 30; n++) out.set(plc.process(frame(n)), n * 160);
  assert.equal(DELAY, 30);
  assert.deepEqual(out.subarray(DELAY), TONE.subarray(0, TONE.length - DELAY));
});

test('output does not depend on how good audio is handed in, across losses', () => {
  // 20 ms frames, 10 ms pieces, and output buffers longer than the input (processed 10 ms at a
  // time) must all give the same samples, lost frames and joins included. (Pieces under 10 ms
  // do not: the join after a loss is at most one piece long.)
  const lostFrames = new Set([4, 5, 11, 19, 20, 21, 22]);
  const run = (piece: number, spare: number): Int16Array => {
    const plc = new G711Concealer();
    const out = new Int16Array(TONE.length);
    for (let n = 0; n < 30; n++) {
      if (lostFrames.has(n)) {
        out.set(plc.conceal(160), n * 160);
        continue;
      }
      for (let at = 0; at < 160; at += piece) {
        const samples = frame(n).slice(at, at + piece);
        out.set(plc.process(samples, new Int16Array(piece + spare)).subarray(0, piece), n * 160 + at);
      }
    }
    return out;
  };
  const reference = run(160, 0);
  for (const [piece, spare] of [
    [80, 0],
    [160, 1],
    [80, 3],
  ] as const)
    assert.deepEqual(run(piece, spare), reference, `pieces of ${piece}, ${spare} spare`);
});

test('concealment of a sine continues its pitch, then fades and mutes after 60 ms', () => {
  const plc = new G711Concealer();
  for (let n = 0; n < 10; n++) plc.process(frame(n));
  const concealed = plc.conceal(640); // 80 ms lost
  // Output lags by DELAY: the concealed stream stands for TONE[1600 - DELAY ...].
  const expected = TONE.subarray(1600 - DELAY, 1600 - DELAY + 640);
  const first10ms = concealed.subarray(DELAY, 80);
  assert.ok(correlation(first10ms, expected.subarray(DELAY, 80)) > 0.99, 'first 10 ms continues the sine');
  // Later frames keep the phase; only the (fading) level changes, so compare period by period.
  for (let start = 80; start < 440; start += 40) {
    const kept = correlation(concealed.subarray(start, start + 40), expected.subarray(start, start + 40));
    assert.ok(kept > 0.99, `pitch kept at ${start / 8} ms: ${kept}`);
  }
  // Level: full for 10 ms, then falls 20% per 10 ms, silent from 60 ms on.
  const level = (ms: number) => rms(concealed.subarray(ms * 8, ms * 8 + 80));
  const full = rms(TONE);
  assert.ok(Math.abs(level(0) / full - 1) < 0.1, `first frame level ${level(0)}`);
  assert.ok(level(20) < level(10) && level(30) < level(20) && level(40) < level(30) && level(50) < level(40));
  assert.ok(level(30) / full < 0.75 && level(30) / full > 0.35, `30 ms level ${level(30) / full}`);
  // The history delay carries 3.75 ms of the fading 50-60 ms frame past 60 ms; after that, silence.
  assert.equal(rms(concealed.subarray(480 + DELAY)), 0);
});

test('no click where good audio resumes, nor where concealment starts', () => {
  const tonesMaxStep = maxStep(TONE);
  for (const lostFrames of [1, 2, 3, 4]) {
    const plc = new G711Concealer();
    const out: Int16Array[] = [];
    for (let n = 0; n < 10; n++) out.push(plc.process(frame(n)));
    for (let n = 10; n < 10 + lostFrames; n++) out.push(plc.conceal(160));
    for (let n = 10 + lostFrames; n < 30; n++) out.push(plc.process(frame(n)));
    const joined = new Int16Array(out.reduce((sum, f) => sum + f.length, 0));
    out.reduce((offset, f) => {
      joined.set(f, offset);
      return offset + f.length;
    }, 0);
    // A click is a sample-to-sample jump well beyond what the signal itself does.
    assert.ok(maxStep(joined) <= tonesMaxStep * 1.5, `${lostFrames} lost: step ${maxStep(joined)}`);
    // Long after the loss, the output is the delayed input again.
    assert.deepEqual(joined.subarray(4000), TONE.subarray(4000 - DELAY, TONE.length - DELAY));
  }
});

test('conceal takes whole 10 ms frames; silence history conceals silence', () => {
  const plc = new G711Concealer();
  assert.throws(() => plc.conceal(100), RangeError);
  assert.equal(rms(plc.conceal(160)), 0);
});

test('PCMU and PCMA codecs: round trip within G.711 error, conceal uses the PLC', () => {
  for (const law of ['PCMU', 'PCMA'] as const) {
    const encoder = new G711Encoder(law);
    const decoder = new G711Decoder(law);
    assert.equal(decoder.rtpClockRate, 8000);
    let decoded: Int16Array = new Int16Array(0);
    for (let n = 0; n < 10; n++) {
      const payload = encoder.encode(frame(n));
      assert.equal(payload.length, 160);
      decoded = decoder.decode(payload);
    }
    assert.ok(correlation(decoded, TONE.subarray(1440 - DELAY, 1600 - DELAY)) > 0.999);
    const concealed = decoder.conceal(160);
    assert.ok(correlation(concealed.subarray(DELAY, 80), TONE.subarray(1600, 1680 - DELAY)) > 0.99);
    decoder.close();
    encoder.close();
    assert.throws(() => decoder.decode(new Uint8Array(160)));
    assert.throws(() => encoder.encode(new Int16Array(160)));
  }
});

test('the decoder conceals a 5 ms merge continuation (shorter than a PLC frame)', () => {
  const decoder = new G711Decoder('PCMU');
  decoder.decode(new Uint8Array(160).fill(0x20));
  const out = decoder.conceal(40);
  assert.equal(out.length, 40);
  assert.equal(decoder.decode(new Uint8Array(160).fill(0x20)).length, 160);
});
