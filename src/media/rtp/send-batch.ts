/**
 * The RTP packets of one thread's calls, put on the wire in one run per event-loop turn.
 *
 * A bot's audio arrives one WebSocket message at a time, each handled in its own turn of the
 * loop's check phase, and the held slot it fills sends its RTP packet there and then. Sent one
 * by one, spread through the turn, nearly every packet finds the receiving process (on
 * loopback, or the kernel's softirq on a NIC) asleep and wakes it again; sent in one run after
 * every message of the turn is handled, only the first does. At 200 calls on one media worker
 * this cost the gateway ~4 % of its CPU (bench/RESULTS.md), for no latency: the run goes out in
 * the next check phase, after a poll that does not block.
 *
 * Packets leave in the order they were queued, so a stream's sequence numbers stay in order
 * on the wire. The queue's entries are reused; it holds one turn's packets (every call's
 * frames, more when the media clock catches up after a stall) and keeps at most
 * KEPT_ENTRIES of them between turns.
 */
import type { Socket } from 'node:dgram';

/** Called once the packet has left or failed: the sender's buffer is free again. */
export type DatagramSent = (error: Error | null) => void;

/** Entries kept for the next turn; a larger turn's extra entries are let go after it. */
const KEPT_ENTRIES = 1024;

interface QueuedDatagram {
  socket: Socket | undefined;
  packet: Uint8Array | undefined;
  port: number;
  address: string;
  sent: DatagramSent | undefined;
}

export class SendBatch {
  readonly #queue: QueuedDatagram[] = [];
  #length = 0;
  #scheduled = false;
  readonly #schedule: (flush: () => void) => void;

  /** `schedule` runs the flush after the current turn's callbacks (setImmediate; tests replace it). */
  constructor(schedule: (flush: () => void) => void = setImmediate) {
    this.#schedule = schedule;
  }

  /** Packets waiting for the end of the turn. */
  get queued(): number {
    return this.#length;
  }

  /** Queues `packet` for `socket`; it must stay unchanged until `sent` is called. */
  send(socket: Socket, packet: Uint8Array, port: number, address: string, sent: DatagramSent): void {
    let entry = this.#queue[this.#length];
    if (!entry) {
      entry = { socket: undefined, packet: undefined, port: 0, address: '', sent: undefined };
      this.#queue.push(entry);
    }
    entry.socket = socket;
    entry.packet = packet;
    entry.port = port;
    entry.address = address;
    entry.sent = sent;
    this.#length++;
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#schedule(this.#flush);
  }

  /** Sends what is queued, in order; a socket closed meanwhile fails its packet, not the run. */
  readonly #flush = (): void => {
    this.#scheduled = false;
    const count = this.#length;
    this.#length = 0;
    for (let i = 0; i < count; i++) {
      const entry = this.#queue[i] as QueuedDatagram;
      const { socket, packet, port, address, sent } = entry;
      entry.socket = undefined;
      entry.packet = undefined;
      entry.sent = undefined;
      if (!socket || !packet || !sent) continue;
      try {
        socket.send(packet, port, address, sent);
      } catch (error) {
        sent(error as Error);
      }
    }
    if (this.#queue.length > KEPT_ENTRIES) this.#queue.length = KEPT_ENTRIES;
  };
}
