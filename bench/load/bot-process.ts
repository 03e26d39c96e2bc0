/**
 * The bench's side of the echo bot (bench/load/echo-bot.ts, its own process so its work is
 * not counted against the system under test): where it listens, and its measured window.
 */
import { LineChild } from './child.js';
import type { ReceivedFigures } from './frame-stats.js';
import type { TimelineSecond } from './timeline.js';

export interface BotReport {
  callerToBot: ReceivedFigures;
  /** Distinct tagged frames echoed with a send time in the window (what the caller should get). */
  echoed: number;
  /** Messages that were not JSON or not the protocol. */
  invalid: number;
  /** Caller->bot second by second from the warm-up on (bot->caller empty: the callers measure it). */
  timeline: TimelineSecond[];
}

export class EchoBotProcess {
  readonly url: string;
  readonly #child: LineChild;

  private constructor(child: LineChild, url: string) {
    this.#child = child;
    this.url = url;
  }

  static async start(): Promise<EchoBotProcess> {
    const child = LineChild.node('./echo-bot', []);
    const { url } = await child.ready<{ url: string }>();
    return new EchoBotProcess(child, url);
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Counts frames sent within [startUs, endUs) (CLOCK_MONOTONIC µs) from now on. */
  setWindow(startUs: number, endUs: number): void {
    this.#child.send(`window ${startUs} ${endUs}`);
  }

  report(): Promise<BotReport> {
    this.#child.send('report');
    return this.#child.next<BotReport>();
  }

  close(): Promise<void> {
    return this.#child.close();
  }
}
