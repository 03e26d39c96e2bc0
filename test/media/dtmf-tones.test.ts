/** DTMF in the audio (ITU-T Q.23 tone pairs), for carriers without telephone-event. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DtmfTones, dtmfTonePair } from '../../src/media/dtmf-tones.js';
import { concatPcm, toneShare } from '../helpers/audio.js';

const ROWS = [697, 770, 852, 941];
const COLUMNS = [1209, 1336, 1477, 1633];

/** The strongest row and column frequencies of `pcm`, as a Q.24 receiver would pick them. */
function detected(pcm: Int16Array, sampleRate: number): [number, number] {
  const strongest = (candidates: number[]) =>
    candidates.reduce((best, hz) =>
      toneShare(pcm, hz, sampleRate) > toneShare(pcm, best, sampleRate) ? hz : best,
    );
  return [strongest(ROWS), strongest(COLUMNS)];
}

/** Every frame `tones` gives until it has none, copied. */
function drain(tones: DtmfTones): Int16Array[] {
  const frames: Int16Array[] = [];
  for (let frame = tones.nextFrame(); frame; frame = tones.nextFrame()) frames.push(frame.slice());
  return frames;
}

describe('DtmfTones', () => {
  it('maps each of the 16 digits to its Q.23 row and column, any case', () => {
    assert.deepEqual(dtmfTonePair('1'), [697, 1209]);
    assert.deepEqual(dtmfTonePair('0'), [941, 1336]);
    assert.deepEqual(dtmfTonePair('#'), [941, 1477]);
    assert.deepEqual(dtmfTonePair('d'), [941, 1633]);
    assert.throws(() => dtmfTonePair('x'), RangeError);
    assert.throws(() => dtmfTonePair('12'), RangeError);
  });

  for (const sampleRate of [8000, 16000]) {
    it(`at ${sampleRate} Hz each digit's frames carry its two tones, then a pause of silence`, () => {
      const tones = new DtmfTones(sampleRate);
      tones.enqueue('0123456789*#ABCD');
      const frames = drain(tones);
      // 100 ms of tone and 60 ms of pause per digit, in 20 ms frames.
      assert.equal(frames.length, 16 * 8);
      assert.equal(frames[0]?.length, (sampleRate * 20) / 1000);
      for (const [index, digit] of [...'0123456789*#ABCD'].entries()) {
        const digitFrames = frames.slice(index * 8, index * 8 + 8);
        const tone = concatPcm(digitFrames.slice(0, 5));
        assert.deepEqual(detected(tone, sampleRate), dtmfTonePair(digit), digit);
        const [low, high] = dtmfTonePair(digit);
        // toneShare reads about 0.5 for a pure tone: each of two equal tones has half of that.
        assert.ok(toneShare(tone, low, sampleRate) > 0.2 && toneShare(tone, high, sampleRate) > 0.2, digit);
        assert.ok(Math.max(...tone.map(Math.abs)) < 32767, 'the pair never clips');
        for (const pause of digitFrames.slice(5)) assert.ok(pause.every((sample) => sample === 0));
      }
      assert.equal(tones.active, false);
      assert.equal(tones.nextFrame(), undefined);
    });
  }

  it('the tone runs on across frames without a break in its phase', () => {
    const tones = new DtmfTones(8000);
    tones.enqueue('5', 200);
    const tone = concatPcm(drain(tones).slice(0, 10));
    // A clean two-tone signal: nearly all its power in its two frequencies (a pure tone reads
    // 0.5), none in between, as a phase jump at each frame's edge would spread it.
    const shares = [toneShare(tone, 770), toneShare(tone, 1336), toneShare(tone, 1000)];
    assert.ok(shares[0]! + shares[1]! > 0.49, String(shares));
    assert.ok(shares[2]! < 0.001, String(shares));
  });

  it('a duration is rounded up to whole frames; bad digits, durations and a full queue are refused', () => {
    const tones = new DtmfTones(8000, { pauseMs: 40, maxQueuedDigits: 3 });
    tones.enqueue('1', 50);
    assert.equal(drain(tones).length, 3 + 2);
    assert.throws(() => tones.enqueue('1x'), RangeError);
    assert.throws(() => tones.enqueue('1', 0), RangeError);
    assert.throws(() => tones.enqueue('1234'), RangeError);
    tones.enqueue('123');
    assert.equal(tones.pendingDigits, 3);
    assert.equal(tones.active, true);
  });
});
