/**
 * The worker side of `media.workers`: the calls one media worker carries. It binds their RTP
 * sockets from its own port slice, runs them on its own MediaClock, connects their bots there
 * (StreamConnection, CallBridge and Playout live next to the leg, so frames never leave the
 * thread), and reports every REPORT_INTERVAL_MS what the main thread shows and counts.
 */
import { getHeapStatistics } from 'node:v8';
import {
  type MediaClock,
  MediaLeg,
  type PortAllocator,
  type SendBatch,
  UdpDropSampler,
  type UdpDropTable,
} from '../../media/index.js';
import {
  BucketCounts,
  type Clock,
  type Logger,
  RTP_TO_WEBSOCKET_BOUNDS,
  type TimerHandle,
} from '../../util/index.js';
import { WebSocketBots } from '../bot-connector.js';
import type { BotStream } from '../ports.js';
import {
  DETAIL_EVERY_REPORTS,
  FIGURES_PER_LEG,
  type FromWorker,
  type LegDetail,
  LegFigure,
  mediaFromWire,
  REPORT_INTERVAL_MS,
  type ToWorker,
  type WorkerRequest,
  writePosition,
} from './protocol.js';

/** The end of a MessagePort (or a worker's parentPort) the host talks through. */
export interface HostPort {
  postMessage(message: FromWorker, transfer?: ArrayBuffer[]): void;
  on(event: 'message', listener: (message: ToWorker) => void): unknown;
  close(): void;
}

export interface MediaHostOptions {
  port: HostPort;
  clock: Clock;
  logger: Logger;
  mediaClock: MediaClock;
  /** The thread's RTP sends, one run per loop turn. */
  sendBatch?: SendBatch;
  portAllocator: PortAllocator;
  bindAddress: string;
  /**
   * Kernel UDP drops by port, or undefined when none moved since the last table (a
   * UdpDropSampler's); replaced in tests.
   */
  readDrops?: () => UdpDropTable | undefined;
}

interface HostedCall {
  leg: MediaLeg;
  bot: BotStream | undefined;
  /**
   * The reports (modulo DETAIL_EVERY_REPORTS) that carry this call's detail, spread by opening
   * order; the first report after the opening carries it too, so a call's record has figures
   * even if its worker dies within the first turn.
   */
  detailTurn: number;
  detailed: boolean;
}

export class MediaHost {
  readonly #options: MediaHostOptions;
  readonly #calls = new Map<string, HostedCall>();
  /** Frames' RTP-to-bot-socket latencies binned as they are sent: no per-frame storage to overflow. */
  readonly #latencies = new BucketCounts(RTP_TO_WEBSOCKET_BOUNDS);
  readonly #bots: WebSocketBots;
  readonly #readDrops: () => UdpDropTable | undefined;
  #reportTimer: TimerHandle | undefined;
  #reports = 0;
  #opened = 0;
  #stopped = false;

  constructor(options: MediaHostOptions) {
    this.#options = options;
    const sampler = new UdpDropSampler();
    this.#readDrops = options.readDrops ?? (() => sampler.sample());
    this.#bots = new WebSocketBots({
      clock: options.clock,
      logger: options.logger,
      // The main thread resolves `builtin:` targets before they get here.
      builtinUrl: () => undefined,
      latency: { now: () => options.clock.now(), observe: (seconds) => this.#latencies.observe(seconds) },
    });
    options.port.on('message', (message) => this.#onMessage(message));
    options.mediaClock.start();
    this.#scheduleReport();
  }

  /** Closes every call, stops the clock and the port: nothing is left to keep the thread alive. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#reportTimer?.cancel();
    // No final figures: after `stop` the worker posts nothing more, so none would be read.
    for (const call of this.#calls.values()) {
      call.bot?.close('shutdown');
      call.leg.close();
    }
    this.#calls.clear();
    this.#options.mediaClock.stop();
    this.#options.port.close();
  }

  #onMessage(message: ToWorker): void {
    if (this.#stopped) return;
    switch (message.kind) {
      case 'open':
      case 'start':
      case 'update':
        void this.#answer(message);
        return;
      case 'detail': {
        const call = this.#calls.get(message.callId);
        this.#post({
          kind: 'reply',
          request: message.request,
          detail: call && legDetail(message.callId, call),
        });
        return;
      }
      case 'close':
        this.#post({ kind: 'reply', request: message.request, detail: this.#close(message.callId) });
        return;
      case 'sendDtmf':
        this.#sendDtmf(message);
        return;
      case 'connectBot':
        this.#connectBot(message);
        return;
      case 'callerDtmf':
        this.#calls.get(message.callId)?.bot?.callerDtmf(message.digit, message.durationMs);
        return;
      case 'closeBot':
        this.#calls.get(message.callId)?.bot?.close(message.reason);
        return;
      case 'stop':
        this.stop();
    }
  }

  /** Runs one request and replies with its result or its error message. */
  async #answer(message: Extract<WorkerRequest, { kind: 'open' | 'start' | 'update' }>): Promise<void> {
    const { request, callId } = message;
    try {
      if (message.kind === 'open') {
        const leg = await this.#open(message);
        this.#post({ kind: 'reply', request, localPort: leg.localPort, position: leg.position() });
        return;
      }
      const leg = this.#calls.get(callId)?.leg;
      if (!leg) throw new Error('media leg closed');
      const media = mediaFromWire(message.media);
      await (message.kind === 'start' ? leg.start(media) : leg.update(media));
      this.#post({ kind: 'reply', request });
    } catch (error) {
      this.#post({ kind: 'reply', request, error: (error as Error).message });
    }
  }

  async #open(message: Extract<WorkerRequest, { kind: 'open' }>): Promise<MediaLeg> {
    const { callId, bridgeRate, media, continueFrom } = message;
    const options = this.#options;
    const leg = await MediaLeg.open({
      ...(continueFrom ? { continueFrom } : {}),
      portAllocator: options.portAllocator,
      bindAddress: options.bindAddress,
      clock: options.clock,
      mediaClock: options.mediaClock,
      ...(options.sendBatch ? { sendBatch: options.sendBatch } : {}),
      logger: options.logger.child({ callId }),
      bridgeRate,
      jitterBuffer: media.jitterBuffer,
      encryption: media.encryption,
    });
    if (this.#stopped) {
      leg.close();
      throw new Error('media worker stopping');
    }
    leg.on('dtmf', (event) => this.#post({ kind: 'dtmf', callId, event }));
    this.#calls.set(callId, {
      leg,
      bot: undefined,
      detailTurn: this.#opened++ % DETAIL_EVERY_REPORTS,
      detailed: false,
    });
    return leg;
  }

  /** The main thread checked digits and duration; what is left to refuse is a full queue. */
  #sendDtmf({ request, callId, digits, durationMs }: Extract<WorkerRequest, { kind: 'sendDtmf' }>): void {
    try {
      const leg = this.#calls.get(callId)?.leg;
      if (!leg) throw new Error('media leg closed');
      leg.sendDtmf(digits, durationMs);
      this.#post({ kind: 'reply', request });
    } catch (error) {
      this.#post({ kind: 'reply', request, error: (error as Error).message });
    }
  }

  #connectBot(message: Extract<ToWorker, { kind: 'connectBot' }>): void {
    const { callId } = message;
    const call = this.#calls.get(callId);
    if (!call) {
      this.#post({ kind: 'botFailed', callId, error: 'media leg closed' });
      return;
    }
    try {
      call.bot = this.#bots.connect(message.call, message.target, call.leg, {
        hangup: (reason) => this.#post({ kind: 'botHangup', callId, reason }),
        transfer: (target) => this.#post({ kind: 'botTransfer', callId, target }),
        gone: (reason) => this.#post({ kind: 'botGone', callId, reason }),
      });
    } catch (error) {
      this.#post({ kind: 'botFailed', callId, error: (error as Error).message });
      return;
    }
    call.bot.ready.then(
      () => this.#post({ kind: 'botReady', callId }),
      (error: unknown) => this.#post({ kind: 'botFailed', callId, error: (error as Error).message }),
    );
  }

  /**
   * Closes the call's leg and gives its figures as they stood at the close: the record's, not
   * the last report's. Read before the leg closes (a closed leg has no RTP figures); its socket
   * drops since the last report are not read, since taking the kernel's table here would take
   * the moved drops from the other calls' next report.
   */
  #close(callId: string): LegDetail | undefined {
    const call = this.#calls.get(callId);
    if (!call) return undefined;
    this.#calls.delete(callId);
    const final = legDetail(callId, call);
    call.leg.close();
    return final;
  }

  #scheduleReport(): void {
    this.#reportTimer = this.#options.clock.setTimer(REPORT_INTERVAL_MS, () => {
      this.#report();
      if (!this.#stopped) this.#scheduleReport();
    });
  }

  /** One message for all the worker's calls and metrics: never one per call per interval. */
  #report(): void {
    const drops = this.#calls.size > 0 ? this.#readDrops() : undefined;
    const callIds: string[] = [];
    const figures = new Float64Array(this.#calls.size * FIGURES_PER_LEG);
    const details: LegDetail[] = [];
    const turn = this.#reports++ % DETAIL_EVERY_REPORTS;
    for (const [callId, call] of this.#calls) {
      writeFigures(figures, callIds.length * FIGURES_PER_LEG, call, drops);
      callIds.push(callId);
      if (call.detailed && call.detailTurn !== turn) continue;
      call.detailed = true;
      details.push(legDetail(callId, call));
    }
    const latencies = this.#latencies.take();
    // About half a microsecond every REPORT_INTERVAL_MS: the thread's own isolate, no heap walk.
    const {
      used_heap_size: usedBytes,
      external_memory: externalBytes,
      total_heap_size: committedBytes,
    } = getHeapStatistics();
    // The arrays' buffers move to the main thread rather than being copied a second time.
    this.#options.port.postMessage(
      {
        kind: 'report',
        callIds,
        figures,
        details,
        clock: this.#options.mediaClock.stats(),
        latencies,
        heap: { usedBytes, externalBytes, committedBytes },
      },
      [figures.buffer as ArrayBuffer, latencies.counts.buffer as ArrayBuffer],
    );
  }

  #post(message: FromWorker): void {
    this.#options.port.postMessage(message);
  }
}

/** A call's every-interval numbers at `at`, laid out by LegFigure; its drops since the last table. */
function writeFigures(
  figures: Float64Array,
  at: number,
  { leg, bot }: HostedCall,
  drops: UdpDropTable | undefined,
): void {
  figures[at + LegFigure.inactiveMs] = leg.inactiveMs;
  writePosition(figures, at, leg.position());
  figures[at + LegFigure.socketDrops] = drops ? leg.sampleSocketDrops(drops) : 0;
  figures[at + LegFigure.queuedSamples] = bot ? bot.stats().queuedSamples : 0;
}

/** One call's full figures now. */
function legDetail(callId: string, { leg, bot }: HostedCall): LegDetail {
  return { callId, stats: leg.stats(), bot: bot?.stats() };
}
