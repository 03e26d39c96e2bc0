/**
 * What the load bench measures: a process bridging callers' RTP to the bot. Two kinds: the
 * real gateway (patchbay-target.ts) and the bare forwarder (bench/lib/bare-forwarder.ts), the
 * floor its CPU is compared with.
 */
import { LineChild } from './child.js';

export interface TargetStatus {
  /**
   * Event-loop delay p99, ms: the bare forwarder's since the previous resetLag(); the gateway's
   * over its last complete 5 s window (`patchbay_event_loop_lag_seconds`, closed on its clock,
   * not by a scrape): 5 s of the bench window's last 10 s.
   */
  lagP99Ms: number;
  /** Calls that ended before the bench hung up. */
  dropped: number;
  /** Per media worker (a gateway with them): its calls, and its busy share since resetLag(). */
  workers?: WorkerShare[];
  /** The gateway's jitter buffers over its calls so far (a gateway with them). */
  jitterBuffer?: JitterBufferFigures;
  /** The gateway's bot-audio playouts since the calls were set up (a gateway with them). */
  playout?: PlayoutFigures;
  /** The gateway's media clock ticks since resetLag(), by outcome (a gateway with them). */
  ticks?: TickOutcomes;
}

/** Media-clock ticks by outcome (`patchbay_media_clock_ticks_total`), summed over its clocks. */
export interface TickOutcomes {
  onTime: number;
  late: number;
  skipped: number;
}

/** Means over every sample the calls' jitter buffers emitted (RFC-style stats, W3C webrtc-stats). */
export interface JitterBufferFigures {
  /** What the buffers aimed at (`jitterBufferTargetDelay` / `jitterBufferEmittedCount`). */
  targetMs: number;
  /** What audio waited in them (`jitterBufferDelay` / `jitterBufferEmittedCount`). */
  delayMs: number;
  /** Summed over the calls in progress, since they were set up (the warm-up and the window). */
  sinceSetUp: JitterCountsSinceSetUp;
}

/**
 * What the jitter buffers did to caller audio since set-up: where a caller->bot frame the bot
 * never heard intact went (concealed over, discarded, or shortened by acceleration).
 */
export interface JitterCountsSinceSetUp {
  concealmentEvents: number;
  /** Packets that arrived after their playout time (also in packetsDiscarded). */
  packetsLate: number;
  packetsDiscarded: number;
  /** Audio removed by acceleration (time-stretching), ms. */
  acceleratedMs: number;
  /** Caller frames whose packet was late at their tick and that waited for it (`media.lateFrames`). */
  framesWaited: number;
  /** Of those, the frames whose packet came before the next tick (the others were concealed). */
  framesArrived: number;
}

/** Counts of jitter buffers that did nothing to caller audio. */
export const NO_JITTER_COUNTS: Readonly<JitterCountsSinceSetUp> = {
  concealmentEvents: 0,
  packetsLate: 0,
  packetsDiscarded: 0,
  acceleratedMs: 0,
  framesWaited: 0,
  framesArrived: 0,
};

/**
 * Per call in progress, since set-up (the warm-up and the window): how often its playout ran dry while
 * the bot's audio was playing (a frame of faded silence each) and how many standing frames it
 * gave back. Together they show whether the playout's frame of margin behind the bot is in use.
 */
export interface PlayoutFigures {
  underrunsPerCall: number;
  trimmedFramesPerCall: number;
  /** Audio with no pause shortened by whole pitch periods, ms per call. */
  compressedMsPerCall: number;
  /**
   * What the gateway dropped over all calls: caller frames while a bot's socket was over its
   * bound, bot messages while its inbound queue was full, bot audio over the playout's bound.
   */
  dropped: { callerFrames: number; botMessages: number; botAudioMs: number };
  /** Ticks whose bot frame was late, so the caller leg held the tick's RTP slot for it. */
  slotsHeldPerCall: number;
  /** Of those, the slots the bot's frame filled before the next tick. */
  slotsFilledPerCall: number;
}

export interface WorkerShare {
  calls: number;
  busyShare: number;
}

export interface SystemUnderTest {
  readonly pid: number;
  /**
   * Sets up one call per caller port and calls `connected` with where each answered call
   * wants its RTP; resolves with the number of calls that could not be set up.
   */
  connect(
    callerPorts: readonly number[],
    connected: (call: number, remotePort: number) => void,
  ): Promise<number>;
  /** Starts a fresh event-loop delay measurement. */
  resetLag(): Promise<void>;
  status(): Promise<TargetStatus>;
  /** Ends every call and stops the process; idempotent. */
  close(): Promise<void>;
}

/** The bare forwarder, in its own process, with one stream per call to the bot. */
export class ForwarderTarget implements SystemUnderTest {
  readonly #child: LineChild;

  private constructor(child: LineChild) {
    this.#child = child;
  }

  static async start(botUrl: string): Promise<ForwarderTarget> {
    const child = LineChild.node('../lib/bare-forwarder', [botUrl]);
    await child.ready<{ ready: true }>();
    return new ForwarderTarget(child);
  }

  get pid(): number {
    return this.#child.pid;
  }

  async connect(
    callerPorts: readonly number[],
    connected: (call: number, remotePort: number) => void,
  ): Promise<number> {
    this.#child.send(`open ${callerPorts.length}`);
    const { ports } = await this.#child.next<{ ports: Array<number | null> }>();
    let failed = 0;
    for (const [call, port] of ports.entries()) {
      if (port === null) failed++;
      else connected(call, port);
    }
    return failed;
  }

  async resetLag(): Promise<void> {
    await this.status();
  }

  async status(): Promise<TargetStatus> {
    this.#child.send('status');
    const { lagP99Ms, closedEarly } = await this.#child.next<{ lagP99Ms: number; closedEarly: number }>();
    return { lagP99Ms, dropped: closedEarly };
  }

  close(): Promise<void> {
    return this.#child.close();
  }
}
