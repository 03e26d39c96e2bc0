/**
 * The gateway as the load bench drives it: a real `patchbay start --config` process (the
 * compiled CLI; run `npm run build` first) with the loopback trunk and one route to the bot,
 * called over SIP/UDP by a user agent built on our own stack, one INVITE per caller socket.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { JitterStats, LateFrameCounts } from '../../src/media/index.js';
import type { OutboundSession } from '../../src/sip/index.js';
import { createOffer, parseAnswer } from '../../src/sip/sdp.js';
import { type GatewayProcess, startGatewayProcess } from '../../test/interop/helpers/gateway-process.js';
import { type StackUa, startStackUa } from '../../test/interop/helpers/stack-ua.js';
import { parseMetrics } from '../lib/metrics.js';
import {
  type JitterBufferFigures,
  type JitterCountsSinceSetUp,
  NO_JITTER_COUNTS,
  type PlayoutFigures,
  type SystemUnderTest,
  type TargetStatus,
  type TickOutcomes,
  type WorkerShare,
} from './targets.js';

/** Answers still missing this long after the last INVITE count as failed calls. */
const SETUP_GRACE_MS = 10_000;
const BYE_TIMEOUT_MS = 5000;
const SCRAPE_TIMEOUT_MS = 15_000;
/**
 * Past this the gateway is killed (and writes no --cpu-prof profile): its drain is 2 s, but an
 * overloaded one takes long to get there.
 */
const STOP_TIMEOUT_MS = 30_000;

/** A bot stream's counts as a call's detail gives them (`media.stream`). */
interface PlayoutCounts {
  underrunFrames: number;
  trimmedFrames: number;
  compressedMs: number;
  overflowSamples: number;
  callerFramesDropped: number;
  botMessagesDropped: number;
}

/** The callers' codec (PCMU, see #invite): the jitter buffers count samples at its rate. */
const CALLER_SAMPLE_RATE = 8000;
/** The echo bot's Twilio stream is µ-law at 8 kHz: its playout counts samples at that rate. */
const BOT_SAMPLE_RATE = 8000;

/** The part of a call's detail (`GET /v1/calls/:id`) the bench reads. */
interface CallMediaFigures {
  jitterBuffer?: JitterStats;
  stream?: PlayoutCounts;
  lateFrames?: LateFrameCounts;
}

export interface PatchbayTargetOptions {
  botUrl: string;
  /** Calls this gateway must admit (node and trunk limits). */
  maxCalls: number;
  /** INVITEs per second while setting up (the trunk's CPS bucket allows as many). */
  cps: number;
  /** Runs the gateway under `--cpu-prof`, writing its profile into this folder on exit. */
  profileDir?: string;
  /** Floor of the trunk's jitter buffer target (`media.jitterBuffer.minDelayMs`). */
  jitterFloorMs?: number;
  /** `media.workers` of the gateway (default 0: media on its main thread). */
  mediaWorkers?: number;
  /** MALLOC_ARENA_MAX in the gateway's environment (only its own). */
  mallocArenaMax?: number;
}

export class PatchbayTarget implements SystemUnderTest {
  readonly #gateway: GatewayProcess;
  readonly #ua: StackUa;
  readonly #cps: number;
  readonly #sessions: OutboundSession[] = [];
  #dropped = 0;
  #closing: Promise<void> | undefined;

  private constructor(gateway: GatewayProcess, ua: StackUa, cps: number) {
    this.#gateway = gateway;
    this.#ua = ua;
    this.#cps = cps;
  }

  static async start(options: PatchbayTargetOptions): Promise<PatchbayTarget> {
    const gateway = await startGatewayProcess({
      botUrl: options.botUrl,
      codecs: ['PCMU'],
      cps: { rate: options.cps, burst: options.cps },
      maxCalls: options.maxCalls,
      drainTimeoutSec: 2,
      ...(options.jitterFloorMs ? { jitterFloorMs: options.jitterFloorMs } : {}),
      ...(options.mediaWorkers === undefined ? {} : { mediaWorkers: options.mediaWorkers }),
      ...(options.profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] } : {}),
      ...(options.mallocArenaMax === undefined
        ? {}
        : { env: { MALLOC_ARENA_MAX: String(options.mallocArenaMax) } }),
    });
    return new PatchbayTarget(gateway, await startStackUa('udp', false), options.cps);
  }

  get pid(): number {
    return this.#gateway.child.pid ?? 0;
  }

  async connect(
    callerPorts: readonly number[],
    connected: (call: number, remotePort: number) => void,
  ): Promise<number> {
    let answered = 0;
    let setupOver = false;
    const outcomes: Array<Promise<void>> = [];
    const started = performance.now();
    for (const [call, rtpPort] of callerPorts.entries()) {
      const wait = started + (call * 1000) / this.#cps - performance.now();
      if (wait > 0) await delay(wait);
      if (this.#closing) break;
      const session = this.#invite(rtpPort);
      outcomes.push(
        session.outcome.then((outcome) => {
          if (outcome.kind !== 'answered') return;
          const answer = parseAnswer(session.remoteSdp ?? '', ['PCMU']);
          if (setupOver || !answer.ok) {
            void session.bye().catch(() => undefined);
            return;
          }
          answered++;
          connected(call, answer.remote.port);
        }),
      );
    }
    await Promise.race([Promise.all(outcomes), delay(SETUP_GRACE_MS)]);
    setupOver = true;
    // The calls' counts from here on, taken now rather than as the window opens: reading every
    // call's detail is a burst of work for the gateway's main thread and the bench, which on a
    // small box would delay the media ticks at the window's start and show in its tail.
    this.#mediaAtReset = await this.#callDetails();
    return callerPorts.length - answered;
  }

  async resetLag(): Promise<void> {
    const samples = await this.#scrape();
    this.#ticksAtReset = ticksIn(samples);
    this.#busyAtReset = { atMs: performance.now(), seconds: workerBusySeconds(samples) };
  }

  async status(): Promise<TargetStatus> {
    // The busy shares are since resetLag(); the lag is the gateway's last complete 5 s window
    // (src/control/metrics.ts).
    const samples = await this.#scrape();
    const lag = samples?.['patchbay_event_loop_lag_seconds'];
    const busy = workerBusySeconds(samples);
    const since = this.#busyAtReset;
    const elapsedSeconds = since ? (performance.now() - since.atMs) / 1000 : 0;
    const workers: WorkerShare[] = busy.map((seconds, index) => ({
      calls: samples?.[`patchbay_media_worker_calls{worker="${index}"}`] ?? 0,
      busyShare: elapsedSeconds > 0 ? (seconds - (since?.seconds[index] ?? 0)) / elapsedSeconds : 0,
    }));
    const { jitterBuffer, playout } = await this.#callFigures();
    const ticks = ticksIn(samples);
    const before = this.#ticksAtReset;
    return {
      lagP99Ms: lag === undefined ? Number.NaN : lag * 1000,
      dropped: this.#dropped,
      ...(workers.length > 0 ? { workers } : {}),
      ...(jitterBuffer ? { jitterBuffer } : {}),
      ...(playout ? { playout } : {}),
      ...(ticks && before
        ? {
            ticks: {
              onTime: ticks.onTime - before.onTime,
              late: ticks.late - before.late,
              skipped: ticks.skipped - before.skipped,
            },
          }
        : {}),
    };
  }

  /**
   * The calls' jitter buffers and playouts as the control API shows them (up to 500 ms old with
   * media workers), summed over every call in progress: the jitter buffers' target is what
   * caller->bot latency is judged against; the counts (the jitter buffers' and the playouts')
   * are taken since the calls were set up (the warm-up and the window), per call, so set-up
   * does not count.
   */
  async #callFigures(): Promise<{ jitterBuffer?: JitterBufferFigures; playout?: PlayoutFigures }> {
    const details = await this.#callDetails();
    let target = 0;
    let waited = 0;
    let emitted = 0;
    let playouts = 0;
    let underruns = 0;
    let trimmed = 0;
    let compressedMs = 0;
    const dropped = { callerFrames: 0, botMessages: 0, botAudioMs: 0 };
    let slotsHeld = 0;
    let slotsFilled = 0;
    const sinceSetUp: JitterCountsSinceSetUp = { ...NO_JITTER_COUNTS };
    for (const [id, media] of details) {
      const before = this.#mediaAtReset.get(id);
      const stream = media.stream;
      if (stream && before?.stream) {
        playouts++;
        underruns += stream.underrunFrames - before.stream.underrunFrames;
        trimmed += stream.trimmedFrames - before.stream.trimmedFrames;
        compressedMs += stream.compressedMs - before.stream.compressedMs;
        dropped.callerFrames += stream.callerFramesDropped - before.stream.callerFramesDropped;
        dropped.botMessages += stream.botMessagesDropped - before.stream.botMessagesDropped;
        dropped.botAudioMs +=
          (1000 * (stream.overflowSamples - before.stream.overflowSamples)) / BOT_SAMPLE_RATE;
      }
      const late = media.lateFrames;
      const lateBefore = before?.lateFrames;
      if (late && lateBefore) {
        slotsHeld += late.botHeld - lateBefore.botHeld;
        slotsFilled += late.botArrived - lateBefore.botArrived;
        sinceSetUp.framesWaited += late.callerWaited - lateBefore.callerWaited;
        sinceSetUp.framesArrived += late.callerArrived - lateBefore.callerArrived;
      }
      const stats = media.jitterBuffer;
      if (!stats) continue;
      target += stats.jitterBufferTargetDelay;
      waited += stats.jitterBufferDelay;
      emitted += stats.jitterBufferEmittedCount;
      const was = before?.jitterBuffer;
      if (!was) continue;
      sinceSetUp.concealmentEvents += stats.concealmentEvents - was.concealmentEvents;
      sinceSetUp.packetsLate += stats.packetsLate - was.packetsLate;
      sinceSetUp.packetsDiscarded += stats.packetsDiscarded - was.packetsDiscarded;
      sinceSetUp.acceleratedMs +=
        (1000 * (stats.removedSamplesForAcceleration - was.removedSamplesForAcceleration)) /
        CALLER_SAMPLE_RATE;
    }
    return {
      ...(emitted > 0
        ? {
            jitterBuffer: {
              targetMs: (1000 * target) / emitted,
              delayMs: (1000 * waited) / emitted,
              sinceSetUp,
            },
          }
        : {}),
      ...(playouts > 0
        ? {
            playout: {
              underrunsPerCall: underruns / playouts,
              trimmedFramesPerCall: trimmed / playouts,
              compressedMsPerCall: compressedMs / playouts,
              dropped,
              slotsHeldPerCall: slotsHeld / playouts,
              slotsFilledPerCall: slotsFilled / playouts,
            },
          }
        : {}),
    };
  }

  /** Each call in progress's media figures, by call id; none from a gateway too busy to answer. */
  async #callDetails(): Promise<Map<string, CallMediaFigures>> {
    const api = this.#gateway.apiUrl;
    const details = new Map<string, CallMediaFigures>();
    try {
      const { calls } = (await (await fetch(`${api}/v1/calls`)).json()) as { calls: Array<{ id: string }> };
      for (const { id } of calls) {
        const call = (await (await fetch(`${api}/v1/calls/${encodeURIComponent(id)}`)).json()) as {
          media?: CallMediaFigures;
        };
        if (call.media) details.set(id, call.media);
      }
    } catch {
      // The step's other figures still count.
    }
    return details;
  }

  close(): Promise<void> {
    this.#closing ??= this.#stop();
    return this.#closing;
  }

  #invite(rtpPort: number): OutboundSession {
    const { sipPort } = this.#gateway;
    const session = this.#ua.ua.call({
      requestUri: `sip:load@127.0.0.1:${sipPort}`,
      destination: { transport: 'udp', address: '127.0.0.1', port: sipPort },
      from: `<sip:caller@127.0.0.1:${this.#ua.port}>`,
      to: `<sip:load@127.0.0.1:${sipPort}>`,
      sdp: createOffer({ address: '127.0.0.1', port: rtpPort, codecs: ['PCMU'], rtcpMux: true }),
    });
    this.#sessions.push(session);
    session.once('confirmed', () =>
      session.once('terminated', () => {
        if (!this.#closing) this.#dropped++;
      }),
    );
    return session;
  }

  #ticksAtReset: TickOutcomes | undefined;
  #busyAtReset: { atMs: number; seconds: number[] } | undefined;
  /** Each call's media figures once every call was set up. */
  #mediaAtReset = new Map<string, CallMediaFigures>();

  /** Every series of one /metrics scrape; undefined when the gateway does not answer in time. */
  async #scrape(): Promise<Record<string, number> | undefined> {
    try {
      const response = await fetch(`${this.#gateway.apiUrl}/metrics`, {
        signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS),
      });
      return parseMetrics(await response.text());
    } catch {
      return undefined;
    }
  }

  async #stop(): Promise<void> {
    const byes = this.#sessions.filter((session) => session.state === 'confirmed').map((s) => s.bye());
    await Promise.race([Promise.allSettled(byes), delay(BYE_TIMEOUT_MS)]);
    await this.#ua.close();
    const killer = setTimeout(() => this.#gateway.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.#gateway.stop();
    clearTimeout(killer);
  }
}

/** The media clock's ticks by outcome in one scrape, or undefined without one. */
function ticksIn(samples: Record<string, number> | undefined): TickOutcomes | undefined {
  if (!samples) return undefined;
  const outcome = (name: string) => samples[`patchbay_media_clock_ticks_total{outcome="${name}"}`] ?? 0;
  return { onTime: outcome('on_time'), late: outcome('late'), skipped: outcome('skipped') };
}

/** Each media worker slot's busy seconds so far (`patchbay_media_worker_busy_seconds_total`), in slot order. */
function workerBusySeconds(samples: Record<string, number> | undefined): number[] {
  const seconds: number[] = [];
  for (let index = 0; samples && `patchbay_media_worker_calls{worker="${index}"}` in samples; index++)
    seconds.push(samples[`patchbay_media_worker_busy_seconds_total{worker="${index}"}`] ?? 0);
  return seconds;
}
