/**
 * What a load step needs of its instrument: callers that send RTP to the system under test and
 * the echo bot it streams to, and what both measured over a window. Two instruments give the
 * same talk, tags and figures: the Node one (rtp-callers.ts in the bench's process and
 * echo-bot.ts in its own) and the native one (native.ts: both in one small C process, for
 * boxes where the instrument's CPU would crowd the system under test).
 */
import { EchoBotProcess } from './bot-process.js';
import type { ReceivedFigures } from './frame-stats.js';
import { RtpCallers } from './rtp-callers.js';
import { mergeTimelines, type TimelineSecond } from './timeline.js';

export type InstrumentKind = 'node' | 'native';

/** One step's callers: one loopback UDP socket per call. */
export interface StepCallers {
  readonly ports: number[];
  /** Starts sending call `call`'s frames to `remotePort` on loopback. */
  connect(call: number, remotePort: number): void;
  close(): void | Promise<void>;
}

/** Both directions over the window, as their receivers measured them. */
export interface InstrumentReport {
  callerToBot: ReceivedFigures;
  /** Distinct tagged frames the bot echoed with a send time in the window. */
  echoed: number;
  botToCaller: ReceivedFigures;
  /** Tagged frames the callers sent with a send time in the window. */
  sentInWindow: number;
  /** How far behind its deadlines the callers' sender fell at worst in the window, ms. */
  senderLagMaxMs: number;
  /** Echoes the instrument's own receive buffer dropped in the window, where it can tell. */
  receiveDrops?: number;
  /** Both directions second by second from the warm-up on. */
  timeline?: TimelineSecond[];
}

export interface LoadInstrument {
  readonly kind: InstrumentKind;
  readonly botUrl: string;
  /** The processes doing the instrument's work, for its share of the CPU. */
  readonly pids: number[];
  /** Opens the next step's callers; the previous step's must be closed. */
  openCallers(calls: number): Promise<StepCallers>;
  /** Counts tagged frames sent within [startUs, endUs) (CLOCK_MONOTONIC µs) from now on. */
  setWindow(startUs: number, endUs: number): void;
  report(): Promise<InstrumentReport>;
  close(): Promise<void>;
}

/** The callers in the bench's own process, the bot in a child. */
export class NodeInstrument implements LoadInstrument {
  readonly kind = 'node';
  readonly #bot: EchoBotProcess;
  #callers: RtpCallers | undefined;

  private constructor(bot: EchoBotProcess) {
    this.#bot = bot;
  }

  static async start(): Promise<NodeInstrument> {
    return new NodeInstrument(await EchoBotProcess.start());
  }

  get botUrl(): string {
    return this.#bot.url;
  }

  get pids(): number[] {
    return [process.pid, this.#bot.pid];
  }

  async openCallers(calls: number): Promise<StepCallers> {
    const callers = await RtpCallers.open(calls);
    this.#callers = callers;
    return callers;
  }

  setWindow(startUs: number, endUs: number): void {
    this.#callers?.setWindow(startUs, endUs);
    this.#bot.setWindow(startUs, endUs);
  }

  async report(): Promise<InstrumentReport> {
    const bot = await this.#bot.report();
    const callers = this.#callers?.figures();
    if (!callers) throw new Error('report before any callers were opened');
    return {
      callerToBot: bot.callerToBot,
      echoed: bot.echoed,
      botToCaller: callers.botToCaller,
      sentInWindow: callers.sentInWindow,
      senderLagMaxMs: callers.senderLagMaxMs,
      timeline: mergeTimelines(bot.timeline, callers.timeline),
    };
  }

  close(): Promise<void> {
    this.#callers?.close();
    return this.#bot.close();
  }
}
