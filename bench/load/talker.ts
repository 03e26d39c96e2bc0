/**
 * What a load-bench caller says: talk, not a test tone. Real callers speak in spurts of voiced
 * sound (periodic at their pitch) separated by pauses, and the gateway's playout gives standing
 * delay back exactly there (it drops silent frames in pauses and removes pitch periods where the
 * audio repeats, src/stream/playout.ts). A steady level with a tag in every frame had no pause,
 * and no period but its two tag copies' spacing, at which the playout compressed it and cut the
 * tags: the bench measured its test signal rather than what a caller speaking gets.
 *
 * Each call has its own seeded voice: a fundamental of 100-222 Hz (a whole number of samples
 * per period, so one period is encoded once and replayed phase-continuously with no work per
 * frame but a copy) with two harmonics, at most -12 dBFS at its peak: far above the playout's
 * silence threshold (at most SILENCE_CEILING, -30 dBFS). Spurts of 0.8-2 s alternate with
 * pauses of 0.2-0.6 s of digital silence (µ-law 0xFF), lengths drawn per spurt: the phrases of
 * one speaker holding the floor (ITU-T P.59's talkspurts average about 1 s; the pauses within a
 * turn are shorter than its 1.6 s between turns, which would mostly measure silence). A pause
 * holds 10 frames or more, each whole silent frame one the playout may drop.
 *
 * Every TAG_EVERY-th frame of a spurt is a tagged frame: loud noise, an unvoiced sound such as
 * a consonant, from the last 10 ms of the frame before it to its end, under the tag copies (the
 * caller writes them, see frame-tag.ts). Pause frames never carry a tag. A tagged frame is never
 * trimmed: every tag copy opens with the sync code 0xA5, which decodes to 6,652, above
 * SILENCE_CEILING (1,000). It is never compressed either: its noise is unrelated at every lag,
 * so neither the playout's compressor (Pearson correlation >= 0.9 between successive periods)
 * nor the jitter buffer's stretcher (normalised correlation >= 0.6, or RMS under 300) finds it
 * periodic or quiet. The voice around it may be shortened, which moves the tags but leaves them
 * whole as long as the period removed and the cross-fade stay in the voice. The compressor
 * joins where the audio and the audio a period later differ least, and a tag's digit codes lie
 * at one level the voice passes through: with the voice running straight into the tag, a join
 * just before it cut 9 of 40,045 tagged frames in test/bench/load/talker.test.ts's replay run
 * over 40 voices and 5 alignments. With noise on both sides of every copy it cut none of
 * 220,815 over 220 voices: noise a lag away from anything is never the least different.
 */
import { encodeMulaw, MULAW_SILENCE } from '../../src/media/index.js';
import { SeededRandom } from '../../src/util/index.js';

export const FRAME_SAMPLES = 160;
/** Pitch periods in samples: 222 Hz down to 100 Hz, male to female voices. */
const MIN_PERIOD = 36;
const MAX_PERIOD = 80;
/** Spurt and pause lengths in 20 ms frames: 0.8-2 s and 0.2-0.6 s. */
const SPURT_FRAMES = [40, 100] as const;
const PAUSE_FRAMES = [10, 30] as const;
/**
 * One frame in four of a spurt is tagged: 9-10 tagged frames per call-second, enough for
 * percentiles, while most of a spurt is voice the playout may shorten.
 */
export const TAG_EVERY = 4;
/**
 * The noise of a tagged frame starts this much earlier, in the frame before: the tag that opens
 * the frame then has noise on both sides, like the one in its middle (see the header).
 */
const ONSET_SAMPLES = FRAME_SAMPLES / 2;
/** Peak of the voice (-12 dBFS) and of the noise under the tags. */
const VOICE_PEAK = 8000;

export class Talker {
  readonly #random: SeededRandom;
  /** One pitch period of this caller's voice, µ-law. */
  readonly #voice: Uint8Array;
  /** The noise under a tagged frame's tags, µ-law. */
  readonly #noise: Uint8Array;
  /** Other noise, ending the frame before a tagged one. */
  readonly #onsetNoise: Uint8Array;
  /** Where in its period the voice goes on. */
  #phase = 0;
  #talking = true;
  /** Frames left in the current spurt or pause. */
  #framesLeft: number;
  /** Frames spoken so far in the current spurt. */
  #spurtFrame = 0;

  constructor(seed: number) {
    this.#random = new SeededRandom(seed);
    const random = this.#random;
    const period = random.int(MIN_PERIOD, MAX_PERIOD);
    // A falling spectrum as voiced speech has: the fundamental, then -6 and -12 dB harmonics.
    const harmonics = [1, 0.5, 0.25].map((gain) => ({ gain, phase: 2 * Math.PI * random.next() }));
    const scale = VOICE_PEAK / harmonics.reduce((sum, harmonic) => sum + harmonic.gain, 0);
    const pcm = Int16Array.from({ length: period }, (_, n) =>
      Math.round(
        scale *
          harmonics.reduce(
            (sum, { gain, phase }, k) => sum + gain * Math.sin((2 * Math.PI * (k + 1) * n) / period + phase),
            0,
          ),
      ),
    );
    this.#voice = encodeMulaw(pcm);
    const noise = encodeMulaw(
      Int16Array.from({ length: FRAME_SAMPLES + ONSET_SAMPLES }, () =>
        Math.round(VOICE_PEAK * (2 * random.next() - 1)),
      ),
    );
    this.#noise = noise.subarray(0, FRAME_SAMPLES);
    this.#onsetNoise = noise.subarray(FRAME_SAMPLES);
    // Calls start at different points of a spurt, as callers who are already talking.
    this.#framesLeft = random.int(1, SPURT_FRAMES[1]);
  }

  /**
   * Writes the next 20 ms into `payload` (FRAME_SAMPLES bytes); true when the frame is one to
   * tag (its noise is there, the caller writes the tag copies over it).
   */
  next(payload: Buffer): boolean {
    if (this.#framesLeft === 0) this.#turn();
    this.#framesLeft--;
    if (!this.#talking) {
      payload.fill(MULAW_SILENCE, 0, FRAME_SAMPLES);
      return false;
    }
    const tagged = this.#spurtFrame++ % TAG_EVERY === TAG_EVERY - 1;
    const voice = this.#voice;
    if (tagged) payload.set(this.#noise);
    else {
      let phase = this.#phase;
      for (let i = 0; i < FRAME_SAMPLES; i++) {
        payload[i] = voice[phase] as number;
        if (++phase === voice.length) phase = 0;
      }
      const taggedNext = this.#spurtFrame % TAG_EVERY === TAG_EVERY - 1 && this.#framesLeft > 0;
      if (taggedNext) payload.set(this.#onsetNoise, FRAME_SAMPLES - ONSET_SAMPLES);
    }
    // The voice goes on under the noise, as a voice does under a consonant: no jump in phase.
    this.#phase = (this.#phase + FRAME_SAMPLES) % voice.length;
    return tagged;
  }

  /** From a spurt to a pause or back, with a fresh length. */
  #turn(): void {
    this.#talking = !this.#talking;
    const [min, max] = this.#talking ? SPURT_FRAMES : PAUSE_FRAMES;
    this.#framesLeft = this.#random.int(min, max);
    this.#spurtFrame = 0;
  }
}
