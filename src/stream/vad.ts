/**
 * A small gateway-side voice-activity detector so a bot can barge in before its
 * ASR answers: frame energy against an adaptive noise floor, plus the zero-crossing rate to
 * turn away broadband noise (white noise crosses zero at about half the sample rate, voiced
 * speech well under 1.5 kHz; the classic Rabiner–Sambur pair of features). Pure: feed it
 * 20 ms frames in call order, it returns the events; no timers, no state shared between calls.
 */

export type VadEvent = 'speech_started' | 'speech_stopped';

export interface VadOptions {
  sampleRate: 8000 | 16000;
  /** Speech needed before `speech_started` (hangover in); default 60 ms. */
  startMs?: number;
  /** Non-speech needed before `speech_stopped` (hangover out); default 400 ms. */
  stopMs?: number;
}

/** RMS (after removing DC) below which nothing is speech: -50 dBFS. */
const MIN_SPEECH_RMS = 32768 * 10 ** (-50 / 20);
/** The noise floor never goes below -70 dBFS, so digital silence does not make hiss "speech". */
const MIN_FLOOR_RMS = 32768 * 10 ** (-70 / 20);
/** Speech is at least 12 dB over the floor. */
const SPEECH_OVER_FLOOR = 10 ** (12 / 20);
/** Voiced speech's zero-crossing frequency stays under this; fricatives alone ride the hangover. */
const MAX_SPEECH_CROSSING_HZ = 1500;
/** Non-speech frames pull the floor toward themselves quickly (about 200 ms)... */
const FLOOR_FOLLOW = 0.1;
/**
 * ...speech frames raise it by 3 dB/s only: a steady hum or tone is absorbed within seconds,
 * while real speech dips between syllables and pulls the floor back down at once.
 */
const FLOOR_RISE_DB_PER_SECOND = 3;

export class VoiceActivityDetector {
  readonly #sampleRate: number;
  readonly #startMs: number;
  readonly #stopMs: number;
  #floor = MIN_FLOOR_RMS;
  #speaking = false;
  /** Consecutive speech (while silent) or non-speech (while speaking) time, in ms. */
  #runMs = 0;

  constructor(options: VadOptions) {
    this.#sampleRate = options.sampleRate;
    this.#startMs = options.startMs ?? 60;
    this.#stopMs = options.stopMs ?? 400;
  }

  get speaking(): boolean {
    return this.#speaking;
  }

  /** The adaptive noise floor, for logs. */
  get noiseFloorDbfs(): number {
    return 20 * Math.log10(this.#floor / 32768);
  }

  /** One frame in; an event when speech starts or stops at this frame. */
  process(frame: Int16Array): VadEvent | undefined {
    if (frame.length < 2) return undefined;
    const frameMs = (frame.length * 1000) / this.#sampleRate;
    const { rms, crossingHz } = features(frame, this.#sampleRate);
    const speech =
      rms >= MIN_SPEECH_RMS && rms >= this.#floor * SPEECH_OVER_FLOOR && crossingHz <= MAX_SPEECH_CROSSING_HZ;
    this.#adaptFloor(rms, speech, frameMs);

    if (speech !== this.#speaking) this.#runMs += frameMs;
    else this.#runMs = 0;
    if (!this.#speaking && this.#runMs >= this.#startMs) {
      this.#speaking = true;
      this.#runMs = 0;
      return 'speech_started';
    }
    if (this.#speaking && this.#runMs >= this.#stopMs) {
      this.#speaking = false;
      this.#runMs = 0;
      return 'speech_stopped';
    }
    return undefined;
  }

  #adaptFloor(rms: number, speech: boolean, frameMs: number): void {
    if (rms < this.#floor) this.#floor = rms;
    else if (speech) this.#floor *= 10 ** ((FLOOR_RISE_DB_PER_SECOND * frameMs) / 1000 / 20);
    else this.#floor += (rms - this.#floor) * FLOOR_FOLLOW;
    this.#floor = Math.max(this.#floor, MIN_FLOOR_RMS);
  }
}

/** RMS and zero-crossing frequency of one frame, both after removing its DC offset. */
function features(frame: Int16Array, sampleRate: number): { rms: number; crossingHz: number } {
  let sum = 0;
  for (const sample of frame) sum += sample;
  const mean = sum / frame.length;
  let energy = 0;
  let crossings = 0;
  let previous = (frame[0] as number) - mean;
  for (const sample of frame) {
    const value = sample - mean;
    energy += value * value;
    if (value >= 0 !== previous >= 0) crossings++;
    previous = value;
  }
  // Two crossings per cycle.
  return { rms: Math.sqrt(energy / frame.length), crossingHz: (crossings * sampleRate) / (2 * frame.length) };
}
