/**
 * The overload rig shared by test/interop/overload.test.ts and bench/overload.ts: a real
 * `patchbay start` process with `limits.overload`, an echo bot in its own process, and a witness
 * call (the SIP stack's UA as caller, tagged RTP both ways through bench/load/rtp-callers.ts).
 * A flood is SIPp offering calls at a rate while the witness's audio is measured and a bare
 * pacer process (bench/lib/bare-pacer.ts: the same media clock, nothing else to do) shows what
 * the machine alone allowed in the same seconds. Runs the compiled gateway: `npm run build` first.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { OutboundSession } from '../../src/sip/index.js';
import { createOffer, parseAnswer } from '../../src/sip/sdp.js';
import {
  type GatewayProcess,
  type GatewayProcessOptions,
  startGatewayProcess,
} from '../../test/interop/helpers/gateway-process.js';
import { freePort, type SippResult, startSipp } from '../../test/interop/helpers/sipp.js';
import { type StackUa, startStackUa } from '../../test/interop/helpers/stack-ua.js';
import { EchoBotProcess } from '../load/bot-process.js';
import { LATE_GAP_MS, type ReceivedFigures } from '../load/frame-stats.js';
import { nowUs } from '../load/frame-tag.js';
import { RtpCallers } from '../load/rtp-callers.js';
import { metricSum, scrapeMetrics } from './metrics.js';

const BARE_PACER = join(import.meta.dirname, `bare-pacer${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`);
const PACER_FRAME_MS = 20;
/** The witness is refused while the node (on a loaded machine) is overloaded: tried this often. */
const WITNESS_ATTEMPTS = 10;
/** The witness's called number: routed to its own echo bot. */
const WITNESS_NUMBER = 'witness';
const WITNESS_RETRY_MS = 500;
/** Frames the witness and the bot still have in flight when a window closes. */
const IN_FLIGHT_GRACE_MS = 1000;

export type OverloadThresholds = NonNullable<GatewayProcessOptions['overload']>;

/**
 * Thresholds for a node that must never let its calls in progress suffer: a 100 ms loop delay
 * p99, 5 % of media ticks late or a loop busy 80 % of a 1 s window refuses new INVITEs.
 */
export const STRICT_OVERLOAD: OverloadThresholds = {
  eventLoopDelayP99Ms: 100,
  mediaClockLateShare: 0.05,
  eventLoopUtilization: 0.8,
  windowSec: 1,
  retryAfterSec: 2,
};

export interface OverloadRigOptions {
  /** Concurrent calls the node and its trunk admit: set above the offer, so its own load refuses. */
  maxCalls: number;
  /** The trunk's CPS bucket, likewise above the offer. */
  cps: number;
  /** Default STRICT_OVERLOAD. */
  overload?: OverloadThresholds;
  /**
   * Default 1: one media thread beside the SIP thread, so an offer passes its capacity on any
   * 2-core machine (with a worker per core a quiet one carried 400 calls at once).
   */
  mediaWorkers?: number;
  /**
   * `media.jitterBuffer.minDelayMs` of the trunk; default LATE_GAP_MS, as deep as the gap a
   * listener hears: a frame lost then means the gateway held it back longer.
   */
  jitterFloorMs?: number;
  requestsPerSourcePerSec?: number;
  /**
   * `limits.rtpInactivityTimeoutSec` (default 30): SIPp's uac sends no RTP, so a call held longer
   * is ended by the node unless this is longer still.
   */
  rtpInactivityTimeoutSec?: number;
  /**
   * Niceness of the load while it runs (default 0): SIPp and the echo bot of the offered calls.
   * The stand-in for carriers and bots on machines of their own: on a 2-core box at niceness 0
   * they take CPU the node needs for the calls it already carries. The witness's carrier (this
   * process), its own echo bot and the bare pacer keep niceness 0.
   */
  loadNice?: number;
}

/**
 * The witness's audio both ways over one window, counted in its tagged frames (one in 4 of its
 * speech, bench/load/talker.ts): latency, loss and late frames are over those.
 */
export interface WitnessWindow {
  /** Tagged frames the witness sent in the window. */
  sent: number;
  /**
   * Of those, the ones its bot echoed with a send time in the window: what should come back.
   * The callers count bot->caller frames by that echo time (as bench/load does), so a frame
   * echoed across the window's edge is neither lost nor one too many.
   */
  echoed: number;
  /** How far behind its 20 ms slots the witness's own sender fell at worst. */
  senderLagMaxMs: number;
  callerToBot: ReceivedFigures;
  botToCaller: ReceivedFigures;
}

/** The bare pacer's packets as this process received them over one window. */
export interface PacerGaps {
  maxGapMs: number;
  /** Gaps between its packets longer than LATE_GAP_MS (what a listener hears). */
  gapsOverLateMs: number;
}

export interface Flood {
  /** Calls per second SIPp offers. */
  rate: number;
  seconds: number;
  /** How long SIPp holds each answered call before its BYE. */
  holdMs: number;
}

export interface OfferResult {
  offered: number;
  sipp: SippResult;
  /** INVITEs the gateway refused with 503 as overloaded (`rejected_overload`) during the offer. */
  refused: number;
  /** When SIPp exited (performance.now()). */
  sippEndedAtMs: number;
}

export interface FloodResult extends OfferResult {
  witness: WitnessWindow;
  pacer: PacerGaps;
}

/** Tagged frames not received: caller->bot of those sent, bot->caller of those the bot echoed. */
export function framesLost(window: WitnessWindow): [number, number] {
  return [window.sent - window.callerToBot.received, window.echoed - window.botToCaller.received];
}

export function describeWindow(name: string, window: WitnessWindow): string {
  return (
    `${name}: tagged frames sent ${window.sent}, caller->bot received ${window.callerToBot.received} ` +
    `(p99 ${window.callerToBot.p99Ms.toFixed(1)} ms, late ${window.callerToBot.late}), echoed ${window.echoed}, bot->caller received ` +
    `${window.botToCaller.received} (p99 ${window.botToCaller.p99Ms.toFixed(1)} ms, late ${window.botToCaller.late})`
  );
}

/**
 * The machine's own lateness over `ms`: the gaps between the packets of a bare pacer process,
 * as this process receives them.
 */
export async function pacerGaps(ms: number): Promise<PacerGaps> {
  const sink = createSocket('udp4');
  await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
  let last: number | undefined;
  const gaps: PacerGaps = { maxGapMs: 0, gapsOverLateMs: 0 };
  sink.on('message', () => {
    const now = performance.now();
    if (last !== undefined) {
      gaps.maxGapMs = Math.max(gaps.maxGapMs, now - last);
      if (now - last > LATE_GAP_MS) gaps.gapsOverLateMs++;
    }
    last = now;
  });
  const pacer = spawn(
    process.execPath,
    [...process.execArgv, BARE_PACER, String(sink.address().port), String(Math.ceil(ms / PACER_FRAME_MS))],
    { stdio: 'ignore' },
  );
  await once(pacer, 'exit');
  sink.close();
  return gaps;
}

export class OverloadRig {
  readonly gateway: GatewayProcess;
  /** The offered calls' echo bot. */
  readonly #bot: EchoBotProcess;
  /**
   * The witness's own echo bot: a bot process busy accepting and closing the offered calls'
   * sockets would echo late, and the witness would measure that bot, not the node.
   */
  readonly #witnessBot: EchoBotProcess;
  readonly #caller: StackUa;
  readonly #media: RtpCallers;
  readonly #loadNice: number;

  private constructor(
    gateway: GatewayProcess,
    bots: { load: EchoBotProcess; witness: EchoBotProcess },
    caller: StackUa,
    media: RtpCallers,
    loadNice: number,
  ) {
    this.gateway = gateway;
    this.#bot = bots.load;
    this.#witnessBot = bots.witness;
    this.#caller = caller;
    this.#media = media;
    this.#loadNice = loadNice;
  }

  static async start(options: OverloadRigOptions): Promise<OverloadRig> {
    const bot = await EchoBotProcess.start();
    const witnessBot = await EchoBotProcess.start();
    const loadNice = options.loadNice ?? 0;
    if (loadNice !== 0) setPriority(bot.pid, loadNice);
    let gateway: GatewayProcess | undefined;
    try {
      gateway = await startGatewayProcess({
        botUrl: bot.url,
        routes: [{ match: WITNESS_NUMBER, url: witnessBot.url }],
        codecs: ['PCMU'],
        cps: { rate: options.cps, burst: options.cps },
        maxCalls: options.maxCalls,
        mediaWorkers: options.mediaWorkers ?? 1,
        drainTimeoutSec: 2,
        jitterFloorMs: options.jitterFloorMs ?? LATE_GAP_MS,
        overload: options.overload ?? STRICT_OVERLOAD,
        ...(options.requestsPerSourcePerSec === undefined
          ? {}
          : { requestsPerSourcePerSec: options.requestsPerSourcePerSec }),
        ...(options.rtpInactivityTimeoutSec === undefined
          ? {}
          : { rtpInactivityTimeoutSec: options.rtpInactivityTimeoutSec }),
      });
      const caller = await startStackUa('udp', false);
      const media = await RtpCallers.open(1);
      return new OverloadRig(gateway, { load: bot, witness: witnessBot }, caller, media, loadNice);
    } catch (error) {
      await gateway?.stop();
      await Promise.all([bot.close(), witnessBot.close()]);
      throw error;
    }
  }

  /** The gateway's current sum of `name`'s series, or of those whose labels include `label`. */
  async metric(name: string, label = ''): Promise<number> {
    return metricSum(await scrapeMetrics(this.gateway.apiUrl), name, label);
  }

  refusedAsOverloaded(): Promise<number> {
    return this.metric('patchbay_calls_total', 'outcome="rejected_overload"');
  }

  activeCalls(): Promise<number> {
    return this.metric('patchbay_active_calls');
  }

  /**
   * Polls the active calls every `pollMs` until at most `atMost` are left or `limitMs` passed;
   * returns the count then and when it was read (performance.now()).
   */
  async untilActiveCalls(
    atMost: number,
    limitMs: number,
    pollMs: number,
  ): Promise<{ active: number; atMs: number }> {
    const started = performance.now();
    for (;;) {
      const active = await this.activeCalls();
      const atMs = performance.now();
      if (active <= atMost || atMs - started >= limitMs) return { active, atMs };
      await delay(pollMs);
    }
  }

  /** The witness call, retried while the node refuses it as overloaded; rejects on any other end. */
  async placeWitness(): Promise<OutboundSession> {
    const sipPort = this.gateway.sipPort;
    const ua = this.#caller;
    for (let attempt = 0; attempt < WITNESS_ATTEMPTS; attempt++) {
      const session = ua.ua.call({
        requestUri: `sip:${WITNESS_NUMBER}@127.0.0.1:${sipPort}`,
        destination: { transport: 'udp', address: '127.0.0.1', port: sipPort },
        from: `<sip:${WITNESS_NUMBER}@127.0.0.1:${ua.port}>`,
        to: `<sip:${WITNESS_NUMBER}@127.0.0.1:${sipPort}>`,
        sdp: createOffer({
          address: '127.0.0.1',
          port: this.#media.ports[0] ?? 0,
          codecs: ['PCMU'],
          rtcpMux: true,
        }),
      });
      const outcome = await session.outcome;
      if (outcome.kind === 'answered') {
        const answer = parseAnswer(session.remoteSdp ?? '', ['PCMU']);
        if (!answer.ok) throw new Error('the witness got no SDP answer');
        this.#media.connect(0, answer.remote.port);
        return session;
      }
      if (outcome.status !== 503) throw new Error(`the witness call failed with ${outcome.status}`);
      await delay(WITNESS_RETRY_MS);
    }
    throw new Error(`the witness call was refused ${WITNESS_ATTEMPTS} times`);
  }

  /** Hangs the witness up and stops its frames. */
  async endWitness(witness: OutboundSession): Promise<void> {
    await witness.bye();
    this.#media.disconnect(0);
  }

  /** The witness's audio both ways, for frames sent from now for `ms` (then in-flight grace). */
  async witnessWindow(ms: number, during: Promise<unknown> = Promise.resolve()): Promise<WitnessWindow> {
    const startUs = nowUs();
    const endUs = startUs + ms * 1000;
    this.#media.setWindow(startUs, endUs);
    this.#witnessBot.setWindow(startUs, endUs);
    await Promise.all([delay(ms + IN_FLIGHT_GRACE_MS), during]);
    const figures = this.#media.figures();
    const bot = await this.#witnessBot.report();
    return {
      sent: figures.sentInWindow,
      echoed: bot.echoed,
      senderLagMaxMs: figures.senderLagMaxMs,
      callerToBot: bot.callerToBot,
      botToCaller: figures.botToCaller,
    };
  }

  /** SIPp's uac offering `flood.rate` calls/s for `flood.seconds`, each held `flood.holdMs`. */
  async offer(flood: Flood, timeoutMs: number): Promise<OfferResult> {
    const offered = flood.rate * flood.seconds;
    const refusedBefore = await this.refusedAsOverloaded();
    const handle = startSipp({
      scenario: 'uac',
      remote: `127.0.0.1:${this.gateway.sipPort}`,
      localPort: await freePort(),
      calls: offered,
      rate: flood.rate,
      timeoutMs,
      extraArgs: ['-d', String(flood.holdMs), '-recv_timeout', '15000'],
    });
    if (this.#loadNice !== 0 && handle.pid !== undefined) setPriority(handle.pid, this.#loadNice);
    const sipp = await handle.result;
    const sippEndedAtMs = performance.now();
    return { offered, sipp, refused: (await this.refusedAsOverloaded()) - refusedBefore, sippEndedAtMs };
  }

  /**
   * One offer while the witness's audio and a bare pacer are measured over `witnessMs` (default
   * the offer's seconds) or until SIPp ends, whichever is later.
   */
  async flood(flood: Flood, timeoutMs: number, witnessMs = flood.seconds * 1000): Promise<FloodResult> {
    const offer = this.offer(flood, timeoutMs);
    const pacer = pacerGaps(witnessMs);
    const witness = await this.witnessWindow(witnessMs, offer);
    return { ...(await offer), witness, pacer: await pacer };
  }

  /** Idempotent through each part's own close. */
  async close(): Promise<void> {
    this.#media.close();
    await this.#caller.close();
    await this.gateway.stop();
    await Promise.all([this.#bot.close(), this.#witnessBot.close()]);
  }
}
