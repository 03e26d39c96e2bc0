/**
 * The audio receive pipeline (NetEQ-style): packets go into a bounded buffer, the delay
 * manager sets a target delay, and each pull() makes one playout decision and returns
 * exactly one frame of PCM (or, from pullPassing(), a packet played as it came in the codec's
 * own bytes).
 */
import type { Clock } from '../../util/index.js';
import type { AudioDecoder, SampleBytes } from '../codec.js';
import type { ReceivedRtp } from '../rtp/types.js';
import { DelayManager } from './delay-manager.js';
import { type BufferedPacket, PacketBuffer } from './packet-buffer.js';
import { PendingAudio } from './pending-audio.js';
import { PlayedTimestamps } from './played-timestamps.js';
import { StreamTimeline } from './stream-timeline.js';
import { accelerate, mergeAfterConcealment, preemptiveExpand } from './time-stretch.js';
import {
  type JitterBufferOptions,
  type JitterStats,
  NO_JITTER_STATS,
  type PlayoutDecision,
} from './types.js';

export type { JitterBufferOptions, JitterStats, PlayoutDecision } from './types.js';

/** After this much back-to-back concealment, play silence instead (NetEQ fades expand out). */
const MAX_EXPAND_MS = 100;
/** Concealment continuation crossfaded into the first decoded frame after an expand. */
const MERGE_MS = 5;
/** Extra frames to wait for a missing packet when the buffer is below target. */
const EXTRA_GAP_WAIT_FRAMES = 1;
/**
 * Once the level fell below the low limit, preemptive expand goes on until it is this far
 * above: one pitch period can land the level just over the limit, where ±1 ms of jitter
 * would trigger it again and again on a clean stream.
 */
const STRETCH_HYSTERESIS_MS = 5;
/**
 * A level this far above the accelerate limit, or above it for STANDING_ABOVE_LIMIT_MS of
 * playout on end, is audio a stall or a burst left behind, not jitter the buffer adapted to:
 * then every packet is shortened as much as one accelerate may, whatever the audio (see
 * accelerate's `anySignal`), until the level is back under the limit. Otherwise only periodic
 * or quiet audio is stretched, and on noise or other loud aperiodic audio the delay would
 * stand to the end of the call. Like NetEQ's fast accelerate, but by the excess rather than a
 * multiple of the target, so a large target does not hide it.
 */
const STANDING_EXCESS_MS = 200;
const STANDING_ABOVE_LIMIT_MS = 1000;
/**
 * A level over FLUSH_MULTIPLIER times the target (and at least that times FLUSH_FLOOR_MS) is
 * flushed at once down to the target (NetEQ's smart flushing, same numbers): seconds a long
 * stall left are audio the far end said that long ago, and shortening them a packet at a time
 * would take a search per packet of every such call, just when the thread is too busy for it.
 */
const FLUSH_MULTIPLIER = 3;
const FLUSH_FLOOR_MS = 500;
/** Buffer level smoothing per decoded packet (NetEQ BufferLevelFilter). */
const LEVEL_SMOOTHING = 0.9;

export class AudioReceiver {
  #decision: PlayoutDecision = 'comfort_silence';

  readonly #frameMs: number;
  readonly #frameSamples: number;
  readonly #frameTicks: number;
  /** Newest timestamp and sequence number, packet duration, and what breaks the timeline. */
  readonly #timeline: StreamTimeline;
  readonly #delayManager: DelayManager;
  readonly #buffer: PacketBuffer;
  readonly #counters: JitterStats = { ...NO_JITTER_STATS };
  #ssrc: number | null = null;
  /** Unwrapped timestamp of the next frame to play; null until the stream starts. */
  #playoutTimestamp: number | null = null;
  /** True while playing silence before a stream or talkspurt starts. */
  #awaitingStart = true;
  /** Audio produced and not yet played. */
  readonly #pending: PendingAudio;
  #filteredLevelMs = 0;
  #concealing = false;
  /** Preemptive expand is under way: it goes on to STRETCH_HYSTERESIS_MS above the low limit. */
  #raising = false;
  /** Playout (ms) since the level was last under the accelerate limit. */
  #aboveLimitMs = 0;
  #expandedMs = 0;
  /** Frames played without advancing the timeline (underrun), which a later jump may skip. */
  #underrunFrames = 0;
  readonly #played = new PlayedTimestamps();
  #newestPlayedArrival: number | undefined;

  readonly #decoder: AudioDecoder;
  readonly #clock: Clock;
  /** pullPassing() is producing: a packet played as it came may pass as bytes, into #passed. */
  #passWanted = false;
  #passed: Uint8Array | undefined;

  constructor(decoder: AudioDecoder, clock: Clock, options: JitterBufferOptions = {}) {
    this.#decoder = decoder;
    this.#clock = clock;
    this.#frameMs = options.frameMs ?? 20;
    this.#frameSamples = Math.round((decoder.sampleRate * this.#frameMs) / 1000);
    this.#frameTicks = Math.round((decoder.rtpClockRate * this.#frameMs) / 1000);
    const maxDelayMs = options.maxDelayMs ?? 1000;
    this.#timeline = new StreamTimeline({
      rtpClockRate: decoder.rtpClockRate,
      frameTicks: this.#frameTicks,
      // Opus frames are whole multiples of 2.5 ms (RFC 6716 §2.1.4); other codecs any sample count.
      granularityTicks: decoder.name === 'opus' ? decoder.rtpClockRate / 400 : 1,
      maxForwardMs: maxDelayMs,
    });
    this.#pending = new PendingAudio(this.#frameSamples);
    this.#delayManager = new DelayManager({
      frameMs: this.#frameMs,
      minDelayMs: options.minDelayMs ?? 0,
      maxDelayMs,
      targetQuantile: options.targetQuantile ?? 0.99,
      maxTargetQuantile: options.maxTargetQuantile ?? 0.995,
      lateRateGoal: options.lateRateGoal ?? 0.005,
      forgetFactor: options.forgetFactor ?? 0.998,
    });
    this.#buffer = new PacketBuffer(options.maxPackets ?? 250);
  }

  insert(packet: ReceivedRtp): void {
    this.#counters.packetsReceived++;
    if (!Number.isFinite(packet.arrivalMs) || !Number.isInteger(packet.timestamp) || !packet.payload) {
      this.#counters.packetsDiscarded++;
      return;
    }
    if (this.#ssrc !== packet.ssrc) this.#restart(packet.ssrc);
    let timestamp = this.#timeline.unwrap(packet.timestamp);
    // A timestamp jump starts over as a new stream would (NetEQ resets on one), so the audio
    // after it is neither discarded as late nor concealed over as a gap.
    if (this.#timeline.breaks(packet, timestamp, this.#awaitingStart ? this.#playoutTimestamp : null)) {
      this.#restart(packet.ssrc);
      timestamp = this.#timeline.unwrap(packet.timestamp);
    }
    this.#timeline.note(packet, timestamp);
    if (this.#played.has(timestamp)) {
      this.#counters.packetsDuplicated++;
      return;
    }
    if (this.#playoutTimestamp !== null && timestamp < this.#playoutTimestamp) {
      this.#counters.packetsLate++;
      this.#counters.packetsDiscarded++;
      this.#delayManager.update(packet.arrivalMs, (timestamp * 1000) / this.#decoder.rtpClockRate, true);
      return;
    }
    const outcome = this.#buffer.insert({ packet, timestamp });
    if (outcome === 'duplicate') {
      this.#counters.packetsDuplicated++;
      return;
    }
    if (outcome === 'overflow') this.#counters.packetsDiscarded++;
    this.#delayManager.update(packet.arrivalMs, (timestamp * 1000) / this.#decoder.rtpClockRate, false);
  }

  /**
   * Drops the oldest packets until the level is back at the target (counted as discarded, as
   * WebRTC counts early arrivals it never plays), and plays on from the oldest packet left:
   * the skip is joined like the end of a concealment (a cross-fade), not concealed over.
   */
  #flushToTarget(): void {
    while (this.#buffer.size > 1 && this.#bufferLevelMs() > this.targetDelayMs()) {
      this.#buffer.shift();
      this.#counters.packetsDiscarded++;
    }
    this.#playoutTimestamp = this.#buffer.peek()?.timestamp ?? this.#playoutTimestamp;
    this.#underrunFrames = 0;
    this.#concealing = true;
  }

  /** Samples in each frame pull() returns. */
  get frameSamples(): number {
    return this.#frameSamples;
  }

  /** The next frame of audio, written into `out` (pass a reused one on the hot path). */
  pull(out: Int16Array = new Int16Array(this.#frameSamples)): Int16Array {
    this.#pullFrame(out, undefined);
    return out;
  }

  /**
   * pull(), except that a frame whose packet plays as it came, with nothing to join or stretch,
   * is not decoded: it is returned as bytes (the decoder's SampleBytes, valid until the next
   * pull), led by any samples a stretch left over, as pull() would have led it. Undefined when
   * the frame is in `out` as samples.
   */
  pullPassing(out: Int16Array): Uint8Array | undefined {
    return this.#pullFrame(out, this.#decoder.bytes);
  }

  #pullFrame(out: Int16Array, bytes: SampleBytes | undefined): Uint8Array | undefined {
    if (out.length !== this.#frameSamples) throw new RangeError(`pull takes ${this.#frameSamples} samples`);
    // At the pull, not as packets come: what a stall left in the socket is all read first.
    const flushAboveMs = FLUSH_MULTIPLIER * Math.max(FLUSH_FLOOR_MS, this.targetDelayMs());
    if (!this.#awaitingStart && this.#bufferLevelMs() > flushAboveMs) this.#flushToTarget();
    let first = true;
    if (bytes && this.#pending.length < this.#frameSamples) {
      this.#passWanted = true;
      this.#decision = this.#produce();
      this.#passWanted = false;
      first = false;
      const passed = this.#passed;
      if (passed) {
        this.#passed = undefined;
        this.#counters.totalSamplesReceived += this.#frameSamples;
        return this.#pending.passFrame(passed, bytes);
      }
    }
    while (this.#pending.length < this.#frameSamples) {
      const decision = this.#produce();
      if (first) this.#decision = decision;
      first = false;
    }
    if (first) this.#decision = 'normal';
    this.#pending.read(out);
    this.#counters.totalSamplesReceived += out.length;
    return undefined;
  }

  /**
   * Arrival time of the newest packet whose audio is in the frame the last pull() returned, or
   * undefined when that frame was concealment or silence: the frame's latency through the buffer.
   */
  get lastFrameArrivalMs(): number | undefined {
    const decision = this.#decision;
    return decision === 'expand' || decision === 'comfort_silence' ? undefined : this.#newestPlayedArrival;
  }

  /**
   * The next pull() would start concealing because the caller's stream is merely late: playing
   * (not waiting for a talkspurt, not concealing already), nothing decoded left over, and no
   * packet buffered at all (a later one buffered means this one is lost or reordered, and is
   * concealed at once as before). A consumer with no fixed output clock (the bot's socket) may
   * pull when the next packet arrives instead (see MediaLeg), and get the audio, not a guess.
   */
  get streamLate(): boolean {
    return (
      !this.#awaitingStart &&
      !this.#concealing &&
      this.#buffer.size === 0 &&
      this.#pending.length < this.#frameSamples
    );
  }

  /** The decision that produced the frame returned by the last pull(). */
  get lastDecision(): PlayoutDecision {
    return this.#decision;
  }

  stats(): JitterStats {
    return { ...this.#counters, sampleRate: this.#decoder.sampleRate };
  }

  targetDelayMs(): number {
    return this.#delayManager.targetDelayMs();
  }

  /** Audio held: undecoded packets plus decoded samples not yet played. */
  currentDelayMs(): number {
    return this.#bufferLevelMs();
  }

  /**
   * Audio held: decoded samples not yet played plus the buffered packets at their real
   * duration, except that the packet that arrived last counts only for as long as it has
   * waited, up to its duration (after NetEQ's span with waiting time). That keeps the level
   * continuous when a packet lands just before or just after a pull, which otherwise swings
   * it by a whole packet (30 ms packets on 20 ms pulls read 30 to 70 ms at a steady delay).
   */
  #bufferLevelMs(): number {
    const pendingMs = (this.#pending.length * 1000) / this.#decoder.sampleRate;
    if (this.#buffer.size === 0) return pendingMs;
    const packetMs = this.#packetMs();
    const waitedMs = Math.min(packetMs, Math.max(0, this.#clock.now() - this.#buffer.lastArrivalMs()));
    return pendingMs + (this.#buffer.size - 1) * packetMs + waitedMs;
  }

  #packetMs(): number {
    return (this.#timeline.packetTicks * 1000) / this.#decoder.rtpClockRate;
  }

  #restart(ssrc: number): void {
    this.#ssrc = ssrc;
    this.#buffer.clear();
    this.#delayManager.reset();
    this.#timeline.reset();
    this.#playoutTimestamp = null;
    this.#awaitingStart = true;
    this.#played.clear();
  }

  #produce(): PlayoutDecision {
    if (this.#awaitingStart) {
      const head = this.#buffer.peek();
      // Talkspurt start: hold the first packet until it has waited the target delay.
      if (!head || this.#clock.now() - head.packet.arrivalMs + this.#frameMs < this.targetDelayMs()) {
        return this.#comfortSilence();
      }
      this.#awaitingStart = false;
      this.#playoutTimestamp = head.timestamp;
      this.#filteredLevelMs = this.#bufferLevelMs();
      this.#underrunFrames = 0;
      return this.#playPacket();
    }
    const expected = this.#playoutTimestamp ?? 0;
    // Packets the playout point has passed (the one before decoded longer than its timestamp
    // step) are discarded, not played by rewinding the timeline (NetEQ DiscardOldPackets).
    this.#counters.packetsDiscarded += this.#buffer.dropOlderThan(expected);
    const head = this.#buffer.peek();
    if (head && head.timestamp === expected) return this.#playPacket();
    if (head) {
      const gapFrames = (head.timestamp - expected) / this.#frameTicks;
      if (head.packet.marker || (gapFrames <= this.#underrunFrames && this.#gapWaitOver(gapFrames))) {
        // The concealment already covered the gap (or a new talkspurt begins): jump to it.
        this.#playoutTimestamp = head.timestamp;
        return this.#playPacket();
      }
    }
    // The expected packet is missing. Conceal without advancing the timeline, so it can
    // still play if it is only late; a later packet jumps over the gap once covered.
    this.#underrunFrames++;
    const recovered = this.#recoverFromFec(expected);
    if (recovered) {
      this.#playoutTimestamp = expected + this.#timeline.packetTicks;
      this.#underrunFrames = 0;
      return recovered;
    }
    if (!head && this.#expandedMs >= MAX_EXPAND_MS) {
      this.#awaitingStart = true;
      return this.#comfortSilence();
    }
    return this.#expand();
  }

  /**
   * Waits a little longer for a missing packet while the buffer is below target: it is
   * more likely reordered than lost (NetEQ keeps expanding before declaring loss).
   */
  #gapWaitOver(gapFrames: number): boolean {
    return (
      this.#bufferLevelMs() >= this.targetDelayMs() ||
      this.#underrunFrames >= gapFrames + EXTRA_GAP_WAIT_FRAMES
    );
  }

  #playPacket(): PlayoutDecision {
    // The level is filtered once per decision, as it stands before the packet is decoded,
    // so how packets of one duration line up with pulls of another does not bias it.
    this.#filteredLevelMs =
      LEVEL_SMOOTHING * this.#filteredLevelMs + (1 - LEVEL_SMOOTHING) * this.#bufferLevelMs();
    const entry = this.#buffer.shift() as BufferedPacket;
    const now = this.#clock.now();
    const pendingMs = (this.#pending.length * 1000) / this.#decoder.sampleRate;
    const continuation = this.#concealing
      ? this.#decoder.conceal(Math.round((this.#decoder.sampleRate * MERGE_MS) / 1000))
      : null;
    const targetMs = this.targetDelayMs();
    const lowMs = 0.75 * targetMs;
    const highMs = this.#highLevelMs(targetMs, lowMs);
    const accelerating = this.#filteredLevelMs >= highMs && this.#buffer.size > 0;
    const raise = this.#filteredLevelMs < lowMs + (this.#raising ? STRETCH_HYSTERESIS_MS : 0);
    // Passed as bytes only where the samples below would go to the FIFO untouched, as one frame.
    const passes =
      this.#passWanted &&
      !continuation &&
      !accelerating &&
      !raise &&
      entry.packet.payload.length === this.#frameSamples;
    const passed = passes ? this.#decoder.bytes?.pass(entry.packet.payload) : undefined;
    if (passed) {
      this.#account(entry, passed.length, now - entry.packet.arrivalMs + pendingMs, targetMs);
      this.#noteLevel(highMs);
      this.#passed = passed;
      return 'normal';
    }
    let pcm: Int16Array;
    try {
      pcm = this.#decoder.decode(entry.packet.payload);
    } catch {
      this.#counters.packetsDiscarded++;
      this.#playoutTimestamp = entry.timestamp + this.#timeline.packetTicks;
      return this.#expand();
    }
    this.#account(entry, pcm.length, now - entry.packet.arrivalMs + pendingMs, targetMs);
    if (continuation) {
      this.#concealing = false;
      this.#pending.write(mergeAfterConcealment(continuation, pcm));
      return 'merge';
    }
    this.#noteLevel(highMs);
    if (accelerating) {
      const standing =
        this.#filteredLevelMs >= highMs + STANDING_EXCESS_MS || this.#aboveLimitMs > STANDING_ABOVE_LIMIT_MS;
      const { output, changedSamples } = accelerate(pcm, this.#decoder.sampleRate, standing);
      if (changedSamples !== 0) {
        this.#counters.removedSamplesForAcceleration -= changedSamples;
        this.#filteredLevelMs += (changedSamples * 1000) / this.#decoder.sampleRate;
        this.#pending.write(output);
        return 'accelerate';
      }
    } else if (raise) {
      this.#raising = true;
      const { output, changedSamples } = preemptiveExpand(pcm, this.#decoder.sampleRate);
      if (changedSamples !== 0) {
        this.#counters.insertedSamplesForDeceleration += changedSamples;
        this.#filteredLevelMs += (changedSamples * 1000) / this.#decoder.sampleRate;
        this.#pending.write(output);
        return 'preemptive_expand';
      }
    }
    this.#pending.write(pcm);
    return 'normal';
  }

  /** Timeline and statistics for a packet played as `samples` samples, `delayMs` after it came. */
  #account(entry: BufferedPacket, samples: number, delayMs: number, targetMs: number): void {
    this.#playoutTimestamp =
      entry.timestamp + Math.round((samples * this.#decoder.rtpClockRate) / this.#decoder.sampleRate);
    this.#played.add(entry.timestamp);
    this.#newestPlayedArrival = entry.packet.arrivalMs;
    this.#underrunFrames = 0;
    this.#expandedMs = 0;
    this.#counters.jitterBufferDelay += (delayMs / 1000) * samples;
    this.#counters.jitterBufferEmittedCount += samples;
    this.#counters.jitterBufferTargetDelay += (targetMs / 1000) * samples;
  }

  /** A packet played outside a merge: how long the level has stood above the limit. */
  #noteLevel(highMs: number): void {
    this.#raising = false;
    this.#aboveLimitMs = this.#filteredLevelMs >= highMs ? this.#aboveLimitMs + this.#packetMs() : 0;
  }

  /**
   * The accelerate limit on the filtered level (NetEQ DecisionLogic): preemptive expand
   * below 3/4 of the target (`lowMs`), accelerate at the target, but never closer than a packet (or
   * a pull, if longer) above the low limit: decisions come once per packet, and what is
   * left of the previous packet at that moment swings the level by up to a packet without
   * any jitter (30 ms packets on 20 ms pulls leave 0 or 10 ms).
   */
  #highLevelMs(targetMs: number, lowMs: number): number {
    return Math.max(targetMs, lowMs + Math.max(this.#frameMs, this.#packetMs()));
  }

  /** Rebuilds the frame at `timestamp` from the next packet's in-band FEC when the decoder can. */
  #recoverFromFec(timestamp: number): PlayoutDecision | null {
    const next = this.#buffer.find(timestamp + this.#timeline.packetTicks);
    if (!next || !this.#decoder.recoverFromNext) return null;
    const packetSamples = Math.round(
      (this.#timeline.packetTicks * this.#decoder.sampleRate) / this.#decoder.rtpClockRate,
    );
    let recovered: Int16Array | null;
    try {
      recovered = this.#decoder.recoverFromNext(next.packet.payload, packetSamples);
    } catch {
      // A size the decoder cannot rebuild (network input set it): conceal instead, as decode() does.
      return null;
    }
    if (!recovered) return null;
    this.#counters.fecPacketsReceived++;
    this.#pending.write(recovered);
    return 'expand';
  }

  #expand(): PlayoutDecision {
    const concealed = this.#decoder.conceal(this.#frameSamples);
    this.#countConcealment(concealed.length, false);
    this.#expandedMs += this.#frameMs;
    this.#pending.write(concealed);
    return 'expand';
  }

  #comfortSilence(): PlayoutDecision {
    if (this.#counters.packetsReceived > 0) this.#countConcealment(this.#frameSamples, true);
    this.#concealing = false;
    this.#pending.writeSilence(this.#frameSamples);
    return 'comfort_silence';
  }

  /** W3C: a concealment event starts when concealment follows normal playout. */
  #countConcealment(samples: number, silent: boolean): void {
    if (!this.#concealing && !silent) this.#counters.concealmentEvents++;
    this.#concealing = !silent;
    this.#counters.concealedSamples += samples;
    if (silent) this.#counters.silentConcealedSamples += samples;
  }
}
