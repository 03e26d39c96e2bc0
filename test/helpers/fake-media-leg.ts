/**
 * A media leg without sockets, for bridge and call-flow tests: the test plays caller frames
 * and DTMF into it, pulls the bot's audio out of it, and sees what the call asked of it.
 */
import type { DtmfEvent } from '../../src/media/dtmf.js';
import {
  type BotAudioFrame,
  type BotAudioPull,
  type LateFrameCounts,
  type MediaLegEvents,
  type MediaLegStats,
  type NegotiatedMedia,
  NO_LATE_FRAMES,
  type RtpPosition,
} from '../../src/media/index.js';
import { TypedEmitter } from '../../src/util/index.js';

export class FakeMediaLeg extends TypedEmitter<MediaLegEvents> {
  readonly localPort: number;
  readonly started: NegotiatedMedia[] = [];
  readonly updates: NegotiatedMedia[] = [];
  readonly dtmfSent: Array<{ digits: string; durationMs: number | undefined }> = [];
  closed = false;
  /** How many times close() was called (a call closes its leg once). */
  closeCount = 0;
  /** Milliseconds since RTP last arrived, as stats() reports it. */
  inactiveMs = 0;
  /** What stats() reports of late frames. */
  lateFrames: LateFrameCounts = { ...NO_LATE_FRAMES };
  #botAudio: BotAudioPull | undefined;
  /** How many times the bridge said bot audio arrived. */
  botAudioReadyCount = 0;
  #startGate: Promise<void> | undefined;
  #releaseStart: (() => void) | undefined;

  /**
   * `journal` gets 'media.close' on the first close, for tests that check teardown order;
   * `continuedFrom` is the position a resumed call's leg was opened to continue.
   */
  constructor(
    localPort = 40000,
    readonly journal?: string[],
    readonly continuedFrom?: RtpPosition,
  ) {
    super();
    this.localPort = localPort;
  }

  attachBotAudio(pull: BotAudioPull): void {
    if (this.#botAudio) throw new Error('media leg already has a bot audio source');
    this.#botAudio = pull;
  }

  botAudioReady(): void {
    this.botAudioReadyCount++;
  }

  /** Makes start() wait for releaseStart(), like a real leg still setting up its socket. */
  holdStart(): void {
    this.#startGate = new Promise((resolve) => {
      this.#releaseStart = resolve;
    });
  }

  releaseStart(): void {
    this.#releaseStart?.();
  }

  async start(media: NegotiatedMedia): Promise<void> {
    await this.#startGate;
    this.started.push(media);
  }

  async update(media: NegotiatedMedia): Promise<void> {
    this.updates.push(media);
  }

  sendDtmf(digits: string, durationMs?: number): void {
    this.dtmfSent.push({ digits, durationMs });
  }

  sampleSocketDrops(): number {
    return 0;
  }

  /** Under SRTP, a stream whose sequence numbers wrapped three times, the far end's once. */
  position(): RtpPosition {
    const srtp = this.started.at(-1)?.srtp
      ? {
          rolloverCount: 3,
          srtcpIndex: 12,
          received: { ssrc: 77, rolloverCount: 1, highestSeq: 500, srtcpIndex: 31 },
        }
      : undefined;
    return { ssrc: 1, sequenceNumber: 0, timestamp: 0, ...(srtp ? { srtp } : {}) };
  }

  stats(): MediaLegStats {
    return {
      rtp: undefined,
      jitterBuffer: undefined,
      codec: this.started.at(-1)?.codec.name ?? 'none',
      fecRecoveredFrames: 0,
      lateFrames: { ...this.lateFrames },
      inactiveMs: this.inactiveMs,
      handlerErrors: 0,
    };
  }

  close(): void {
    if (!this.closed) this.journal?.push('media.close');
    this.closed = true;
    this.closeCount++;
  }

  /** The consumer asked for `callerMulaw` frames (passCallerMulaw). */
  passingMulaw = false;

  passCallerMulaw(): void {
    this.passingMulaw = true;
  }

  /** A frame of the carrier's PCMU bytes passed as they came, from RTP that arrived at `arrivalMs`. */
  playCallerMulaw(mulaw: Uint8Array, arrivalMs?: number): void {
    this.safeEmit('callerMulaw', mulaw, arrivalMs);
  }

  /** A frame of caller audio, as if decoded from RTP that arrived at `arrivalMs`. */
  playCaller(pcm: Int16Array, arrivalMs?: number): void {
    this.safeEmit('callerAudio', pcm, arrivalMs);
  }

  playDtmf(event: DtmfEvent): void {
    this.safeEmit('dtmf', event);
  }

  /** The frame the bot side would send to the caller on this tick. */
  pullBot(mayHold = false): BotAudioFrame | undefined {
    return this.#botAudio?.(mayHold);
  }
}
