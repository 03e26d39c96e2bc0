/**
 * The load bench's helper processes (the echo bot, the bare forwarder) speak JSON lines: the
 * bench writes commands to their stdin and reads one line back per answer. A child exits when
 * its stdin closes, so it never outlives the bench, even when the bench is killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ANSWER_TIMEOUT_MS = 30_000;

export class LineChild {
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiters: Array<(line: string | undefined) => void> = [];
  readonly exited: Promise<number | null>;
  #ended = false;

  /** Runs `script` (a path relative to this file's folder, without extension) with `args`. */
  static node(script: string, args: readonly string[]): LineChild {
    const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    const path = fileURLToPath(new URL(`${script}${extension}`, import.meta.url));
    return new LineChild(process.execPath, [...process.execArgv, path, ...args]);
  }

  /** Runs the program at `path` with `args`. */
  constructor(path: string, args: readonly string[]) {
    this.#child = spawn(path, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter(line);
      else this.#lines.push(line);
    });
    void this.exited.then(() => {
      this.#ended = true;
      for (const waiter of this.#waiters.splice(0)) waiter(undefined);
    });
  }

  get pid(): number {
    return this.#child.pid ?? 0;
  }

  send(command: string): void {
    if (!this.#ended) this.#child.stdin?.write(`${command}\n`);
  }

  /** The next line the child prints, parsed; rejects if it exits or stays silent too long. */
  async next<T>(timeoutMs = ANSWER_TIMEOUT_MS): Promise<T> {
    const queued = this.#lines.shift();
    const line =
      queued ??
      (await new Promise<string | undefined>((resolve) => {
        if (this.#ended) return resolve(undefined);
        const timer = setTimeout(() => {
          const index = this.#waiters.indexOf(settle);
          if (index >= 0) this.#waiters.splice(index, 1);
          resolve(undefined);
        }, timeoutMs);
        const settle = (value: string | undefined): void => {
          clearTimeout(timer);
          resolve(value);
        };
        this.#waiters.push(settle);
      }));
    if (line === undefined) throw new Error(`child ${this.pid} gave no answer`);
    return JSON.parse(line) as T;
  }

  /** The child's first line, which says it is ready; if none comes, the child is closed. */
  async ready<T>(): Promise<T> {
    try {
      return await this.next<T>();
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** Closes its stdin (it exits by itself) and kills it if it has not exited within 2 s. */
  async close(): Promise<void> {
    if (this.#ended) return;
    this.#child.stdin?.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 2000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Child side: calls `onCommand` for each stdin line, and `onEnd` once stdin closes. */
export function serveCommands(onCommand: (words: string[]) => void, onEnd: () => void): void {
  createInterface({ input: process.stdin })
    .on('line', (line) => onCommand(line.trim().split(/\s+/)))
    .once('close', onEnd);
}

/** Child side: one answer line. */
export function answer(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
