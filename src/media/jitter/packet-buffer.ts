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
  /**
   * The latest arrival among the buffered packets, kept as packets come and go so the jitter
   * buffer's level (read several times per packet) costs the same at 2 packets or 250; only
   * removing the packet that holds it makes the next read look at them all.
   */
  #latestArrivalMs = Number.NEGATIVE_INFINITY;
  #latestArrivalStale = false;

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
    if (this.#latestArrivalStale) {
      let latest = Number.NEGATIVE_INFINITY;
      for (const p of this.#packets) latest = Math.max(latest, p.packet.arrivalMs);
      this.#latestArrivalMs = latest;
      this.#latestArrivalStale = false;
    }
    return this.#latestArrivalMs;
  }

  /** The packet with this timestamp; the buffer is in timestamp order, so the search stops past it. */
  find(timestamp: number): BufferedPacket | undefined {
    for (const p of this.#packets) {
      if (p.timestamp === timestamp) return p;
      if (p.timestamp > timestamp) return undefined;
    }
    return undefined;
  }

  shift(): BufferedPacket | undefined {
    const head = this.#packets.shift();
    if (head) this.#removed(head);
    return head;
  }

  clear(): void {
    this.#packets.length = 0;
    this.#forgetArrivals();
  }

  /** Inserts in timestamp order; on overflow the oldest packet is dropped (and reported). */
  insert(entry: BufferedPacket): InsertOutcome {
    const packets = this.#packets;
    let index = packets.length;
    while (index > 0 && (packets[index - 1] as BufferedPacket).timestamp > entry.timestamp) index--;
    // Never packets[-1]: a negative index is a named property, looked up in the V8 runtime.
    if (index > 0 && (packets[index - 1] as BufferedPacket).timestamp === entry.timestamp) return 'duplicate';
    // In order (nearly always): a push, without the array splice() would allocate for its result.
    if (index === packets.length) packets.push(entry);
    else packets.splice(index, 0, entry);
    this.#latestArrivalMs = Math.max(this.#latestArrivalMs, entry.packet.arrivalMs);
    if (packets.length > this.#capacity) {
      this.shift();
      return 'overflow';
    }
    return 'inserted';
  }

  /** Removes packets older than `timestamp` and returns how many were removed. */
  dropOlderThan(timestamp: number): number {
    let dropped = 0;
    while ((this.#packets[0]?.timestamp ?? Number.POSITIVE_INFINITY) < timestamp) {
      this.shift();
      dropped++;
    }
    return dropped;
  }

  #removed(entry: BufferedPacket): void {
    // Emptied (nearly every pull): setting an array's length is a runtime call, not needed here.
    if (this.#packets.length === 0) this.#forgetArrivals();
    else if (entry.packet.arrivalMs >= this.#latestArrivalMs) this.#latestArrivalStale = true;
  }

  #forgetArrivals(): void {
    this.#latestArrivalMs = Number.NEGATIVE_INFINITY;
    this.#latestArrivalStale = false;
  }
}

/** Unwraps a 32-bit RTP timestamp against the previous unwrapped value. */
export function unwrapTimestamp(timestamp: number, previous: number | null): number {
  if (previous === null) return timestamp >>> 0;
  const delta = ((timestamp >>> 0) - (previous >>> 0)) | 0;
  return previous + delta;
}
