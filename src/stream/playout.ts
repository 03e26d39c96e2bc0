/**
 * Paced playout of bot audio: the bot may produce audio at any speed (Pipecat sends at 2x
 * real time, others send whole utterances at once); the caller leg pulls exactly one frame
 * per media-clock tick. Pure: no timers, no I/O; time advances only through `pullFrame()`.
 *
 * Marks (Twilio Media Streams `mark`) sit in the queue between audio chunks and are
 * released only once every sample queued before them has been handed to the caller leg.
 *
 * Overflow policy: the queue holds at most `maxQueueMs` of audio. Audio arriving while the
 * queue is full is truncated (the newest samples are refused) and counted in
 * `overflowSamples`; already queued audio, whose marks the bot is waiting for, is never cut.
 * At most `maxPendingMarks` marks wait at once; a mark beyond that is refused (counted in
 * `marksRefused`, never echoed), because a Twilio bot takes each echo to mean its audio has
 * been heard, so an echo may neither come early nor overtake an earlier mark.
 *
 * Marks whose audio is done (or that a `clear` released) are echoed at most
 * `maxMarksPerFrame` per frame, the rest in the next frames, in order: each echo is a socket
 * write, and a thousand of them in one tick held every call's media for tens of milliseconds.
 * They still count as pending until handed out, so `clear` cannot grow the backlog.
 *
 * Standing delay: when the bot streams in real time and the queue nevertheless never ran dry
 * for a whole window (see StandingDelay: after a stall of our loop), what stood is dropped;
 * so is what our own lateness left, once it has stood a block of pulls (LateAudioDebt: no
 * more than the frames played as silence while the bot's answers were late). It goes one
 * whole silent frame after each played one at most (silence plays at up to twice its
 * speed; three times while 200 ms or more stand), so the caller hears the bot's next words on
 * time again. Only frames whose every sample is within the silence threshold go (set from the
 * bot's own level), so speech is never cut; marks inside dropped audio are due when it is
 * passed, in order, as if it had played. Audio with no pause to trim (continuous speech,
 * music, an echo) goes faster instead once the delay has stood FRAMES_BEFORE_COMPRESSING
 * frames more (at once, beside the pauses, while COMPRESS_AT_ONCE_FRAMES or more stand): every
 * other frame one or a few pitch periods shorter (TimeCompressor, NetEQ's
 * "accelerate"), only where the audio repeats closely, so what is played keeps its pitch and
 * has no seam. Audio a bot sends ahead of real time (a burst, a faster pace) is neither
 * trimmed nor compressed, while it piles up or while it drains: only a depth that stood
 * through a whole window of real-time pace is, or through a block within what we owe.
 *
 * No frame of margin is kept against the bot's jitter: when its next frame is late
 * (`holdsSlot`), the caller leg holds the tick's slot and sends the frame as it arrives.
 */
import type { Clock, Logger } from '../util/index.js';
import { MulawPlayoutAudio, PcmPlayoutAudio, type PlayoutAudio, type PlayoutFrame } from './playout-audio.js';
import { RateLimitedWarning } from './rate-limited-warning.js';
import { StandingDelay } from './standing-delay.js';
import { TimeCompressor } from './time-compression.js';

/** Peak below which a frame is silence whatever the bot's level (-50 dBFS): TTS noise floors. */
const SILENCE_FLOOR = 100;
/** Peak at or above which a frame is never silence (-30 dBFS), however loud the bot is. */
const SILENCE_CEILING = 1000;
/** Silence relative to the bot's recent peak level: 40 dB below it. */
const SILENCE_BELOW_LEVEL = 100;
/** Per played frame, the bot's level falls by this factor (halves in ~2.8 s) unless renewed. */
const LEVEL_DECAY = 0.995;
/**
 * Standing delay (in frames, 200 ms) from which pauses play at up to three times their speed
 * (two silent frames dropped per played one) rather than twice: a second left standing after a
 * set-up stall then goes in half the pauses, and what is left under it at the gentler pace.
 */
const LONG_STANDING_FRAMES = 10;
/**
 * Frames of standing delay with no silent frame to trim before periodic audio is played
 * faster instead (1 s): pauses are where standing delay goes first, unchanged audio, and a
 * talking bot pauses between its phrases; an echo or music never does.
 */
const FRAMES_BEFORE_COMPRESSING = 50;
/**
 * Standing delay (in frames, 1 s) from which periodic audio is played faster at once, beside
 * the pauses: a delay that long breaks the turn-taking of a conversation, and a talking bot's
 * pauses alone gave back the one or two seconds a stall of the whole box left at about 0.15 s
 * per second. Below it, words stay as the bot sent them while pauses can take the delay.
 */
const COMPRESS_AT_ONCE_FRAMES = 50;
/**
 * Pulls without a period search after one found none (100 ms): a search costs as much when it
 * fails as when it succeeds, and on audio that does not repeat (noise, unvoiced sounds) it
 * would otherwise run on every pull of every call with delay standing. A voice's next vowel is
 * still found at most 100 ms late.
 */
const PULLS_AFTER_FAILED_SEARCH = 5;

export interface PlayoutOptions {
  sampleRate: number;
  frameMs?: number;
  /** Maximum queued audio; default 60 s. */
  maxQueueMs?: number;
  /** Maximum pending marks (default 1000); a mark beyond this is refused and never echoed. */
  maxPendingMarks?: number;
  /** Marks handed out per frame at most (default 10); the rest follow in the next frames. */
  maxMarksPerFrame?: number;
  /** Length of the fade applied at underrun edges so silence starts and ends without a click. */
  fadeMs?: number;
  /** Where refused marks are reported, at most every 5 s. */
  log?: { logger: Logger; clock: Clock };
}

export interface PlayoutStats {
  framesPlayed: number;
  underrunFrames: number;
  overflowSamples: number;
  marksEchoed: number;
  marksRefused: number;
  clears: number;
  /** Silent frames dropped to remove standing delay behind a real-time bot. */
  trimmedFrames: number;
  /** Milliseconds of audio with no pause removed as pitch periods to remove standing delay. */
  compressedMs: number;
  queuedSamples: number;
}

/** A playout's counts before it played anything (its stats but the queue depth). */
export const NO_PLAYOUT_COUNTS: Readonly<Omit<PlayoutStats, 'queuedSamples'>> = {
  framesPlayed: 0,
  underrunFrames: 0,
  overflowSamples: 0,
  marksEchoed: 0,
  marksRefused: 0,
  clears: 0,
  trimmedFrames: 0,
  compressedMs: 0,
};

/** What pullFrame hands out: the object and its frame are reused by the next pullFrame. */
export interface PulledFrame<F extends PlayoutFrame = Int16Array> {
  /** Exactly one frame, valid until the next pullFrame (copy it to keep it). */
  frame: F;
  /**
   * Marks whose preceding audio has been fully handed out, in queue order: at most
   * `maxMarksPerFrame`, the oldest first; later ones come with the next frames.
   */
  marks: readonly string[];
}

const NO_MARKS: readonly string[] = Object.freeze([]);

/** Builds the queue for a playout's frame and longest peek, in samples. */
type PlayoutAudioOf<F extends PlayoutFrame> = (frameSamples: number, peekSamples: number) => PlayoutAudio<F>;

const pcmAudio: PlayoutAudioOf<Int16Array> = (frameSamples, peekSamples) =>
  new PcmPlayoutAudio(frameSamples, peekSamples);

/** A mark in the queue: due once every sample accepted before it has been passed. */
interface QueuedMark {
  name: string;
  after: number;
}

/**
 * `new Playout(options)` queues and hands out PCM; `Playout.mulaw(options)` the bytes of an
 * 8 kHz µ-law bot, for a carrier leg that sends them as they are.
 */
export class Playout<F extends PlayoutFrame = Int16Array> {
  readonly sampleRate: number;
  readonly frameSamples: number;
  readonly #maxQueueSamples: number;
  readonly #maxPendingMarks: number;
  readonly #maxMarksPerFrame: number;
  readonly #fadeSamples: number;
  /** The bot's audio not yet played, in one reused buffer (no copy kept per message). */
  readonly #audio: PlayoutAudio<F>;
  /** Marks in the queue, oldest first, each placed by the samples accepted before it. */
  readonly #queuedMarks: QueuedMark[] = [];
  /** Samples ever accepted into the queue: less what is still queued, what has been passed. */
  #samplesAccepted = 0;
  /** Marks whose audio is done, waiting for their turn to be echoed (in order). */
  readonly #dueMarks: string[] = [];
  readonly #refusedMarkWarning: RateLimitedWarning<{ pending: number; refused: number }> | undefined;
  /** Marks in the queue plus marks due: what maxPendingMarks bounds. */
  #pendingMarks = 0;
  readonly #pulled: PulledFrame<F>;
  /** Last sample handed out, to fade from on underrun. */
  #lastSample = 0;
  /** True after a frame that ended in (faded) silence: the next audio fades in. */
  #silent = true;
  readonly #standingDelay: StandingDelay;
  /** Decaying peak of the bot's played audio, which sets the silence threshold. */
  #botLevel = 0;
  readonly #compressor: TimeCompressor;
  /** Pulls in a row with standing delay to give back and no silent frame trimmed. */
  #pullsWithoutPause = 0;
  /** Pulls left before the next period search: one after a compressed frame, more after a failed search. */
  #pullsBeforeSearch = 0;
  #compressedSamples = 0;
  readonly #counters = { ...NO_PLAYOUT_COUNTS };

  static mulaw(options: PlayoutOptions): Playout<Uint8Array> {
    return new Playout(
      options,
      (frameSamples, peekSamples) => new MulawPlayoutAudio(frameSamples, peekSamples),
    );
  }

  // F defaults to Int16Array, which the default form hands out; TypeScript cannot tie the two.
  constructor(options: PlayoutOptions, audioOf = pcmAudio as unknown as PlayoutAudioOf<F>) {
    const frameMs = options.frameMs ?? 20;
    this.sampleRate = options.sampleRate;
    this.frameSamples = Math.round((options.sampleRate * frameMs) / 1000);
    this.#maxQueueSamples = Math.round((options.sampleRate * (options.maxQueueMs ?? 60_000)) / 1000);
    this.#maxPendingMarks = options.maxPendingMarks ?? 1000;
    this.#maxMarksPerFrame = options.maxMarksPerFrame ?? 10;
    this.#fadeSamples = Math.max(1, Math.round((options.sampleRate * (options.fadeMs ?? 2)) / 1000));
    this.#refusedMarkWarning =
      options.log && new RateLimitedWarning(options.log.logger, options.log.clock, 'bot mark refused');
    if (!(this.frameSamples > 0)) throw new RangeError('frame must hold at least one sample');
    this.#standingDelay = new StandingDelay(this.frameSamples);
    this.#compressor = new TimeCompressor(options.sampleRate, this.frameSamples);
    this.#audio = audioOf(this.frameSamples, this.#compressor.input.length);
    this.#pulled = { frame: this.#audio.frame, marks: NO_MARKS };
  }

  get stats(): PlayoutStats {
    const compressedMs = Math.round((this.#compressedSamples * 1000) / this.sampleRate);
    return { ...this.#counters, compressedMs, queuedSamples: this.#audio.length };
  }

  /**
   * Less than a frame is queued and the bot is mid-utterance, or has just begun one: the rest of
   * its frame is late, not absent (a real-time bot's reply to the last caller frame can come
   * just after a tick, and a bot sending 10 ms chunks can start one just before a tick). The
   * caller leg may then hold the tick's slot and send the frame as it arrives, rather than
   * play a frame of silence and keep the late frame standing in the queue for the rest of
   * the call, or play the utterance's first chunk with a hole of silence behind it.
   */
  get #awaitingAudio(): boolean {
    const queued = this.#audio.length;
    return queued < this.frameSamples && (queued > 0 || !this.#silent);
  }

  /**
   * At a tick that may hold its slot: when a frame has stood between ticks for a whole window
   * (StandingDelay's `frameStands`) and the one queued now is silent, it is dropped and the
   * tick holds its slot, so the bot's next frame goes out as it arrives, a frame earlier than
   * it would have, and every later one with it. Else notes whether the tick finds the queue
   * dry. True when the caller leg should hold the slot.
   */
  holdsSlot(): boolean {
    const standing = this.#standingDelay;
    if (standing.frameStands && this.#audio.length < 2 * this.frameSamples && this.#nextFrameIsSilent()) {
      this.#take(false, this.frameSamples);
      standing.frameSkipped(this.frameSamples);
      this.#counters.trimmedFrames++;
    }
    const held = this.#awaitingAudio;
    if (held) standing.ranDry();
    return held;
  }

  /** Queued audio in milliseconds. */
  get queuedMs(): number {
    return (this.#audio.length * 1000) / this.sampleRate;
  }

  /** Appends bot audio; returns how many samples were refused by the overflow policy. */
  enqueue(samples: F): number {
    const room = this.#maxQueueSamples - this.#audio.length;
    const accepted = Math.min(room, samples.length);
    const refused = samples.length - accepted;
    this.#counters.overflowSamples += refused;
    if (accepted > 0) {
      // Copied into the queue: the producer may reuse its buffer.
      this.#audio.write(samples, accepted);
      this.#samplesAccepted += accepted;
    }
    return refused;
  }

  /**
   * Queues a mark behind the audio queued so far (released by a later `pullFrame`). Returns
   * false, and the mark is never echoed, when `maxPendingMarks` marks are already waiting.
   */
  mark(name: string): boolean {
    if (this.#pendingMarks >= this.#maxPendingMarks) {
      this.#counters.marksRefused++;
      this.#refusedMarkWarning?.warn({ pending: this.#pendingMarks, refused: this.#counters.marksRefused });
      return false;
    }
    this.#queuedMarks.push({ name, after: this.#samplesAccepted });
    this.#pendingMarks++;
    return true;
  }

  /**
   * Twilio `clear`: drops all queued audio now; every pending mark is due at once and handed
   * out in order, up to `maxMarksPerFrame` now and the rest with the next frames.
   */
  clear(): readonly string[] {
    for (const mark of this.#queuedMarks) this.#dueMarks.push(mark.name);
    this.#queuedMarks.length = 0;
    this.#standingDelay.removed(this.#audio.length, true);
    this.#audio.drop(this.#audio.length);
    this.#counters.clears++;
    return this.#handOutDueMarks();
  }

  /** Hands out exactly one frame (called once per media-clock tick). */
  pullFrame(): PulledFrame<F> {
    const pulled = this.#pulled;
    if (this.#audio.length < this.frameSamples) this.#standingDelay.ranDry();
    // Every take makes due the marks it passed (#take), a mark behind no audio included.
    const filled = this.#compressIntoFrame() ? this.frameSamples : this.#take(true, this.frameSamples);
    const trims = this.#standingDelay.budget >= this.frameSamples * LONG_STANDING_FRAMES ? 2 : 1;
    for (let trim = 0; trim < trims; trim++) {
      if (this.#standingDelay.budget < this.frameSamples || !this.#nextFrameIsSilent()) break;
      this.#take(false, this.frameSamples);
      this.#standingDelay.removed(this.frameSamples, false);
      this.#counters.trimmedFrames++;
      this.#pullsWithoutPause = 0;
    }
    this.#audio.fillSilence(filled); // the reused frame still holds the previous one's samples
    this.#shapeEdges(filled);
    this.#counters.framesPlayed++;
    this.#standingDelay.pulled(this.#audio.length, this.frameSamples - filled);
    pulled.marks = this.#handOutDueMarks();
    return pulled;
  }

  /**
   * Standing delay that no pause has given back for FRAMES_BEFORE_COMPRESSING pulls, or a long
   * one: plays this frame one or a few pitch periods shorter, every other frame at most, when
   * the audio repeats closely enough (TimeCompressor). Returns whether the frame was filled so.
   */
  #compressIntoFrame(): boolean {
    const budget = this.#standingDelay.budget;
    const compressor = this.#compressor;
    // Down to the shortest period: the silence trim gives back whole frames only.
    if (budget < compressor.minLag) {
      this.#pullsWithoutPause = 0;
      return false;
    }
    const waiting = this.#pullsBeforeSearch > 0;
    if (waiting) this.#pullsBeforeSearch--;
    const patience = budget >= this.frameSamples * COMPRESS_AT_ONCE_FRAMES ? 0 : FRAMES_BEFORE_COMPRESSING;
    const ready =
      ++this.#pullsWithoutPause >= patience && !waiting && this.#audio.length >= compressor.input.length;
    if (!ready) return false;
    this.#audio.peekPcm(compressor.input, compressor.input.length);
    const period = compressor.findPeriod(budget);
    if (period === 0) {
      this.#pullsBeforeSearch = PULLS_AFTER_FAILED_SEARCH;
      return false;
    }
    this.#take(true, this.frameSamples); // for the level, and the marks it passes
    this.#take(false, period);
    compressor.compress(period, this.#audio.pcmFrame);
    this.#audio.commitPcm();
    this.#standingDelay.removed(period, false);
    this.#compressedSamples += period;
    this.#pullsBeforeSearch = 1; // every other frame at most
    return true;
  }

  /**
   * Takes up to `count` samples of audio off the queue into the frame (or drops them), making
   * due the marks it passes; returns how many samples it took.
   */
  #take(intoFrame: boolean, count: number): number {
    const taken = Math.min(count, this.#audio.length);
    if (intoFrame) this.#botLevel = Math.max(this.#audio.take(taken), this.#botLevel * LEVEL_DECAY);
    else this.#audio.drop(taken);
    this.#releasePassedMarks();
    return taken;
  }

  /** A whole frame is queued and every sample of it is silence for this bot. */
  #nextFrameIsSilent(): boolean {
    if (this.#audio.length < this.frameSamples) return false;
    const threshold = Math.min(
      SILENCE_CEILING,
      Math.max(SILENCE_FLOOR, this.#botLevel / SILENCE_BELOW_LEVEL),
    );
    return this.#audio.peekPeak(this.frameSamples) <= threshold;
  }

  /** Marks with no audio left before them in the queue: they are due, in order. */
  #releasePassedMarks(): void {
    const marks = this.#queuedMarks;
    const passed = this.#samplesAccepted - this.#audio.length;
    while (marks.length > 0 && (marks[0] as QueuedMark).after <= passed)
      this.#dueMarks.push((marks.shift() as QueuedMark).name);
  }

  /** The oldest due marks, at most maxMarksPerFrame of them; they stop counting as pending. */
  #handOutDueMarks(): readonly string[] {
    if (this.#dueMarks.length === 0) return NO_MARKS;
    const marks = this.#dueMarks.splice(0, this.#maxMarksPerFrame);
    this.#pendingMarks -= marks.length;
    this.#counters.marksEchoed += marks.length;
    return marks;
  }

  /** Fades in after silence and fades out into an underrun, so neither edge clicks. */
  #shapeEdges(filled: number): void {
    const audio = this.#audio;
    const frameSamples = this.frameSamples;
    if (filled > 0 && this.#silent) {
      const n = Math.min(this.#fadeSamples, filled);
      for (let i = 0; i < n; i++) audio.setSample(i, Math.round((audio.sampleAt(i) * (i + 1)) / (n + 1)));
    }
    if (filled < frameSamples) {
      // An underrun is the queue running dry while audio was playing, not idle silence.
      if (!this.#silent) this.#counters.underrunFrames++;
      const from = filled > 0 ? audio.sampleAt(filled - 1) : this.#silent ? 0 : this.#lastSample;
      const n = Math.min(this.#fadeSamples, frameSamples - filled);
      for (let i = 0; i < n; i++) audio.setSample(filled + i, Math.round((from * (n - i - 1)) / n));
      this.#silent = true;
      this.#lastSample = 0;
      return;
    }
    this.#silent = false;
    this.#lastSample = audio.sampleAt(frameSamples - 1);
  }
}
