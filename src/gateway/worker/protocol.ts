/**
 * What the main thread and a media worker say to each other (`media.workers`). Plain objects,
 * structured-cloned: one message per call step (open, start, update, DTMF, bot connect, close)
 * and one report per worker every REPORT_INTERVAL_MS carrying the figures the main thread
 * reads every interval as numbers in one transferred array, a share of the calls' full figures,
 * and the metrics the media fed. Audio frames never cross: they stay inside the worker.
 */
import type { StreamTarget } from '../../config/index.js';
import type {
  BridgeRate,
  DtmfEvent,
  JitterDelayBounds,
  MediaClockStats,
  MediaLegStats,
  NegotiatedMedia,
  RtpPosition,
  SrtpKeying,
} from '../../media/index.js';
import { type BinnedValues, type MediaEncryption, SecretBytes } from '../../util/index.js';
import type { BotCallInfo, BotStreamStats } from '../ports.js';

/** How often a worker reports its calls' figures and its metrics. */
export const REPORT_INTERVAL_MS = 500;

/**
 * A call's full figures (LegDetail) ride in the first report after it opens and then in one
 * report of every DETAIL_EVERY_REPORTS, each call in its own turn (5 s apart). Structured-cloning
 * every call's nested stats twice a second took a quarter of the main thread's CPU at 200 calls,
 * for figures that only the API (which asks the worker for them fresh) and a record (sent at the
 * close) read. They are what a call whose worker dies keeps.
 */
export const DETAIL_EVERY_REPORTS = 10;

/** Where each of a call's numbers sits in its FIGURES_PER_LEG slots of a report's `figures`. */
export const LegFigure = {
  inactiveMs: 0,
  ssrc: 1,
  sequenceNumber: 2,
  timestamp: 3,
  /** Kernel drops on the call's sockets since the previous report. */
  socketDrops: 4,
  /** The bot's audio queued towards the caller, in samples at the bridge rate (0 without a bot). */
  queuedSamples: 5,
  /** Under SRTP (else NaN, as every SRTP slot): our rollover counter at `sequenceNumber`. */
  srtpRolloverCount: 6,
  srtcpIndex: 7,
  /** The far end's audio source as last authenticated (NaN before any). */
  srtpReceivedSsrc: 8,
  srtpReceivedRolloverCount: 9,
  srtpReceivedHighestSeq: 10,
  /** The highest SRTCP index authenticated from that source (NaN before any). */
  srtpReceivedSrtcpIndex: 11,
} as const;
export const FIGURES_PER_LEG = Object.keys(LegFigure).length;

/** Writes `position` into a call's slots of a report's `figures` from `at`. */
export function writePosition(figures: Float64Array, at: number, position: RtpPosition): void {
  figures[at + LegFigure.ssrc] = position.ssrc;
  figures[at + LegFigure.sequenceNumber] = position.sequenceNumber;
  figures[at + LegFigure.timestamp] = position.timestamp;
  const srtp = position.srtp;
  const received = srtp?.received;
  figures[at + LegFigure.srtpRolloverCount] = srtp ? srtp.rolloverCount : Number.NaN;
  figures[at + LegFigure.srtcpIndex] = srtp ? srtp.srtcpIndex : Number.NaN;
  figures[at + LegFigure.srtpReceivedSsrc] = received ? received.ssrc : Number.NaN;
  figures[at + LegFigure.srtpReceivedRolloverCount] = received ? received.rolloverCount : Number.NaN;
  figures[at + LegFigure.srtpReceivedHighestSeq] = received ? received.highestSeq : Number.NaN;
  figures[at + LegFigure.srtpReceivedSrtcpIndex] = received?.srtcpIndex ?? Number.NaN;
}

/** The position writePosition wrote at `at`. */
export function readPosition(figures: Float64Array, at: number): RtpPosition {
  const figure = (slot: number): number => figures[at + slot] as number;
  const position: RtpPosition = {
    ssrc: figure(LegFigure.ssrc),
    sequenceNumber: figure(LegFigure.sequenceNumber),
    timestamp: figure(LegFigure.timestamp),
  };
  if (Number.isNaN(figure(LegFigure.srtpRolloverCount))) return position;
  const receivedSsrc = figure(LegFigure.srtpReceivedSsrc);
  const receivedSrtcpIndex = figure(LegFigure.srtpReceivedSrtcpIndex);
  position.srtp = {
    rolloverCount: figure(LegFigure.srtpRolloverCount),
    srtcpIndex: figure(LegFigure.srtcpIndex),
    ...(Number.isNaN(receivedSsrc)
      ? {}
      : {
          received: {
            ssrc: receivedSsrc,
            rolloverCount: figure(LegFigure.srtpReceivedRolloverCount),
            highestSeq: figure(LegFigure.srtpReceivedHighestSeq),
            ...(Number.isNaN(receivedSrtcpIndex) ? {} : { srtcpIndex: receivedSrtcpIndex }),
          },
        }),
  };
  return position;
}

/** What a worker is started with (`workerData`). */
export interface MediaWorkerData {
  /** The worker's own slice of `rtp.portMin..portMax`. */
  portMin: number;
  portMax: number;
  /**
   * Where the slice's round-robin starts: after the last port the slot's previous worker gave
   * out, so a carrier still sending to a dead call's port does not reach a new call.
   */
  firstPort?: number;
  bindAddress: string;
  pacingLeadMs: number;
  logLevel: string;
}

/**
 * NegotiatedMedia as it crosses: SDES keys as plain bytes (a SecretBytes keeps them in a private
 * field, which structured clone does not copy). They go from thread to thread, never to a log.
 */
export type WireMedia = Omit<NegotiatedMedia, 'srtp'> & {
  srtp?: Omit<SrtpKeying, 'sendKey' | 'receiveKey'> & { sendKey: Uint8Array; receiveKey: Uint8Array };
};

export function mediaToWire(media: NegotiatedMedia): WireMedia {
  const { srtp, ...rest } = media;
  if (!srtp) return rest;
  return { ...rest, srtp: { ...srtp, sendKey: srtp.sendKey.bytes, receiveKey: srtp.receiveKey.bytes } };
}

export function mediaFromWire(media: WireMedia): NegotiatedMedia {
  const { srtp, ...rest } = media;
  if (!srtp) return rest;
  return {
    ...rest,
    srtp: { ...srtp, sendKey: new SecretBytes(srtp.sendKey), receiveKey: new SecretBytes(srtp.receiveKey) },
  };
}

/** A step the main thread waits for: the worker answers with a `reply` of the same `request`. */
export type WorkerRequest =
  | {
      kind: 'open';
      request: number;
      callId: string;
      bridgeRate: BridgeRate;
      media: { jitterBuffer: JitterDelayBounds; encryption: MediaEncryption };
      continueFrom?: RtpPosition;
    }
  | { kind: 'start' | 'update'; request: number; callId: string; media: WireMedia }
  /** Answered with the call's figures (`detail`): now, or as they stood at the close, for its record. */
  | { kind: 'detail' | 'close'; request: number; callId: string }
  /** Answered with an error when the leg refuses the digits (a full queue). */
  | { kind: 'sendDtmf'; request: number; callId: string; digits: string; durationMs?: number };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A request as its sender writes it; the channel numbers it. */
export type WorkerRequestBody = DistributiveOmit<WorkerRequest, 'request'>;

export type ToWorker =
  | WorkerRequest
  /** `target.url` is already resolved (no `builtin:` left: the echo bot runs on the main thread). */
  | { kind: 'connectBot'; callId: string; call: BotCallInfo; target: StreamTarget }
  | { kind: 'callerDtmf'; callId: string; digit: string; durationMs: number | undefined }
  | { kind: 'closeBot'; callId: string; reason: string }
  /** Close every call and let the thread end on its own. */
  | { kind: 'stop' };

/**
 * The worker thread's own V8 isolate as of `report` time (v8.getHeapStatistics() in the worker:
 * the main thread's heap figures do not include it), bytes.
 */
export interface WorkerHeap {
  /** Live and not yet collected JS objects. */
  usedBytes: number;
  /** Memory outside the heap that its objects hold: ArrayBuffer and Buffer backing stores. */
  externalBytes: number;
  /** The heap's pages V8 holds from the OS, in use or not (total_heap_size): what RSS sees. */
  committedBytes: number;
}

/** One call's full figures as the worker read them. */
export interface LegDetail {
  callId: string;
  stats: MediaLegStats;
  bot: BotStreamStats | undefined;
}

export type FromWorker =
  | {
      kind: 'reply';
      request: number;
      localPort?: number;
      position?: RtpPosition;
      detail?: LegDetail;
      error?: string;
    }
  | { kind: 'dtmf'; callId: string; event: DtmfEvent }
  | { kind: 'botReady'; callId: string }
  | { kind: 'botFailed'; callId: string; error: string }
  | { kind: 'botHangup' | 'botGone'; callId: string; reason: string }
  | { kind: 'botTransfer'; callId: string; target: string }
  | {
      kind: 'report';
      /** The calls in `figures`' order. */
      callIds: string[];
      /** FIGURES_PER_LEG numbers per call, laid out by LegFigure (transferred, not copied). */
      figures: Float64Array;
      /** The full figures of the calls whose turn it is (DETAIL_EVERY_REPORTS). */
      details: LegDetail[];
      /** The worker's media clock, cumulative. */
      clock: MediaClockStats;
      /**
       * RTP-arrival-to-bot-socket latencies (seconds) of the frames sent since the last report,
       * binned by RTP_TO_WEBSOCKET_BOUNDS: a fixed size whatever the frame count.
       */
      latencies: BinnedValues;
      heap: WorkerHeap;
    };
