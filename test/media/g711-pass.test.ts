import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMulaw, encodeAlaw, encodeMulaw } from '../../src/media/g711.js';
import { G711Decoder } from '../../src/media/g711-codec.js';
import { AudioReceiver } from '../../src/media/jitter/index.js';
import type { ReceivedRtp } from '../../src/media/rtp/index.js';
import { FakeClock } from '../../src/util/index.js';
import { sine } from '../helpers/audio.js';

const FRAME = 160;

/** A voiced 180 Hz tone under seeded noise: a pitch for the PLC to find, and every byte value in use. */
function speechLike(frames: number, seed = 7): Int16Array {
  const tone = sine(180, 8000, frames * FRAME, 6000);
  let state = seed;
  return tone.map((sample) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return sample + ((state % 2001) - 1000);
  });
}

/** µ-law's negative zero (0x7F) is the same sample as positive zero (0xFF), which encode gives. */
function positiveZero(bytes: Uint8Array): Uint8Array {
  return bytes.map((byte) => (byte === 0x7f ? 0xff : byte));
}

for (const law of ['PCMU', 'PCMA'] as const) {
  test(`${law}: frames passed as bytes are decode()'s frames encoded, and leave the same concealment`, () => {
    const encode = law === 'PCMU' ? encodeMulaw : encodeAlaw;
    const signal = speechLike(80);
    const payloads = Array.from({ length: 80 }, (_, n) =>
      encode(signal.subarray(n * FRAME, (n + 1) * FRAME)),
    );
    // Losses of one to four frames, and decoded frames between passed ones.
    const lost = new Set([9, 20, 21, 35, 36, 37, 38, 50, 61, 62]);
    const decodedAnyway = new Set([5, 6, 44, 70]);
    const reference = new G711Decoder(law);
    const passing = new G711Decoder(law);
    let passed = 0;
    for (let n = 0; n < payloads.length; n++) {
      const payload = payloads[n] as Uint8Array;
      if (lost.has(n)) {
        assert.deepEqual(passing.conceal(FRAME), reference.conceal(FRAME), `concealed frame ${n}`);
        continue;
      }
      const expected = reference.decode(payload);
      const bytes = decodedAnyway.has(n) ? undefined : passing.bytes.pass(payload);
      if (bytes) {
        passed++;
        const same = law === 'PCMU' ? positiveZero(bytes) : bytes;
        assert.deepEqual(same, encode(expected), `passed frame ${n}`);
      } else assert.deepEqual(passing.decode(payload), expected, `decoded frame ${n}`);
    }
    // The first good frame after each of the five losses joins it in samples, so does not pass.
    assert.equal(passed, payloads.length - lost.size - decodedAnyway.size - 5);
  });
}

test('a long run of passed frames of mixed lengths keeps the delay line and the concealment exact', () => {
  const signal = speechLike(300);
  const lengths = [160, 80, 240, 360, 160, 40];
  const reference = new G711Decoder('PCMU');
  const passing = new G711Decoder('PCMU');
  let at = 0;
  for (let n = 0; at + 360 <= signal.length; n++) {
    const length = lengths[n % lengths.length] as number;
    const payload = encodeMulaw(signal.subarray(at, at + length));
    at += length;
    if (n % 97 === 96) {
      // A loss after a long run: the concealer searches the history the bytes left.
      assert.deepEqual(passing.conceal(FRAME), reference.conceal(FRAME), `concealed frame ${n}`);
      continue;
    }
    const expected = reference.decode(payload);
    const bytes = passing.bytes.pass(payload);
    if (!bytes) {
      assert.equal(n % 97, 0, `only the frame after a loss joins it in samples (frame ${n})`);
      assert.deepEqual(passing.decode(payload), expected, `joined frame ${n}`);
      continue;
    }
    assert.deepEqual(positiveZero(bytes), encodeMulaw(expected), `passed frame ${n}`);
  }
});

function rtp(index: number, payload: Uint8Array, arrivalMs: number): ReceivedRtp {
  return {
    sequenceNumber: index & 0xffff,
    timestamp: index * FRAME,
    ssrc: 5,
    marker: index === 0,
    payloadType: 0,
    payload,
    arrivalMs,
  };
}

test('pullPassing plays the frames pull plays, as the bytes where a packet plays as it came', () => {
  // Jitter, losses, a reordered pair and a 400 ms stall: every decision the buffer makes.
  const frames = 1500;
  const signal = speechLike(frames, 3);
  const lost = new Set([100, 101, 400, 700, 701, 702]);
  let state = 11;
  const arrivals = Array.from({ length: frames }, (_, i) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    const stall = i >= 900 && i < 920 ? (920 - i) * 20 : 0;
    return i * 20 + 2 + (state % 25) + stall;
  });
  [arrivals[300], arrivals[301]] = [(arrivals[301] as number) + 1, arrivals[300] as number];
  const clock = new FakeClock(0);
  const reference = new AudioReceiver(new G711Decoder('PCMU'), clock);
  const passing = new AudioReceiver(new G711Decoder('PCMU'), clock);
  const out = new Int16Array(FRAME);
  const sent = [...arrivals.keys()].filter((i) => !lost.has(i)).sort((a, b) => arrivals[a]! - arrivals[b]!);
  let next = 0;
  const decisions = new Map<string, number>();
  let passedFrames = 0;
  let passedAfterStretch = 0;
  for (let tick = 1; tick <= frames + 30; tick++) {
    clock.advanceTo(tick * 20);
    while (next < sent.length && (arrivals[sent[next]!] as number) <= tick * 20) {
      const i = sent[next++] as number;
      const payload = encodeMulaw(signal.subarray(i * FRAME, (i + 1) * FRAME));
      reference.insert(rtp(i, payload, arrivals[i] as number));
      passing.insert(rtp(i, payload, arrivals[i] as number));
    }
    const expected = reference.pull();
    const bytes = passing.pullPassing(out);
    assert.equal(passing.lastDecision, reference.lastDecision, `decision at tick ${tick}`);
    assert.equal(passing.lastFrameArrivalMs, reference.lastFrameArrivalMs);
    decisions.set(reference.lastDecision, (decisions.get(reference.lastDecision) ?? 0) + 1);
    if (bytes) {
      passedFrames++;
      // After an accelerate the frames are out of step with the packets: samples lead each one.
      if (decisions.has('accelerate')) passedAfterStretch++;
      assert.deepEqual(positiveZero(bytes), encodeMulaw(expected), `passed frame at tick ${tick}`);
      assert.deepEqual(decodeMulaw(bytes), decodeMulaw(encodeMulaw(expected)));
    } else assert.deepEqual(out, expected, `frame at tick ${tick}`);
  }
  assert.deepEqual(passing.stats(), reference.stats());
  for (const decision of ['normal', 'expand', 'merge', 'accelerate'])
    assert.ok((decisions.get(decision) ?? 0) > 0, `no ${decision} in ${[...decisions]}`);
  assert.ok(passedAfterStretch > 100, `passed ${passedAfterStretch} after the first accelerate`);
  assert.ok(passedFrames > frames * 0.8, `passed ${passedFrames} of ${frames}: ${[...decisions]}`);
});

test('pull never passes, and a decoder without SampleBytes never does either', () => {
  const clock = new FakeClock(0);
  const receiver = new AudioReceiver(new G711Decoder('PCMU'), clock);
  const plain = new AudioReceiver(
    {
      name: 'x',
      sampleRate: 8000,
      rtpClockRate: 8000,
      decode: decodeMulaw,
      conceal: (n) => new Int16Array(n),
      close: () => {},
    },
    clock,
  );
  const out = new Int16Array(FRAME);
  for (let i = 0; i < 50; i++) {
    clock.advanceTo(i * 20 + 5);
    const payload = new Uint8Array(FRAME).fill(0x80 + (i % 50));
    receiver.insert(rtp(i, payload, i * 20 + 5));
    plain.insert(rtp(i, payload, i * 20 + 5));
    assert.ok(receiver.pull() instanceof Int16Array);
    assert.equal(plain.pullPassing(out), undefined);
  }
});
