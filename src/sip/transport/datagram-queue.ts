/**
 * Fair queueing of SIP datagrams between the UDP socket and the parser.
 *
 * The kernel's receive buffer is one FIFO for every sender: while the event loop is busy (or
 * waits for a CPU), a few sources sending at their limit fill it, and a balancer's OPTIONS or
 * a trunk's INVITE waits behind all of them, up to the whole buffer's worth (seconds at a few
 * thousand datagrams a second), or is dropped when it overflows. So the socket is read as fast
 * as it comes, at the cost of the cheap checks only (size, start line, per-source rate), and
 * what passes waits here in one queue per source address, served round robin, one datagram
 * per source in turn: a source with one datagram waiting goes within one round, however much
 * the others have queued. Each source's queue is bounded in bytes, and all of them together;
 * past its share a source's newest datagram is dropped (counted). Sources with datagrams queued
 * fill the total only up to its last eighth, kept for sources with nothing queued, so a flood
 * from a few sources cannot lock a quiet one out, and many new (spoofed) ones stop at the total.
 *
 * Work is done in turns of at most `turnBudgetMs`, each a later loop turn than the reads that
 * queued it, so reading the socket, timers and the other sockets go on between turns.
 */
import { Fifo } from '../../util/index.js';
import type { TransportAddress } from '../types.js';

export interface DatagramQueueLimits {
  /** Bytes waiting per source address at most. */
  maxBytesPerSource: number;
  /** Bytes waiting in all at most; sources with datagrams queued leave the last eighth to others. */
  maxBytes: number;
  /** Source addresses with datagrams waiting, at most. */
  maxSources: number;
  /** Parsing and handling per loop turn at most, in ms (the datagram in hand is finished). */
  turnBudgetMs: number;
}

export const DEFAULT_DATAGRAM_QUEUE_LIMITS: DatagramQueueLimits = {
  maxBytesPerSource: 256 << 10,
  maxBytes: 8 << 20,
  maxSources: 4096,
  turnBudgetMs: 1,
};

export interface DatagramQueueOptions {
  limits: DatagramQueueLimits;
  /** Monotonic ms, for the turn budget. */
  now: () => number;
  /** Runs `fn` in a later loop turn (setImmediate; tests run it by hand). */
  defer: (fn: () => void) => void;
  /** Parses and handles one datagram; should not throw (what it throws goes to onError). */
  handle: (data: Buffer, source: TransportAddress) => void;
  onError: (error: unknown, source: TransportAddress) => void;
}

interface SourceQueue {
  readonly address: string;
  readonly datagrams: Fifo<{ data: Buffer; source: TransportAddress }>;
  bytes: number;
}

export class DatagramQueue {
  readonly #options: DatagramQueueOptions;
  readonly #queues = new Map<string, SourceQueue>();
  /** The queues with datagrams waiting, in serving order from `#next`. */
  readonly #active: SourceQueue[] = [];
  #next = 0;
  #bytes = 0;
  #scheduled = false;
  #closed = false;

  constructor(options: DatagramQueueOptions) {
    this.#options = options;
  }

  /** Datagrams waiting in all. */
  get waiting(): number {
    let count = 0;
    for (const queue of this.#active) count += queue.datagrams.length;
    return count;
  }

  /** Queues a datagram for handling in a later turn; false when its source is past its share. */
  push(data: Buffer, source: TransportAddress): boolean {
    if (this.#closed) return false;
    const { maxBytesPerSource, maxBytes, maxSources } = this.#options.limits;
    let queue = this.#queues.get(source.address);
    // The last eighth of the total is kept for sources with nothing queued (a quiet source
    // gets in past a flood), and the total holds for them too (spoofed new sources).
    const room = queue ? maxBytes - Math.floor(maxBytes / 8) : maxBytes;
    if (this.#bytes + data.length > room) return false;
    if (queue) {
      if (queue.bytes + data.length > maxBytesPerSource) return false;
    } else {
      if (this.#queues.size >= maxSources) return false;
      queue = { address: source.address, datagrams: new Fifo(), bytes: 0 };
      this.#queues.set(source.address, queue);
      this.#active.push(queue);
    }
    queue.datagrams.push({ data, source });
    queue.bytes += data.length;
    this.#bytes += data.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#options.defer(() => this.#drain());
    }
    return true;
  }

  /** Drops everything waiting; nothing is queued or handled after. */
  close(): void {
    this.#closed = true;
    this.#queues.clear();
    this.#active.length = 0;
    this.#bytes = 0;
  }

  #drain(): void {
    this.#scheduled = false;
    if (this.#closed) return;
    const deadline = this.#options.now() + this.#options.limits.turnBudgetMs;
    while (this.#active.length > 0 && !this.#closed) {
      if (this.#options.now() >= deadline) {
        this.#scheduled = true;
        this.#options.defer(() => this.#drain());
        return;
      }
      if (this.#next >= this.#active.length) this.#next = 0;
      const queue = this.#active[this.#next] as SourceQueue;
      const { data, source } = this.#take(queue);
      if (queue.datagrams.length === 0) this.#retire(queue);
      else this.#next++;
      try {
        this.#options.handle(data, source);
      } catch (error) {
        this.#options.onError(error, source);
      }
    }
  }

  #take(queue: SourceQueue): { data: Buffer; source: TransportAddress } {
    const datagram = queue.datagrams.shift() as { data: Buffer; source: TransportAddress };
    queue.bytes -= datagram.data.length;
    this.#bytes -= datagram.data.length;
    return datagram;
  }

  /** A source with nothing left waiting leaves the rotation; the next one takes its place. */
  #retire(queue: SourceQueue): void {
    this.#queues.delete(queue.address);
    this.#active.splice(this.#next, 1);
  }
}
