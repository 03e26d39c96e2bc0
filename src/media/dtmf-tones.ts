/**
 * DTMF in the audio, for a call whose carrier negotiated no telephone-event (RFC 4733): each
 * digit is its pair of ITU-T Q.23 tones for the digit's duration, then a pause of silence,
 * frame by frame in place of the bot's audio. ITU-T Q.24 receivers want a tone and a pause of
 * at least 40 ms each; the defaults are those of our RFC 4733 sender (100 ms tone, 60 ms
 * pause). Pure: frames are pulled once per tick.
 */
import { DigitQueue } from './dtmf.js';

/** ITU-T Q.23: the keypad's rows and columns, and the frequency (Hz) of each. */
const KEYPAD = ['123A', '456B', '789C', '*0#D'];
const ROW_HZ = [697, 770, 852, 941];
const COLUMN_HZ = [1209, 1336, 1477, 1633];

/**
 * Each tone's peak in 16-bit PCM: -10 dBm0 (G.711's 0 dBm0 sine peaks near 22,700), well
 * inside what Q.24 receivers accept (down to about -25 dBm0), and the pair never clips.
 */
const TONE_PEAK = 7200;
const DEFAULT_DURATION_MS = 100;
const DEFAULT_PAUSE_MS = 60;

/** The low (row) and high (column) frequencies of a digit, any case. */
export function dtmfTonePair(digit: string): [number, number] {
  const key = digit.toUpperCase();
  const row = KEYPAD.findIndex((keys) => keys.includes(key));
  if (row < 0 || key.length !== 1) throw new RangeError(`not a DTMF digit: ${JSON.stringify(digit)}`);
  return [ROW_HZ[row] as number, COLUMN_HZ[(KEYPAD[row] as string).indexOf(key)] as number];
}

export class DtmfTones {
  readonly #sampleRate: number;
  readonly #frameMs: number;
  readonly #pauseFrames: number;
  /** One frame, reused: the caller sends it before asking for the next. */
  readonly #frame: Int16Array;
  readonly #queue: DigitQueue;
  #toneFramesLeft = 0;
  #pauseFramesLeft = 0;
  /** Phase steps (radians per sample) and phases of the digit's two tones. */
  #lowStep = 0;
  #highStep = 0;
  #lowPhase = 0;
  #highPhase = 0;

  constructor(
    sampleRate: number,
    options: { frameMs?: number; pauseMs?: number; maxQueuedDigits?: number } = {},
  ) {
    this.#sampleRate = sampleRate;
    this.#frameMs = options.frameMs ?? 20;
    this.#pauseFrames = Math.ceil((options.pauseMs ?? DEFAULT_PAUSE_MS) / this.#frameMs);
    this.#queue = new DigitQueue(sampleRate, options.maxQueuedDigits);
    this.#frame = new Int16Array(Math.round((sampleRate * this.#frameMs) / 1000));
  }

  /** A digit's tone or pause is under way, or digits wait. */
  get active(): boolean {
    return this.#toneFramesLeft > 0 || this.#pauseFramesLeft > 0 || this.#queue.length > 0;
  }

  get pendingDigits(): number {
    return this.#queue.length;
  }

  /**
   * Queues digits, each lasting `durationMs` (default 100); throws RangeError on a non-digit, a
   * duration out of range or when the bounded queue would overflow.
   */
  enqueue(digits: string, durationMs?: number): void {
    this.#queue.enqueue(digits, durationMs);
  }

  /** The next frame: tone, then pause, digit after digit; undefined once none is under way or queued. */
  nextFrame(): Int16Array | undefined {
    if (this.#toneFramesLeft === 0 && this.#pauseFramesLeft === 0 && !this.#start()) return undefined;
    const frame = this.#frame;
    if (this.#toneFramesLeft === 0) {
      this.#pauseFramesLeft--;
      frame.fill(0);
      return frame;
    }
    this.#toneFramesLeft--;
    let low = this.#lowPhase;
    let high = this.#highPhase;
    for (let i = 0; i < frame.length; i++) {
      frame[i] = Math.round(TONE_PEAK * (Math.sin(low) + Math.sin(high)));
      low += this.#lowStep;
      high += this.#highStep;
    }
    // Kept within one turn, so the phase stays exact however long the tone.
    this.#lowPhase = low % (2 * Math.PI);
    this.#highPhase = high % (2 * Math.PI);
    return frame;
  }

  /** Starts the next queued digit; false when none waits. */
  #start(): boolean {
    const next = this.#queue.shift();
    if (!next) return false;
    const [lowHz, highHz] = dtmfTonePair(next.digit);
    this.#lowStep = (2 * Math.PI * lowHz) / this.#sampleRate;
    this.#highStep = (2 * Math.PI * highHz) / this.#sampleRate;
    this.#lowPhase = 0;
    this.#highPhase = 0;
    this.#toneFramesLeft = Math.ceil((next.durationMs ?? DEFAULT_DURATION_MS) / this.#frameMs);
    this.#pauseFramesLeft = this.#pauseFrames;
    return true;
  }
}
