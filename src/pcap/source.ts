/**
 * Byte sources for the capture reader: a buffered file reader that never holds more than
 * one chunk plus one record, and an in-memory source for tests and small captures.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export interface ByteSource {
  /** Next `length` bytes, or fewer when the source ends first (truncation). */
  read(length: number): Uint8Array;
  /** Bytes consumed so far. */
  readonly position: number;
  /** Total size when known (progress reporting). */
  readonly size: number | undefined;
  close(): void;
}

export class MemorySource implements ByteSource {
  position = 0;
  readonly size: number;

  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.size = bytes.length;
  }

  read(length: number): Uint8Array {
    const out = this.#bytes.subarray(this.position, this.position + length);
    this.position += out.length;
    return out;
  }

  close(): void {}
}

const CHUNK_BYTES = 256 * 1024;

export class FileSource implements ByteSource {
  position = 0;
  readonly size: number | undefined;
  #fd: number | undefined;
  #chunk = new Uint8Array(CHUNK_BYTES);
  #start = 0;
  #end = 0;

  constructor(path: string, size?: number) {
    this.#fd = openSync(path, 'r');
    this.size = size;
  }

  read(length: number): Uint8Array {
    if (this.#end - this.#start < length) this.#fill(length);
    const available = Math.min(length, this.#end - this.#start);
    // Copy out: the chunk is reused by the next fill.
    const out = this.#chunk.slice(this.#start, this.#start + available);
    this.#start += available;
    this.position += available;
    return out;
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #fill(length: number): void {
    if (this.#fd === undefined) return;
    const pending = this.#chunk.subarray(this.#start, this.#end);
    if (length > this.#chunk.length) {
      const bigger = new Uint8Array(length);
      bigger.set(pending);
      this.#chunk = bigger;
    } else {
      this.#chunk.copyWithin(0, this.#start, this.#end);
    }
    this.#end = pending.length;
    this.#start = 0;
    while (this.#end < length) {
      const read = readSync(this.#fd, this.#chunk, this.#end, this.#chunk.length - this.#end, null);
      if (read === 0) break;
      this.#end += read;
    }
  }
}
