/**
 * Playout.mulaw against the PCM Playout, fed the same µ-law bot: every decision (slots held,
 * frames trimmed, periods compressed, fades, marks) must be the same, and every frame the PCM
 * frame encoded (µ-law's negative zero, 0x7F, is the same sample as 0xFF). One exception: a
 * fade out starts from the last sample as the µ-law frame holds it, so after a fade in or a
 * compressed frame its few samples may differ by the quantisation of that one sample.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMulaw, encodeMulaw, MULAW_SILENCE, mulawToSample } from '../../src/media/index.js';
import { Playout } from '../../src/stream/index.js';
import { seededRandom } from '../../src/util/index.js';

const FRAME = 160;
const NEGATIVE_ZERO = 0x7f;

function normalized(byte: number): number {
  return byte === NEGATIVE_ZERO ? MULAW_SILENCE : byte;
}

/** Two µ-law frames' samples that differ, failing on any beyond a quantisation step of a fade. */
function differingSamples(actual: Uint8Array, expected: Uint8Array, where: string): number {
  let differing = 0;
  for (let i = 0; i < expected.length; i++) {
    const [a, e] = [actual[i] as number, expected[i] as number];
    if (normalized(a) === normalized(e)) continue;
    const [sampleA, sampleE] = [mulawToSample(a), mulawToSample(e)];
    assert.ok(
      Math.abs(sampleA - sampleE) <= 16 + Math.abs(sampleE) / 8,
      `${where}, sample ${i}: ${sampleA} where the PCM playout gave ${sampleE}`,
    );
    differing++;
  }
  return differing;
}

/** A 200 Hz voice with a harmonic: periodic, so the time compressor finds its period. */
function voice(n: number): number {
  return Math.round(6000 * Math.sin((2 * Math.PI * n) / 40) + 1500 * Math.sin((4 * Math.PI * n) / 40));
}

type Kind = 'voice' | 'pause' | 'noise' | 'quiet';

function frameOf(kind: Kind, index: number, random: () => number): Uint8Array {
  const pcm = Int16Array.from({ length: FRAME }, (_, k) => {
    const n = index * FRAME + k;
    if (kind === 'voice') return voice(n);
    if (kind === 'pause') return k % 2 === 0 ? 30 : -30; // a TTS noise floor
    if (kind === 'quiet') return Math.round((random() - 0.5) * 60);
    return Math.round((random() - 0.5) * 20000);
  });
  return encodeMulaw(pcm);
}

class Pair {
  readonly pcm = new Playout({ sampleRate: 8000 });
  readonly mulaw = Playout.mulaw({ sampleRate: 8000 });
  pulls = 0;
  held = 0;
  differing = 0;

  enqueue(bytes: Uint8Array): void {
    assert.equal(this.mulaw.enqueue(bytes), this.pcm.enqueue(decodeMulaw(bytes)));
  }

  mark(name: string): void {
    assert.equal(this.mulaw.mark(name), this.pcm.mark(name));
  }

  clear(): void {
    assert.deepEqual(this.mulaw.clear(), this.pcm.clear());
  }

  /** A tick: the slot held by both or by neither, else one frame from each, compared. */
  tick(mayHold: boolean): void {
    if (mayHold) {
      const held = this.pcm.holdsSlot();
      assert.equal(this.mulaw.holdsSlot(), held, `pull ${this.pulls}: slot held`);
      if (held) {
        this.held++;
        return;
      }
    }
    const fromPcm = this.pcm.pullFrame();
    const fromMulaw = this.mulaw.pullFrame();
    this.differing += differingSamples(fromMulaw.frame, encodeMulaw(fromPcm.frame), `pull ${this.pulls}`);
    assert.deepEqual(fromMulaw.marks, fromPcm.marks, `pull ${this.pulls}: marks`);
    assert.equal(this.mulaw.queuedMs, this.pcm.queuedMs);
    this.pulls++;
  }

  /** The same counts at the end, and at most `share` of the samples a fade's quantisation apart. */
  sameOutcome(share = 0.002): void {
    assert.deepEqual(this.mulaw.stats, this.pcm.stats);
    assert.ok(this.differing <= share * this.pulls * FRAME, `${this.differing} samples differ`);
  }
}

test('a real-time voice with no pause behind a 1 s stall: compressed alike, frame for frame', () => {
  const pair = new Pair();
  const random = seededRandom(1);
  let sent = 0;
  for (let tick = 0; tick < 1000; tick++) {
    if (tick === 250) for (let i = 0; i < 50; i++) pair.enqueue(frameOf('voice', sent++, random));
    pair.enqueue(frameOf('voice', sent++, random));
    pair.tick(false);
  }
  pair.sameOutcome();
  assert.ok(pair.pcm.stats.compressedMs >= 900, `${pair.pcm.stats.compressedMs} ms compressed`);
});

test('a talking bot with pauses behind stalls, then late frames, with marks: trimmed and held alike', () => {
  const pair = new Pair();
  const random = seededRandom(2);
  let sent = 0;
  const kindAt = (i: number): Kind => (i % 25 < 18 ? 'voice' : 'pause');
  for (let tick = 0; tick < 2000; tick++) {
    if (tick === 250 || tick === 900)
      for (let i = 0; i < 60; i++) pair.enqueue(frameOf(kindAt(sent), sent++, random));
    // Once the stalls are given back, now and then a frame comes just after its tick: the slot
    // is held, then filled.
    const late = tick > 1500 && random() < 0.2;
    if (!late) pair.enqueue(frameOf(kindAt(sent), sent++, random));
    if (random() < 0.05) pair.mark(`m${tick}`);
    pair.tick(true);
    if (late) {
      pair.enqueue(frameOf(kindAt(sent), sent++, random));
      pair.tick(true);
    }
  }
  pair.sameOutcome();
  const stats = pair.pcm.stats;
  assert.ok(stats.trimmedFrames > 50, `${stats.trimmedFrames} frames trimmed`);
  assert.ok(pair.held > 50 && stats.marksEchoed > 0, `${pair.held} slots held`);
});

test('bursts, uneven chunks, underruns, clears, noise and marks at random: the same frames', () => {
  for (const seed of [3, 4, 5]) {
    const pair = new Pair();
    const random = seededRandom(seed);
    const kinds: Kind[] = ['voice', 'pause', 'noise', 'quiet'];
    let sent = 0;
    for (let tick = 0; tick < 2000; tick++) {
      const roll = random();
      const frames = roll < 0.3 ? 0 : roll < 0.9 ? 1 : roll < 0.98 ? 2 : 40;
      for (let i = 0; i < frames; i++) {
        const frame = frameOf(kinds[Math.floor(random() * kinds.length)] as Kind, sent++, random);
        // A chunk not a whole frame long, now and then: frames then straddle messages.
        pair.enqueue(random() < 0.1 ? frame.subarray(0, 1 + Math.floor(random() * (FRAME - 1))) : frame);
      }
      if (random() < 0.03) pair.mark(`m${tick}`);
      if (random() < 0.005) pair.clear();
      pair.tick(random() < 0.5);
    }
    pair.sameOutcome(0.01);
    const stats = pair.pcm.stats;
    assert.ok(stats.underrunFrames > 0 && stats.clears > 0 && stats.marksEchoed > 0, `seed ${seed}`);
  }
});

test('the µ-law playout hands out silence as µ-law silence, and audio as the bytes the bot sent', () => {
  const playout = Playout.mulaw({ sampleRate: 8000 });
  assert.deepEqual(Array.from(playout.pullFrame().frame), new Array(FRAME).fill(MULAW_SILENCE));
  const bytes = frameOf('voice', 0, seededRandom(6));
  playout.enqueue(bytes);
  playout.enqueue(bytes);
  playout.pullFrame(); // the first frame after silence fades in
  assert.deepEqual(playout.pullFrame().frame, bytes, 'untouched audio is the bot bytes, unchanged');
});
