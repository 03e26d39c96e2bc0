/**
 * The main thread's end of one media worker's port: numbers the requests and settles them on
 * the worker's replies, hands each call's messages to its RemoteMediaLeg, and passes the
 * worker's periodic report on. When the worker dies, `fail` ends everything it carried.
 */
import type { BridgeRate, JitterDelayBounds, MediaClockStats, RtpPosition } from '../../media/index.js';
import type { BinnedValues, Clock, MediaEncryption } from '../../util/index.js';
import { MediaWorkerLost } from '../ports.js';
import {
  FIGURES_PER_LEG,
  type FromWorker,
  type ToWorker,
  type WorkerHeap,
  type WorkerRequest,
  type WorkerRequestBody,
} from './protocol.js';
import { type LegLink, RemoteMediaLeg } from './remote-leg.js';

/** The main thread's end of a worker's port (a Worker, or a MessagePort in tests). */
export interface ChannelPort {
  postMessage(message: ToWorker): void;
  on(event: 'message', listener: (message: FromWorker) => void): unknown;
}

/** Where a worker's report goes besides its calls: the gateway's metrics. */
export interface ReportSink {
  clock(stats: MediaClockStats): void;
  latencies(binned: BinnedValues): void;
  heap(heap: WorkerHeap): void;
}

type Reply = Extract<FromWorker, { kind: 'reply' }>;

export class WorkerChannel {
  readonly #port: ChannelPort;
  readonly #clock: Clock;
  readonly #sink: ReportSink;
  readonly #legs = new Map<string, RemoteMediaLeg>();
  readonly #pending = new Map<number, { resolve(reply: Reply): void; reject(error: Error): void }>();
  #nextRequest = 1;
  /** Legs asked for and not yet opened. */
  #opening = 0;
  #failure: string | undefined;

  constructor(port: ChannelPort, clock: Clock, sink: ReportSink) {
    this.#port = port;
    this.#clock = clock;
    this.#sink = sink;
    port.on('message', (message) => this.#receive(message));
  }

  /** Calls this worker carries (placement: the least loaded worker takes the next call). */
  get calls(): number {
    return this.#legs.size;
  }

  /**
   * Calls carried plus those being opened: what placement weighs, so that a burst of set-ups
   * arriving before the worker answers the first is spread instead of all landing on one worker.
   */
  get placed(): number {
    return this.#legs.size + this.#opening;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  async open(
    callId: string,
    bridgeRate: BridgeRate,
    media: { jitterBuffer: JitterDelayBounds; encryption: MediaEncryption },
    continueFrom?: RtpPosition,
  ): Promise<RemoteMediaLeg> {
    this.#opening++;
    const reply = await this.#request({
      kind: 'open',
      callId,
      bridgeRate,
      media: { jitterBuffer: media.jitterBuffer, encryption: media.encryption },
      ...(continueFrom ? { continueFrom } : {}),
    }).finally(() => {
      this.#opening--;
    });
    const { localPort, position } = reply;
    if (localPort === undefined || !position) throw new Error('media worker opened no port');
    const leg = new RemoteMediaLeg(callId, { localPort, position }, this.#link, this.#clock);
    this.#legs.set(callId, leg);
    return leg;
  }

  /** Asks the worker to close its calls and end. */
  stop(): void {
    if (!this.failed) this.#port.postMessage({ kind: 'stop' });
  }

  /** The worker is gone: every pending step fails and every call it carried is lost. */
  fail(detail: string): void {
    if (this.#failure !== undefined) return;
    this.#failure = detail;
    for (const leg of this.#legs.values()) leg.fail(detail);
    this.#legs.clear();
    for (const pending of this.#pending.values()) pending.reject(new MediaWorkerLost(detail));
    this.#pending.clear();
  }

  readonly #link: LegLink = {
    send: (message) => {
      if (!this.failed) this.#port.postMessage(message);
    },
    request: (message, signal) => this.#request(message, signal),
    release: (callId) => {
      this.#legs.delete(callId);
    },
  };

  /** `signal` gives up waiting: the request is forgotten, so a stuck worker piles up nothing. */
  #request(message: WorkerRequestBody, signal?: AbortSignal): Promise<Reply> {
    if (this.#failure !== undefined) return Promise.reject(new MediaWorkerLost(this.#failure));
    const request = this.#nextRequest++;
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.set(request, { resolve, reject });
      signal?.addEventListener(
        'abort',
        () => {
          if (this.#pending.delete(request)) reject(new Error('the media worker did not answer in time'));
        },
        { once: true },
      );
      this.#port.postMessage({ ...message, request } as WorkerRequest);
    });
  }

  /** Requests waiting for the worker's answer. */
  get pendingRequests(): number {
    return this.#pending.size;
  }

  #receive(message: FromWorker): void {
    if (this.failed) return;
    switch (message.kind) {
      case 'reply': {
        const pending = this.#pending.get(message.request);
        this.#pending.delete(message.request);
        if (message.error === undefined) pending?.resolve(message);
        else pending?.reject(new Error(message.error));
        return;
      }
      case 'report': {
        const { callIds, figures, details } = message;
        for (let i = 0; i < callIds.length; i++)
          this.#legs.get(callIds[i] as string)?.receiveFigures(figures, i * FIGURES_PER_LEG);
        for (const detail of details) this.#legs.get(detail.callId)?.receiveDetail(detail);
        this.#sink.clock(message.clock);
        this.#sink.latencies(message.latencies);
        this.#sink.heap(message.heap);
        return;
      }
      default:
        this.#legs.get(message.callId)?.receive(message);
    }
  }
}
