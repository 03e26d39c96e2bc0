/**
 * Bounded packet buffer ordered by unwrapped RTP timestamp (NetEQ packet_buffer).
 * Sequence numbers are not used for ordering, so 65535→0 wrap needs no special case;
 * the 32-bit timestamp is unwrapped against the last one seen.
 */
import type { ReceivedRtp } from '../rtp/types.js';

export interface BufferedPacket {
  packet: ReceivedRtp;
  /** RTP timestamp unwrapped to a monotonic integer (RFC 3550 §5.1 wraps at 2^32). */
  timestamp: number;
}

export type InsertOutcome = 'inserted' | 'duplicate' | 'overflow';

export class PacketBuffer {
  readonly #packets: BufferedPacket[] = [];

  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#packets.length;
  }

  peek(): BufferedPacket | undefined {
    return this.#packets[0];
  }

  /** Arrival time of the packet that arrived last (-Infinity when empty). */
  lastArrivalMs(): number {
    let last = Number.NEGATIVE_INFINITY;
    for (const p of this.#packets) last = Math.max(last, p.packet.arrivalMs);
    return last;
  }

  find(timestamp: number): BufferedPacket | undefined {
    return this.#packets.find((p) => p.timestamp === timestamp);
  }

  shift(): BufferedPacket | undefined {
    return this.#packets.shift();
  }

  clear(): void {
    this.#packets.length = 0;
  }

  /** Inserts in timestamp order; on overflow the oldest packet is dropped (and reported). */
  insert(entry: BufferedPacket): InsertOutcome {
    let index = this.#packets.length;
    while (index > 0 && (this.#packets[index - 1]?.timestamp ?? 0) > entry.timestamp) index--;
    if (this.#packets[index - 1]?.timestamp === entry.timestamp) return 'duplicate';
    this.#packets.splice(index, 0, entry);
    if (this.#packets.length > this.#capacity) {
      this.#packets.shift();
      return 'overflow';
    }
    return 'inserted';
  }

  /** Removes packets older than `timestamp` and returns how many were removed. */
  dropOlderThan(timestamp: number): number {
    let dropped = 0;
    while ((this.#packets[0]?.timestamp ?? Number.POSITIVE_INFINITY) < timestamp) {
      this.#packets.shift();
      dropped++;
    }
    return dropped;
  }
}

/** Unwraps a 32-bit RTP timestamp against the previous unwrapped value. */
export function unwrapTimestamp(timestamp: number, previous: number | null): number {
  if (previous === null) return timestamp >>> 0;
  const delta = ((timestamp >>> 0) - (previous >>> 0)) | 0;
  return previous + delta;
}
