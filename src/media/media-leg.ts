/**
 * The carrier-side media of one call: RTP socket, jitter-buffered decode towards the bot,
 * encode of the bot's audio towards the caller, RFC 4733 DTMF both ways. Driven by the
 * process-wide MediaClock, one tick per 20 ms frame.
 */
import type { AudioCodecName, Clock, Logger, MediaDirection, MediaEncryption } from '../util/index.js';
import { TypedEmitter } from '../util/index.js';
import { type BridgeRate, MAX_OPUS_LOSS_PERCENT, MIN_OPUS_LOSS_PERCENT } from './carrier-codecs.js';
import { type BotAudioFrame, CodecChain } from './codec-chain.js';
import { type DtmfEvent, DtmfReceiver, DtmfSender, DtmfTransmitter } from './dtmf.js';
import { DtmfTones } from './dtmf-tones.js';
import { HeldSlots } from './held-slots.js';
import { type JitterDelayBounds, type JitterStats, LateFrameWait } from './jitter/index.js';
import { MAX_CATCH_UP_TICKS, type MediaClock } from './media-clock.js';
import {
  type PortAllocator,
  type ReceivedRtp,
  RtpSession,
  type RtpStreamStats,
  type SendBatch,
  type UdpDropTable,
} from './rtp/index.js';
import type { RtpPosition } from './rtp-position.js';
import type { SrtpKeying } from './srtp/index.js';

export interface NegotiatedMedia {
  remoteAddress: string;
  remotePort: number;
  remoteRtcpPort?: number;
  rtcpMux: boolean;
  codec: { payloadType: number; name: AudioCodecName; clockRate: number; channels: number };
  telephoneEvent?: { payloadType: number; clockRate: number };
  /** The far end's direction attribute; we send only when it receives. Default 'sendrecv'. */
  direction?: MediaDirection;
  /** SDES keys when the m= line is RTP/SAVP; a later update without them turns SRTP off. */
  srtp?: SrtpKeying;
}

interface MediaLegOptions {
  portAllocator: PortAllocator;
  bindAddress: string;
  clock: Clock;
  mediaClock: MediaClock;
  /** The thread's RTP sends, put on the wire once per loop turn (see SendBatch). */
  sendBatch?: SendBatch;
  logger?: Logger;
  bridgeRate: BridgeRate;
  /** Bounds of the jitter buffer's target delay (the trunk's `media.jitterBuffer`). */
  jitterBuffer?: JitterDelayBounds;
  /**
   * The trunk's `media.encryption`: `required` takes nothing as plain RTP, also before `start`
   * brings the keys (an outbound call's media ahead of its 200 OK).
   */
  encryption?: MediaEncryption;
  /** Continue a stream another node sent (call takeover): same SSRC, from this position on. */
  continueFrom?: RtpPosition;
}

export interface MediaLegStats {
  rtp: RtpStreamStats | undefined;
  jitterBuffer: JitterStats | undefined;
  /** `name/clockRate/payloadType` of the running codec, or 'none' before start. */
  codec: string;
  /** Lost Opus frames rebuilt from in-band FEC (0 for G.711). */
  fecRecoveredFrames: number;
  lateFrames: LateFrameCounts;
  /** How long the far end has sent no RTP; 0 while it holds the call and sends none (recvonly, inactive). */
  inactiveMs: number;
  handlerErrors: number;
}

/**
 * Frames late at their tick that the leg sent as they came rather than covering the tick with
 * a guess: caller frames that waited for their packet, bot frames whose RTP slot was held.
 */
export interface LateFrameCounts {
  /** Caller frames whose packet was late at their tick and that waited for it. */
  callerWaited: number;
  /** Of those, the frames whose packet came before the next tick (the others were concealed). */
  callerArrived: number;
  /** Ticks whose bot frame was late, mid-utterance: the tick's RTP slot was held for it. */
  botHeld: number;
  /** Of those, the slots the bot's frame filled while they were held (the others got what was queued, silence at worst). */
  botArrived: number;
}

export const NO_LATE_FRAMES: Readonly<LateFrameCounts> = {
  callerWaited: 0,
  callerArrived: 0,
  botHeld: 0,
  botArrived: 0,
};

export interface MediaLegEvents {
  /**
   * One frame of caller audio at the bridge rate per tick: at the tick, or when its packet is
   * late, as the packet arrives (at the next tick at the latest). `arrivalMs` is when the newest
   * packet in it arrived (undefined for concealment or silence), for the frame's latency.
   * `pcm` is a buffer the leg reuses for the next frame: use it now, or copy it.
   */
  callerAudio: [pcm: Int16Array, arrivalMs: number | undefined];
  /**
   * A caller frame in place of `callerAudio`, after passCallerMulaw(): the carrier's PCMU bytes
   * as they came (behind the PLC's delay line), for a frame nothing had to conceal or stretch.
   * A buffer the leg reuses, like `callerAudio`'s.
   */
  callerMulaw: [mulaw: Uint8Array, arrivalMs: number | undefined];
  /** An RFC 4733 digit from the caller. */
  dtmf: [event: DtmfEvent];
}

/**
 * Audio towards the caller, pulled once per tick. With `mayHold`, the source may answer
 * undefined to hold the tick's slot: its next frame is due but late (see Playout's
 * `holdsSlot`). The leg then sends the slot, with the tick's RTP timestamp, at
 * `botAudioReady()`, or else, as whatever the source has (silence at worst), at the first tick
 * half a frame or more later (HeldSlots: ticks caught up after a stall hold theirs until then).
 */
export type BotAudioPull = (mayHold: boolean) => BotAudioFrame | undefined;

export class MediaLeg extends TypedEmitter<MediaLegEvents> {
  readonly #session: RtpSession;
  readonly #options: MediaLegOptions;
  #media: NegotiatedMedia | undefined;
  #chain: CodecChain | undefined;
  #dtmfReceiver: DtmfReceiver | undefined;
  #dtmfTransmitter: DtmfTransmitter | undefined;
  /** Digits sent in the audio, for a carrier without telephone-event. */
  #dtmfTones: DtmfTones | undefined;
  #ticking = false;
  #listening = false;
  #botAudio: BotAudioPull | undefined;
  #callerMulaw = false;
  #sendTimestamp = 0;
  /** The tick slots held for late bot audio. */
  readonly #heldSlots = new HeldSlots<BotAudioFrame>(
    MAX_CATCH_UP_TICKS,
    (mayHold) => this.#botAudio?.(mayHold),
    (frame, timestamp) => this.#sendHeld(frame, timestamp),
  );
  /**
   * The bot has no playout clock to keep: a caller frame whose packet is late goes to it when
   * the packet arrives, within a frame, rather than as concealment at the tick.
   */
  readonly #lateCallerFrame = new LateFrameWait(
    () => this.#chain?.receiver.streamLate ?? false,
    () => this.#emitCallerFrame(),
  );
  /** RFC 3551 §4.1: marker on the first packet of a talkspurt (start, after DTMF, after hold). */
  #markNext = true;
  /** The audio packet's header fields, one object reused for every frame. */
  readonly #sendOptions = { payloadType: 0, timestamp: 0, marker: false };
  #lastRtpMs: number;
  #handlerErrors = 0;
  #closed = false;

  private constructor(session: RtpSession, options: MediaLegOptions) {
    super();
    this.#session = session;
    this.#options = options;
    this.#lastRtpMs = options.clock.now();
    if (options.continueFrom) this.#sendTimestamp = options.continueFrom.timestamp >>> 0;
  }

  /** Binds the RTP port first so the SDP answer can name it. */
  static async open(options: MediaLegOptions): Promise<MediaLeg> {
    const session = await RtpSession.open({
      portRange: options.portAllocator,
      bindAddress: options.bindAddress,
      clock: options.clock,
      srtpRequired: options.encryption === 'required',
      ...(options.sendBatch ? { sendBatch: options.sendBatch } : {}),
      ...(options.continueFrom
        ? {
            ssrc: options.continueFrom.ssrc,
            sequenceNumber: options.continueFrom.sequenceNumber,
            ...(options.continueFrom.srtp ? { srtp: options.continueFrom.srtp } : {}),
          }
        : {}),
    });
    return new MediaLeg(session, options);
  }

  get localPort(): number {
    return this.#session.localPort;
  }

  /** The stream towards the caller now (for a snapshot another node could continue from). */
  position(): RtpPosition {
    const srtp = this.#session.srtpPosition;
    return {
      ssrc: this.#session.ssrc,
      sequenceNumber: this.#session.nextSequenceNumber,
      timestamp: this.#sendTimestamp,
      ...(srtp ? { srtp } : {}),
    };
  }

  /**
   * The one source of audio towards the caller, pulled once per tick. A second source is an
   * error rather than a silent replacement.
   */
  attachBotAudio(pull: BotAudioPull): void {
    if (this.#botAudio) throw new Error('media leg already has a bot audio source');
    this.#botAudio = pull;
  }

  /**
   * The consumer takes caller frames as µ-law too: a PCMU call's frames that play as they came
   * then go as `callerMulaw`, never decoded (a µ-law bot's stream carries the carrier's bytes).
   */
  passCallerMulaw(): void {
    this.#callerMulaw = true;
  }

  /** Bot audio arrived: a slot held for it goes out now if the source has its frame. */
  botAudioReady(): void {
    this.#guard(this.#fillHeldSlots, undefined);
  }

  async start(media: NegotiatedMedia): Promise<void> {
    await this.#apply(media);
    if (!this.#listening) this.#session.on('packet', this.#onPacket);
    this.#listening = true;
    if (!this.#ticking) this.#options.mediaClock.on('tick', this.#tick);
    this.#ticking = true;
  }

  /** Re-INVITE: new remote, codec, direction or SRTP keys. The send timestamp stays continuous. */
  async update(media: NegotiatedMedia): Promise<void> {
    const [wasSending, farEndSent] = [this.#sending, this.#farEndSends];
    await this.#apply(media);
    if (!wasSending && this.#sending) this.#markNext = true;
    // Off hold: the far end's silence counts again from now, not from before the hold.
    if (!farEndSent && this.#farEndSends) this.#lastRtpMs = this.#options.clock.now();
  }

  /**
   * Digits towards the caller, each `durationMs` long (default 100 ms): RFC 4733 events where
   * the carrier negotiated telephone-event, else ITU-T Q.23 tones in the audio (dtmf-tones.ts).
   * Throws RangeError on a bad digit or duration or a full queue, Error before the media starts.
   */
  sendDtmf(digits: string, durationMs?: number): void {
    if (!this.#media) throw new Error('media not started');
    if (this.#dtmfTransmitter) {
      this.#dtmfTransmitter.enqueue(digits, durationMs);
      return;
    }
    this.#dtmfTones ??= new DtmfTones(this.#options.bridgeRate);
    this.#dtmfTones.enqueue(digits, durationMs);
  }

  /** Kernel drops on this leg's sockets since the last call, from one /proc read shared by all legs. */
  sampleSocketDrops(table: UdpDropTable): number {
    return this.#session.sampleSocketDrops(table);
  }

  stats(): MediaLegStats {
    const chain = this.#chain;
    return {
      rtp: this.#closed ? undefined : this.#session.stats(),
      jitterBuffer: chain?.receiver.stats(),
      codec: chain?.codecKey ?? 'none',
      fecRecoveredFrames: chain?.decoder.recoveredFrames ?? 0,
      lateFrames: {
        callerWaited: this.#lateCallerFrame.waited,
        callerArrived: this.#lateCallerFrame.arrived,
        botHeld: this.#heldSlots.held,
        botArrived: this.#heldSlots.arrived,
      },
      inactiveMs: this.inactiveMs,
      handlerErrors: this.#handlerErrors,
    };
  }

  /** stats().inactiveMs alone, for a reader that wants no more every second or report. */
  get inactiveMs(): number {
    return this.#farEndSends ? this.#options.clock.now() - this.#lastRtpMs : 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#options.mediaClock.off('tick', this.#tick);
    this.#session.off('packet', this.#onPacket);
    this.#closeChain();
    this.#session.close();
    this.removeAllListeners();
  }

  // Bound once, so the clock's and the session's listener lists are not touched per frame,
  // and guarded without a closure per call.
  readonly #tick = (tickMs: number): void => this.#guard(this.#onTick, tickMs);
  readonly #onPacket = (packet: ReceivedRtp): void => this.#guard(this.#onRtp, packet);

  get #sending(): boolean {
    const direction = this.#media?.direction ?? 'sendrecv';
    return direction === 'sendrecv' || direction === 'recvonly';
  }

  /** The far end sends RTP: not while it holds the call with recvonly or inactive (RFC 3264 §8.4). */
  get #farEndSends(): boolean {
    const direction = this.#media?.direction ?? 'sendrecv';
    return direction === 'sendrecv' || direction === 'sendonly';
  }

  async #apply(media: NegotiatedMedia): Promise<void> {
    if (this.#chain?.codecKey !== CodecChain.keyOf(media.codec)) {
      const { bridgeRate, clock, jitterBuffer, mediaClock } = this.#options;
      const frameMs = mediaClock.frameMs;
      const chain = await CodecChain.build({ codec: media.codec, bridgeRate, clock, jitterBuffer, frameMs });
      if (this.#closed) {
        // Closed while the chain was built: its codecs' WASM memory goes with it, not to the leg.
        chain.close();
        throw new Error('media leg closed while its codec was set up');
      }
      // A caller frame waiting on the old buffer goes now, concealed: one frame per tick still.
      this.#lateCallerFrame.flush();
      this.#closeChain();
      this.#chain = chain;
    }
    const event = media.telephoneEvent;
    if (event && (this.#media?.telephoneEvent?.payloadType !== event.payloadType || !this.#dtmfTransmitter)) {
      this.#dtmfReceiver = new DtmfReceiver({ clockRate: event.clockRate });
      this.#dtmfTransmitter = new DtmfTransmitter({
        sender: new DtmfSender({ clockRate: event.clockRate, payloadType: event.payloadType }),
        send: (payload, opts) => this.#session.send(payload, opts),
      });
    } else if (!event) {
      this.#dtmfReceiver = undefined;
      this.#dtmfTransmitter = undefined;
    }
    // Jitter, its RTCP reports and the SR's RTP time run at the codec's clock (RFC 3550 §6.4.1),
    // about the source sending its payload type.
    this.#session.setAudioFormat(media.codec);
    this.#session.setSrtp(media.srtp);
    this.#session.setRemote(
      media.remoteAddress,
      media.remotePort,
      media.rtcpMux ? undefined : media.remoteRtcpPort,
      media.rtcpMux,
    );
    this.#media = media;
  }

  #closeChain(): void {
    this.#lateCallerFrame.cancel();
    this.#chain?.close();
    this.#chain = undefined;
  }

  #onRtp(packet: ReceivedRtp): void {
    const media = this.#media;
    const chain = this.#chain;
    if (!media || !chain) return;
    this.#lastRtpMs = packet.arrivalMs;
    if (media.telephoneEvent && packet.payloadType === media.telephoneEvent.payloadType) {
      const event = this.#dtmfReceiver?.push(packet);
      if (event) this.safeEmit('dtmf', event);
      return;
    }
    if (packet.payloadType !== media.codec.payloadType) return;
    chain.receiver.insert(packet);
    this.#lateCallerFrame.onPacket();
  }

  #onTick(tickMs: number): void {
    const chain = this.#chain;
    if (!chain || this.#closed) return;
    const lostEnd = this.#dtmfReceiver?.poll(tickMs);
    if (lostEnd) this.safeEmit('dtmf', lostEnd);
    // Slots held since before the last tick go first: RTP leaves in timestamp order, and the
    // caller frames this tick emits go out after the bot frame played before them (stereo).
    this.#heldSlots.releaseExpired(this.#options.clock.now());
    this.#lateCallerFrame.onTick();
    this.#sendFrame(chain, tickMs);
  }

  #emitCallerFrame(): void {
    const chain = this.#chain;
    if (!chain) return;
    const receiver = chain.receiver;
    if (this.#callerMulaw && chain.passesMulaw) {
      const mulaw = receiver.pullPassing(chain.callerFrame);
      if (mulaw) this.safeEmit('callerMulaw', mulaw, receiver.lastFrameArrivalMs);
      else this.safeEmit('callerAudio', chain.callerFrame, receiver.lastFrameArrivalMs);
      return;
    }
    const decoded = receiver.pull(chain.callerFrame);
    const pcm = chain.toBridge ? chain.toBridge.process(decoded) : decoded;
    this.safeEmit('callerAudio', pcm, receiver.lastFrameArrivalMs);
  }

  #sendFrame(chain: CodecChain, tickMs: number): void {
    const timestamp = this.#sendTimestamp;
    this.#sendTimestamp = (timestamp + chain.samplesPerFrame) >>> 0;
    if (!this.#sending) {
      this.#playBotFrameUnsent();
      return;
    }
    this.#adaptOpusLoss(chain);
    const tone = this.#dtmfTones?.nextFrame();
    if (tone) {
      // The digit's tones replace the bot's audio, which plays on unheard (as for RFC 4733).
      this.#playBotFrameUnsent();
      this.#sendAudio(chain, tone, timestamp);
      return;
    }
    const transmitter = this.#dtmfTransmitter;
    transmitter?.tick(tickMs, timestamp);
    if (transmitter?.active) {
      // RFC 4733 §2.5.1.1: the event replaces the audio; the next talkspurt is marked.
      this.#playBotFrameUnsent();
      this.#markNext = true;
    } else if (this.#botAudio) this.#heldSlots.offer(timestamp, this.#options.clock.now());
    else this.#markNext = true;
  }

  /**
   * A tick that sends no bot audio still plays it: the held slots are released first, then this
   * tick's frame is pulled and dropped, so the bot's playout keeps its pace.
   */
  #playBotFrameUnsent(): void {
    this.#heldSlots.releaseAll();
    this.#botAudio?.(false);
  }

  #fillHeldSlots(): void {
    this.#heldSlots.fill();
  }

  #sendHeld(frame: BotAudioFrame, timestamp: number): void {
    const chain = this.#chain;
    if (chain && !this.#closed && this.#sending) this.#sendAudio(chain, frame, timestamp);
  }

  #sendAudio(chain: CodecChain, bot: BotAudioFrame, timestamp: number): void {
    const media = this.#media;
    if (!media) return;
    const options = this.#sendOptions;
    options.payloadType = media.codec.payloadType;
    options.timestamp = timestamp;
    options.marker = this.#markNext;
    this.#session.send(chain.payloadOf(bot), options);
    this.#markNext = false;
  }

  /** Opus in-band FEC sized to the loss the far end reports over RTCP (RFC 7587 §3.3). */
  #adaptOpusLoss(chain: CodecChain): void {
    if (!chain.encoder.setPacketLossPercent) return;
    const report = this.#session.remoteReport;
    if (!report) return;
    const percent = Math.round(report.fractionLost * 100);
    chain.encoder.setPacketLossPercent(
      Math.min(MAX_OPUS_LOSS_PERCENT, Math.max(MIN_OPUS_LOSS_PERCENT, percent)),
    );
  }

  #guard<T>(handler: (this: MediaLeg, argument: T) => void, argument: T): void {
    try {
      handler.call(this, argument);
    } catch (error) {
      this.#handlerErrors++;
      this.#options.logger?.warn({ err: error }, 'media leg handler failed');
    }
  }
}
