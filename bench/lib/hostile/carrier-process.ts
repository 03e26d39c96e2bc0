/**
 * The hostile mix's carrier (carrier.ts) run as its own process, spoken to in JSON lines: commands
 * on its stdin, events on its stdout.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { CarrierEvent } from './carrier.js';

/** A helper script of this folder's parent (bench/lib) as a command line, from source or compiled. */
export function libScript(name: string): string[] {
  const source = import.meta.url.endsWith('.ts');
  const path = fileURLToPath(new URL(`../${name}${source ? '.ts' : '.js'}`, import.meta.url));
  return [...(source ? process.execArgv : []), path];
}

/** The carrier process and its JSON-line conversation. */
export class CarrierProcess {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #events: CarrierEvent[] = [];

  constructor(address: string, probeAddress: string) {
    const options = { address, probeAddress, maxLifeMs: 600_000 };
    this.#child = spawn(process.execPath, [...libScript('hostile/carrier'), JSON.stringify(options)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) =>
      this.#events.push(JSON.parse(line) as CarrierEvent),
    );
  }

  send(command: object): void {
    this.#child.stdin.write(`${JSON.stringify(command)}\n`);
  }

  /** The next event named `name`, within `timeoutMs`; an `error` event throws. */
  async next<Name extends CarrierEvent['event']>(
    name: Name,
    timeoutMs: number,
  ): Promise<Extract<CarrierEvent, { event: Name }>> {
    for (const started = performance.now(); performance.now() - started < timeoutMs; await delay(20)) {
      const at = this.#events.findIndex((event) => event.event === name || event.event === 'error');
      const event = this.#events.splice(at, at < 0 ? 0 : 1)[0];
      if (event?.event === 'error') throw new Error(`carrier: ${event.message}`);
      if (event) return event as Extract<CarrierEvent, { event: Name }>;
    }
    throw new Error(`carrier: no ${name} within ${timeoutMs} ms`);
  }

  kill(): void {
    if (this.#child.exitCode === null) this.#child.kill('SIGKILL');
  }
}
