/**
 * Call records: one JSON line per finished call, to a file (appended) or stdout. Writes are
 * asynchronous and bounded: if the disk stalls, records beyond the bound are counted and
 * dropped rather than growing memory without limit.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { CallRecord } from './call-record.js';

const MAX_PENDING_BYTES = 8 << 20;

export class CallRecordWriter {
  dropped = 0;
  written = 0;

  readonly #stream: WriteStream | NodeJS.WriteStream;

  private constructor(stream: WriteStream | NodeJS.WriteStream) {
    this.#stream = stream;
  }

  /** `-` or `stdout` writes to standard output; anything else is a file path. */
  static open(target: string): CallRecordWriter {
    const stream =
      target === '-' || target === 'stdout' ? process.stdout : createWriteStream(target, { flags: 'a' });
    return new CallRecordWriter(stream);
  }

  write(record: CallRecord): void {
    if (this.#stream.writableLength > MAX_PENDING_BYTES) {
      this.dropped++;
      return;
    }
    this.#stream.write(`${JSON.stringify(record)}\n`);
    this.written++;
  }

  close(): Promise<void> {
    if (this.#stream === process.stdout) return Promise.resolve();
    return new Promise((resolve) => (this.#stream as WriteStream).end(() => resolve()));
  }
}
