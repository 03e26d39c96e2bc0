/**
 * A call's media leg as the main thread holds it when a media worker carries the media: the
 * CallMediaLeg the controller drives, with each step sent to the worker. Its inactivity,
 * position, socket drops and queued bot audio come in every report (at most REPORT_INTERVAL_MS
 * old); the full figures (`stats`, the bot's stats) come in the call's turn of the reports
 * (DETAIL_EVERY_REPORTS), fresh when `refresh` asks for them, and at the close as its answer.
 */

import type { StreamTarget } from '../../config/index.js';
import {
  assertDtmfDigits,
  type DtmfEvent,
  MEDIA_FRAME_MS,
  type MediaLegEvents,
  type MediaLegStats,
  movedOn,
  type NegotiatedMedia,
  NO_LATE_FRAMES,
  type RtpPosition,
} from '../../media/index.js';
import { type Clock, TypedEmitter } from '../../util/index.js';
import {
  type BotCallInfo,
  type BotHooks,
  type BotStream,
  type BotStreamStats,
  type CallMediaLeg,
  NO_BOT_STREAM_STATS,
} from '../ports.js';
import {
  type FromWorker,
  type LegDetail,
  LegFigure,
  mediaToWire,
  readPosition,
  type ToWorker,
  type WorkerRequestBody,
} from './protocol.js';
import { RemoteBotStream } from './remote-bot.js';

/**
 * How long a closing call waits for its worker's final figures before its record takes the last
 * detail (and the API its figures): a worker answers within a tick even when behind; one stuck
 * longer is not waited for.
 */
const DETAIL_WAIT_MS = 1000;

/** What a remote leg needs of the channel to its worker. */
export interface LegLink {
  send(message: ToWorker): void;
  /** Resolves with the worker's reply; rejects with its error, when the worker dies, or on `signal`. */
  request(message: WorkerRequestBody, signal?: AbortSignal): Promise<Extract<FromWorker, { kind: 'reply' }>>;
  /** The leg is closed: the channel forgets it. */
  release(callId: string): void;
}

/** The one leg event that crosses from the worker: a caller's RFC 4733 digit. */
class DtmfEvents extends TypedEmitter<Pick<MediaLegEvents, 'dtmf'>> {
  digit(event: DtmfEvent): void {
    this.safeEmit('dtmf', event);
  }
}

export class RemoteMediaLeg implements CallMediaLeg {
  readonly callId: string;
  readonly localPort: number;
  readonly lost: Promise<string>;
  readonly #link: LegLink;
  readonly #clock: Clock;
  readonly #events = new DtmfEvents();
  #markLost: (detail: string) => void = () => undefined;
  #media: NegotiatedMedia | undefined;
  #detail: LegDetail | undefined;
  /** The far end's silence as of `#inactiveAtMs` (the leg's opening, the last report or answer). */
  #inactiveMs = 0;
  #inactiveAtMs: number;
  /** The stream towards the caller as of `#positionAtMs` (the opening, or the last report). */
  #position: RtpPosition;
  #positionAtMs: number;
  #socketDrops = 0;
  #queuedSamples = 0;
  #bot: RemoteBotStream | undefined;
  #closed = false;
  #settled: Promise<void> | undefined;

  constructor(
    callId: string,
    opened: { localPort: number; position: RtpPosition },
    link: LegLink,
    clock: Clock,
  ) {
    this.callId = callId;
    this.localPort = opened.localPort;
    this.#position = opened.position;
    this.#link = link;
    this.#clock = clock;
    this.#inactiveAtMs = clock.now();
    this.#positionAtMs = this.#inactiveAtMs;
    this.lost = new Promise((resolve) => {
      this.#markLost = resolve;
    });
  }

  async start(media: NegotiatedMedia): Promise<void> {
    await this.#link.request({ kind: 'start', callId: this.callId, media: mediaToWire(media) });
    this.#media = media;
  }

  async update(media: NegotiatedMedia): Promise<void> {
    await this.#link.request({ kind: 'update', callId: this.callId, media: mediaToWire(media) });
    this.#media = media;
  }

  /**
   * Checked here as MediaLeg checks it (media started, digits, duration), without a round trip;
   * a full queue is found in the worker, whose refusal rejects.
   */
  async sendDtmf(digits: string, durationMs?: number): Promise<void> {
    const media = this.#media;
    if (!media) throw new Error('media not started');
    assertDtmfDigits(digits, durationMs, media.telephoneEvent?.clockRate ?? media.codec.clockRate);
    await this.#link.request({
      kind: 'sendDtmf',
      callId: this.callId,
      digits,
      ...(durationMs === undefined ? {} : { durationMs }),
    });
  }

  /** The last detail's figures, with the inactivity of the last report moved on by the time since. */
  stats(): MediaLegStats {
    const inactiveMs = this.inactiveMs;
    const stats = this.#detail?.stats;
    if (!stats)
      return {
        rtp: undefined,
        jitterBuffer: undefined,
        codec: 'none',
        fecRecoveredFrames: 0,
        lateFrames: { ...NO_LATE_FRAMES },
        inactiveMs,
        handlerErrors: 0,
      };
    return { ...stats, inactiveMs };
  }

  /** The far end's silence as of the last report or answer, moved on by the time since. */
  get inactiveMs(): number {
    return this.#inactiveMs + this.#clock.now() - this.#inactiveAtMs;
  }

  /** Asks the worker for the call's figures now, for a reader that shows them (the API). */
  async refresh(): Promise<void> {
    if (!this.#closed) await this.#askDetail('detail');
  }

  /**
   * The reported position moved on by the time since, as a continuing node moves it
   * (call-snapshot.ts): one packet per frame, the clock rate's samples per millisecond.
   */
  position(): RtpPosition {
    const media = this.#media;
    if (!media) return { ...this.#position };
    const elapsedMs = Math.max(0, this.#clock.now() - this.#positionAtMs);
    return movedOn(
      this.#position,
      Math.floor(elapsedMs / MEDIA_FRAME_MS),
      Math.round((elapsedMs * media.codec.clockRate) / 1000),
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#settled = this.#askDetail('close');
    this.#link.release(this.callId);
    this.#events.removeAllListeners();
  }

  /**
   * Resolves once `stats()` and the bot's are final after `close()`: the worker's figures at the
   * close, or its last detail when it is gone or has not answered within DETAIL_WAIT_MS.
   */
  settled(): Promise<void> {
    return this.#settled ?? Promise.resolve();
  }

  /** The call's figures from the worker, waited for at most DETAIL_WAIT_MS. */
  async #askDetail(kind: 'detail' | 'close'): Promise<void> {
    const giveUp = new AbortController();
    const timer = this.#clock.setTimer(DETAIL_WAIT_MS, () => giveUp.abort());
    try {
      const reply = await this.#link.request({ kind, callId: this.callId }, giveUp.signal);
      if (reply.detail) this.receiveDetail(reply.detail);
    } catch {
      // The worker died or is stuck: its last detail is all there is.
    } finally {
      timer.cancel();
    }
  }

  /** The bot's audio is joined to the leg inside the worker (connectBot). */
  attachBotAudio(): void {
    throw new Error('a media worker joins the bot audio to the leg');
  }

  botAudioReady(): void {
    throw new Error('a media worker joins the bot audio to the leg');
  }

  /** The drops the worker counted on the leg's sockets since the previous sample. */
  sampleSocketDrops(): number {
    const drops = this.#socketDrops;
    this.#socketDrops = 0;
    return drops;
  }

  on<K extends keyof MediaLegEvents & string>(
    event: K,
    listener: (...args: MediaLegEvents[K]) => void,
  ): this {
    // Caller audio is per frame: it never leaves the worker.
    if (event !== 'dtmf') throw new Error(`media leg event ${event} stays in the media worker`);
    this.#events.on('dtmf', listener as (event: DtmfEvent) => void);
    return this;
  }

  /** The bot, connected in the worker to this leg. */
  connectBot(call: BotCallInfo, target: StreamTarget, hooks: BotHooks): BotStream {
    if (this.#closed) throw new Error('media leg closed');
    this.#bot = new RemoteBotStream(this.callId, this.#link, hooks, () => this.#botStats());
    this.#link.send({ kind: 'connectBot', callId: this.callId, call, target });
    return this.#bot;
  }

  /** A message from the worker about this call. */
  receive(message: Extract<FromWorker, { callId: string }>): void {
    if (message.kind === 'dtmf') this.#events.digit(message.event);
    else this.#bot?.receive(message);
  }

  /** This call's numbers in a report's `figures`, from `at` (laid out by LegFigure). */
  receiveFigures(figures: Float64Array, at: number): void {
    this.#inactiveAtMs = this.#clock.now();
    this.#positionAtMs = this.#inactiveAtMs;
    this.#inactiveMs = figures[at + LegFigure.inactiveMs] as number;
    this.#position = readPosition(figures, at);
    this.#socketDrops += figures[at + LegFigure.socketDrops] as number;
    this.#queuedSamples = figures[at + LegFigure.queuedSamples] as number;
  }

  /** The call's full figures, from its turn in a report or from an answer. */
  receiveDetail(detail: LegDetail): void {
    this.#detail = detail;
    // An answer is newer than the last report: its inactivity and queue stand from now.
    this.#inactiveMs = detail.stats.inactiveMs;
    this.#inactiveAtMs = this.#clock.now();
    this.#queuedSamples = detail.bot?.queuedSamples ?? this.#queuedSamples;
  }

  /** The last detail's bot figures with the last report's queue. */
  #botStats(): BotStreamStats {
    return { ...(this.#detail?.bot ?? NO_BOT_STREAM_STATS), queuedSamples: this.#queuedSamples };
  }

  /** The worker carrying this leg died: its bot is gone and the call must end. */
  fail(detail: string): void {
    this.#bot?.fail(detail);
    this.#markLost(detail);
  }
}
