/**
 * Where a packet stands on its stream's timeline: the newest RTP timestamp (unwrapped) and
 * sequence number seen, the packet duration learned from consecutive packets (NetEQ
 * packet_length_samples), and whether a packet breaks the timeline, so that the receiver
 * must start over as for a new stream rather than take it for late or early audio.
 */
import { MAX_DROPOUT } from '../rtp/receive-stats.js';
import type { ReceivedRtp } from '../rtp/types.js';
import { unwrapTimestamp } from './packet-buffer.js';

/** A timestamp step larger than this (seconds) is a new stream, not a gap. */
const MAX_TIMESTAMP_JUMP_S = 10;
/** Longest packet duration believed from a timestamp step (RFC 3551 §4.5 frames are ≤ 120 ms in practice). */
const MAX_PACKET_MS = 120;
/**
 * A packet newer by sequence number whose timestamp is more than this many frames behind the
 * newest is a step back of the sender's clock (a source switched under one SSRC), not a
 * reordered packet: those are older by sequence number too.
 */
const STEP_BACK_FRAMES = 3;

export interface StreamTimelineOptions {
  rtpClockRate: number;
  frameTicks: number;
  /** Packet durations are whole multiples of this many ticks (Opus: 2.5 ms, RFC 6716 §2.1.4). */
  granularityTicks: number;
  /** A timestamp this far (ms) ahead of what the arrival clock allows is a step forward. */
  maxForwardMs: number;
}

export class StreamTimeline {
  /** RTP ticks per packet, from consecutive packets' timestamps. */
  packetTicks: number;
  /** Newest unwrapped timestamp since the last reset, and when its packet arrived. */
  #newest: number | null = null;
  #newestArrivalMs = 0;
  #lastSequence: number | null = null;
  #highestSequence: number | null = null;
  readonly #options: StreamTimelineOptions;

  constructor(options: StreamTimelineOptions) {
    this.#options = options;
    this.packetTicks = options.frameTicks;
  }

  reset(): void {
    this.#newest = null;
    this.#lastSequence = null;
    this.#highestSequence = null;
  }

  unwrap(timestamp: number): number {
    return unwrapTimestamp(timestamp, this.#newest);
  }

  /**
   * The packet (at unwrapped `timestamp`) breaks the timeline: a step of more than
   * MAX_TIMESTAMP_JUMP_S either way; a step back on a newer sequence number; a talkspurt
   * (marker) on a newer sequence number that starts behind `awaitingPlayout`, the playout
   * point of a receiver waiting for a talkspurt (null when it is not waiting); or a step
   * forward beyond what the time since the newest packet arrived allows by maxForwardMs (a
   * silence suppressed by DTX advances the arrival clock as much as the timestamps).
   */
  breaks(packet: ReceivedRtp, timestamp: number, awaitingPlayout: number | null): boolean {
    const newest = this.#newest;
    if (newest === null) return false;
    const { rtpClockRate, frameTicks, maxForwardMs } = this.#options;
    const step = timestamp - newest;
    if (Math.abs(step) > MAX_TIMESTAMP_JUMP_S * rtpClockRate) return true;
    const ahead =
      this.#highestSequence === null ? 0 : (packet.sequenceNumber - this.#highestSequence) & 0xffff;
    const newer = ahead > 0 && ahead < MAX_DROPOUT;
    if (newer && step < -STEP_BACK_FRAMES * frameTicks) return true;
    if (newer && packet.marker && awaitingPlayout !== null && timestamp < awaitingPlayout) return true;
    return (step * 1000) / rtpClockRate - (packet.arrivalMs - this.#newestArrivalMs) > maxForwardMs;
  }

  /** Takes the packet into the timeline: learns its duration, the newest timestamp and sequence number. */
  note(packet: ReceivedRtp, timestamp: number): void {
    const sequenceNumber = packet.sequenceNumber;
    const previous = this.#lastSequence;
    this.#lastSequence = sequenceNumber;
    const newest = this.#newest;
    if (previous !== null && newest !== null && ((previous + 1) & 0xffff) === sequenceNumber) {
      // A timestamp step between consecutive sequence numbers is one packet's duration.
      const ticks = timestamp - newest;
      const { rtpClockRate, granularityTicks } = this.#options;
      if (ticks > 0 && ticks <= (MAX_PACKET_MS * rtpClockRate) / 1000 && ticks % granularityTicks === 0)
        this.packetTicks = ticks;
    }
    if (newest === null || timestamp > newest) {
      this.#newest = timestamp;
      this.#newestArrivalMs = packet.arrivalMs;
    }
    const ahead = this.#highestSequence === null ? 1 : (sequenceNumber - this.#highestSequence) & 0xffff;
    if (ahead > 0 && ahead < 0x8000) this.#highestSequence = sequenceNumber;
  }
}
