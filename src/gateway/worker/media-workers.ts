/**
 * `media.workers: N`: N worker threads carry the calls' media, so one node uses N cores for
 * it while SIP, the API, admission and every CallController stay on the main thread. Each
 * worker owns an equal slice of the RTP port range (no two bind the same port), its own media
 * clock and its calls' bot sockets; a new call goes to the worker carrying (or opening) fewest. A worker
 * that dies ends its own calls (cause `media_worker_failed`) and is replaced in its slot.
 */
import { Worker } from 'node:worker_threads';
import { type GatewayFileConfig, mediaWorkerCount, type StreamTarget } from '../../config/index.js';
import {
  type BridgeRate,
  type JitterDelayBounds,
  type MediaClockStats,
  NO_TICKS,
  type RtpPosition,
} from '../../media/index.js';
import type { BinnedValues, Clock, Logger, MediaEncryption, TimerHandle } from '../../util/index.js';
import { resolveBotUrl } from '../bot-connector.js';
import type {
  BotCallInfo,
  BotConnector,
  BotHooks,
  BotStream,
  CallMediaLeg,
  MediaLegFactory,
} from '../ports.js';
import type { MediaWorkerData, WorkerHeap } from './protocol.js';
import { RemoteMediaLeg } from './remote-leg.js';
import { WorkerChannel } from './worker-channel.js';

/** A slot whose worker died within this long of starting waits as long before the next one. */
const RESTART_BACKOFF_MS = 1000;
/** How long stop() waits for a worker to end on its own before terminating it. */
const STOP_GRACE_MS = 3000;

export interface MediaWorkersOptions {
  workers: number;
  portMin: number;
  portMax: number;
  bindAddress: string;
  pacingLeadMs: number;
  logLevel: string;
  clock: Clock;
  logger: Logger;
  /** The embedded echo bot's URL (it runs on the main thread), for `builtin:` targets. */
  builtinBotUrl(): string | undefined;
  /** The frames' RTP-arrival-to-bot-socket latencies, binned, as each worker reports them. */
  addLatencies(binned: BinnedValues): void;
}

interface Slot {
  data: MediaWorkerData;
  worker: Worker | undefined;
  channel: WorkerChannel | undefined;
  startedAtMs: number;
  /** The clock counts of the slot's dead workers plus its live one's last report. */
  clock: MediaClockStats;
  /** The live worker's clock counts at its last report (counted once into `clock`). */
  liveClock: MediaClockStats;
  restart: TimerHandle | undefined;
  /** The slot's dead workers' event-loop active ms plus the live one's as of the last load(). */
  busyMs: number;
  /** The live worker's active ms already counted into `busyMs`. */
  busyMsSeen: number;
  /** The live worker's heap at its last report; zero before its first and while it is replaced. */
  heap: WorkerHeap;
}

const NO_HEAP: WorkerHeap = { usedBytes: 0, externalBytes: 0, committedBytes: 0 };

/** One worker slot's share of the node's media (`patchbay_media_worker_*`). */
export interface MediaWorkerLoad {
  calls: number;
  /**
   * The slot's event-loop active time since the node started, its dead workers' included, in
   * seconds: it only grows, so any reader takes its rate over the interval it wants.
   */
  busySeconds: number;
  /** The worker's own V8 heap at its last report (every 500 ms); zero while it is replaced. */
  heap: WorkerHeap;
}

/**
 * The worker entry: the compiled JS under dist. Under tsx (tests and benches run from source)
 * the TypeScript one, loaded by a bootstrap that registers tsx in the thread first: Node 20
 * applies neither the parent's loader nor an `--import` loader to a worker's entry.
 */
function workerEntry(): { entry: URL | string; eval: boolean } {
  if (!import.meta.url.endsWith('.ts'))
    return { entry: new URL('./media-worker.js', import.meta.url), eval: false };
  const api = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const entry = JSON.stringify(new URL('./media-worker.ts', import.meta.url).href);
  return { entry: `import(${api}).then((tsx) => { tsx.register(); return import(${entry}); })`, eval: true };
}

const WORKER_ENTRY = workerEntry();

export class MediaWorkers implements MediaLegFactory, BotConnector {
  readonly #options: MediaWorkersOptions;
  readonly #slots: Slot[];
  #stopping = false;

  constructor(options: MediaWorkersOptions) {
    this.#options = options;
    this.#slots = portSlices(options.portMin, options.portMax, options.workers).map(([portMin, portMax]) => ({
      data: {
        portMin,
        portMax,
        bindAddress: options.bindAddress,
        pacingLeadMs: options.pacingLeadMs,
        logLevel: options.logLevel,
      },
      worker: undefined,
      channel: undefined,
      startedAtMs: 0,
      clock: { ...NO_TICKS },
      liveClock: { ...NO_TICKS },
      restart: undefined,
      busyMs: 0,
      busyMsSeen: 0,
      heap: NO_HEAP,
    }));
    for (const slot of this.#slots) this.#spawn(slot);
  }

  /** The live workers (a test ends one through it to see its calls end). */
  get threads(): readonly Worker[] {
    return this.#slots.flatMap((slot) => (slot.worker ? [slot.worker] : []));
  }

  open(
    callId: string,
    bridgeRate: BridgeRate,
    media: { jitterBuffer: JitterDelayBounds; encryption: MediaEncryption },
    continueFrom?: RtpPosition,
  ): Promise<CallMediaLeg> {
    let least: { slot: Slot; channel: WorkerChannel } | undefined;
    for (const slot of this.#slots) {
      const channel = slot.channel;
      if (channel && !channel.failed && (!least || channel.placed < least.channel.placed))
        least = { slot, channel };
    }
    if (!least) return Promise.reject(new Error('no media worker running'));
    const { slot, channel } = least;
    return channel.open(callId, bridgeRate, media, continueFrom).then((leg) => {
      // A replacement worker hands out ports after this one, not the dead calls' ports again.
      slot.data.firstPort = leg.localPort + 2;
      return leg;
    });
  }

  /** The bot connects inside the worker that carries the leg. */
  connect(call: BotCallInfo, target: StreamTarget, leg: CallMediaLeg, hooks: BotHooks): BotStream {
    if (!(leg instanceof RemoteMediaLeg)) throw new Error('the media leg is not carried by a media worker');
    const url = resolveBotUrl(target.url, this.#options.builtinBotUrl);
    return leg.connectBot(call, { ...target, url }, hooks);
  }

  /**
   * Per worker slot, in slot order: the calls it carries, its threads' event-loop active time
   * so far (read from the main thread: worker.performance, no message; a dead worker's time
   * after the last read is not seen) and its heap.
   */
  load(): MediaWorkerLoad[] {
    return this.#slots.map((slot) => {
      const calls = slot.channel?.calls ?? 0;
      if (slot.worker) {
        const { active } = slot.worker.performance.eventLoopUtilization();
        slot.busyMs += Math.max(0, active - slot.busyMsSeen);
        slot.busyMsSeen = Math.max(active, slot.busyMsSeen);
      }
      return { calls, busySeconds: slot.busyMs / 1000, heap: slot.worker ? slot.heap : NO_HEAP };
    });
  }

  /** Each live worker thread's cumulative event-loop idle and active time (for overload). */
  threadUtilizations(): Array<{ threadId: number; idle: number; active: number }> {
    return this.#slots.flatMap(({ worker }) => {
      if (!worker) return [];
      const { idle, active } = worker.performance.eventLoopUtilization();
      return [{ threadId: worker.threadId, idle, active }];
    });
  }

  /** Every worker's media clock counts summed, dead workers' included: they only grow. */
  clockStats(): MediaClockStats {
    const total = { ...NO_TICKS };
    for (const { clock } of this.#slots)
      for (const key of Object.keys(total) as Array<keyof MediaClockStats>) total[key] += clock[key];
    return total;
  }

  /** Tells every worker to close its calls and end; terminates those that do not in time. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.#slots.map(async (slot) => {
        slot.restart?.cancel();
        const { worker, channel } = slot;
        if (!worker) return;
        const exited = new Promise((resolve) => worker.once('exit', resolve));
        channel?.stop();
        const timer = this.#options.clock.setTimer(STOP_GRACE_MS, () => void worker.terminate());
        await exited;
        timer.cancel();
      }),
    );
  }

  #spawn(slot: Slot): void {
    slot.restart = undefined;
    const worker = new Worker(WORKER_ENTRY.entry, { workerData: slot.data, eval: WORKER_ENTRY.eval });
    const channel = new WorkerChannel(worker, this.#options.clock, {
      clock: (stats) => this.#countClock(slot, stats),
      latencies: (binned) => this.#options.addLatencies(binned),
      heap: (heap) => {
        slot.heap = heap;
      },
    });
    [slot.worker, slot.channel, slot.startedAtMs] = [worker, channel, this.#options.clock.now()];
    slot.liveClock = { ...NO_TICKS };
    slot.busyMsSeen = 0;
    slot.heap = NO_HEAP;
    worker.once('online', () =>
      this.#options.logger.info(
        { portMin: slot.data.portMin, portMax: slot.data.portMax },
        'media worker started',
      ),
    );
    worker.on('error', (error) =>
      this.#options.logger.error({ err: error, portMin: slot.data.portMin }, 'media worker failed'),
    );
    worker.once('exit', (code) => this.#onExit(slot, worker, code));
  }

  #countClock(slot: Slot, stats: MediaClockStats): void {
    for (const key of Object.keys(stats) as Array<keyof MediaClockStats>) {
      slot.clock[key] += stats[key] - slot.liveClock[key];
      slot.liveClock[key] = stats[key];
    }
  }

  #onExit(slot: Slot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return;
    const lived = this.#options.clock.now() - slot.startedAtMs;
    slot.channel?.fail(`media worker exited with code ${code}`);
    [slot.worker, slot.channel] = [undefined, undefined];
    if (this.#stopping) return;
    this.#options.logger.error({ code, portMin: slot.data.portMin }, 'media worker exited: replacing it');
    if (lived >= RESTART_BACKOFF_MS) this.#spawn(slot);
    else slot.restart = this.#options.clock.setTimer(RESTART_BACKOFF_MS, () => this.#spawn(slot));
  }
}

/** The gateway file's `media.workers` threads, or undefined for 0 (media on the main thread). */
export function startMediaWorkers(
  config: GatewayFileConfig,
  parts: Pick<MediaWorkersOptions, 'bindAddress' | 'clock' | 'logger' | 'builtinBotUrl' | 'addLatencies'>,
): MediaWorkers | undefined {
  const workers = mediaWorkerCount(config.media);
  if (workers === 0) return undefined;
  const { portMin, portMax, pacingLeadMs } = config.rtp;
  return new MediaWorkers({ ...parts, workers, portMin, portMax, pacingLeadMs, logLevel: config.logLevel });
}

/** `portMin..portMax` in `count` disjoint slices, each starting on an even port (RTP). */
export function portSlices(portMin: number, portMax: number, count: number): Array<[number, number]> {
  const size = Math.floor((portMax - portMin + 1) / count / 2) * 2;
  return Array.from({ length: count }, (_, index) => {
    const start = portMin + index * size;
    return [start, index === count - 1 ? portMax : start + size - 1];
  });
}
