/**
 * The native instrument: the load bench's callers and echo bot in one single-threaded C
 * process (bench/load/native/*.c), built on first use with the system's C compiler (`cc`),
 * its calls' RTP on one socket with batched sends and receives.
 * On a box of few cores the Node instrument takes most of a core at 200-300 calls, which the
 * system under test then lacks; this one sends, echoes and notes the same tagged frames for a
 * fraction of that. Its raw observations are replayed here through FrameStats, so both
 * instruments' figures come from the same code.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineChild } from './child.js';
import { FrameStats } from './frame-stats.js';
import type { InstrumentReport, LoadInstrument, StepCallers } from './instrument.js';
import { LatencyTimeline } from './timeline.js';

/** The C sources sit beside the TypeScript (bench/load/native/), also when run from dist/. */
function sourceDir(): string {
  const here = fileURLToPath(new URL('./native/', import.meta.url));
  return existsSync(join(here, 'main.c')) ? here : here.replace(/\/dist\/bench\//, '/bench/');
}

const COMPILE_FLAGS = ['-O2', '-std=gnu11'];

/** Builds the instrument once per source text and flags; returns the program's path. */
export function buildNativeInstrument(): string {
  const dir = sourceDir();
  const sources = readdirSync(dir)
    .filter((name) => name.endsWith('.c') || name.endsWith('.h'))
    .sort();
  const hash = createHash('sha256').update(COMPILE_FLAGS.join(' '));
  for (const name of sources) hash.update(name).update(readFileSync(join(dir, name)));
  const program = join(tmpdir(), `patchbay-load-instrument-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(program)) return program;
  const buildDir = mkdtempSync(join(tmpdir(), 'patchbay-load-instrument-build-'));
  try {
    const output = join(buildDir, 'instrument');
    const files = sources.filter((name) => name.endsWith('.c')).map((name) => join(dir, name));
    execFileSync('cc', [...COMPILE_FLAGS, '-o', output, ...files, '-lm'], { stdio: 'inherit' });
    renameSync(output, program);
  } finally {
    rmSync(buildDir, { recursive: true, force: true });
  }
  return program;
}

/** Fields per observation in the report file (native/instrument.h's `observation`). */
const FIELDS = 5;

interface CountsAnswer {
  written: boolean;
  sentInWindow: number;
  senderLagMaxMs: number;
  senderSkipped: number;
  receiveDrops: number;
  invalid: number;
}

export class NativeInstrument implements LoadInstrument {
  readonly kind = 'native';
  readonly botUrl: string;
  readonly #child: LineChild;
  readonly #reportPath: string;
  readonly #reportDir: string;
  #window = { startUs: Number.POSITIVE_INFINITY, endUs: Number.POSITIVE_INFINITY };

  private constructor(child: LineChild, botUrl: string) {
    this.#child = child;
    this.botUrl = botUrl;
    this.#reportDir = mkdtempSync(join(tmpdir(), 'patchbay-load-observations-'));
    this.#reportPath = join(this.#reportDir, 'window.bin');
  }

  static async start(): Promise<NativeInstrument> {
    const child = new LineChild(buildNativeInstrument(), []);
    const { url } = await child.ready<{ url: string }>();
    return new NativeInstrument(child, url);
  }

  get pids(): number[] {
    return [this.#child.pid];
  }

  async openCallers(calls: number): Promise<StepCallers> {
    const child = this.#child;
    child.send(`open ${calls}`);
    const { ports } = await child.next<{ ports: number[] }>();
    if (ports.length !== calls)
      throw new Error(`the native instrument opened ${ports.length} of ${calls} callers`);
    return {
      ports,
      connect: (call, remotePort) => child.send(`connect ${call} ${remotePort}`),
      close: () => child.send('close-callers'),
    };
  }

  setWindow(startUs: number, endUs: number): void {
    this.#window = { startUs, endUs };
    this.#child.send(`window ${startUs} ${endUs}`);
  }

  async report(): Promise<InstrumentReport> {
    this.#child.send(`report ${this.#reportPath}`);
    const counts = await this.#child.next<CountsAnswer>();
    if (!counts.written) throw new Error(`the native instrument could not write ${this.#reportPath}`);
    const file = readFileSync(this.#reportPath);
    const values = new Float64Array(file.buffer, file.byteOffset, file.byteLength / 8);
    const { startUs, endUs } = this.#window;
    const callerToBot = new FrameStats();
    callerToBot.setWindow(startUs, endUs);
    const botToCaller = new FrameStats();
    botToCaller.setWindow(startUs, endUs);
    const timeline = new LatencyTimeline(startUs);
    let echoed = 0;
    let at = 0;
    // The bot's observations, then the callers', each a count and its records, in arrival order.
    for (const side of [callerToBot, botToCaller]) {
      const count = values[at++] ?? 0;
      for (let i = 0; i < count; i++, at += FIELDS) {
        const [call, frameUs, sentUs, arrivalUs] = [
          values[at]!,
          values[at + 1]!,
          values[at + 2]!,
          values[at + 3]!,
        ];
        const fresh = side.observe(call, frameUs, sentUs, arrivalUs);
        if (fresh) timeline.add(side === callerToBot ? 0 : 1, sentUs, arrivalUs - sentUs);
        if (side === callerToBot && fresh && side.inWindow(values[at + 4]!)) echoed++;
      }
    }
    return {
      callerToBot: callerToBot.figures(),
      echoed,
      botToCaller: botToCaller.figures(),
      sentInWindow: counts.sentInWindow,
      senderLagMaxMs: counts.senderLagMaxMs,
      receiveDrops: counts.receiveDrops,
      timeline: timeline.seconds(),
    };
  }

  async close(): Promise<void> {
    await this.#child.close();
    rmSync(this.#reportDir, { recursive: true, force: true });
  }
}
