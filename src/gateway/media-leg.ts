/**
 * The carrier-side media of one call: RTP socket, jitter-buffered decode towards the bot,
 * encode of the bot's audio towards the caller, RFC 4733 DTMF both ways. Driven by the
 * process-wide MediaClock, one tick per 20 ms frame.
 */

import type { AudioDecoder, AudioEncoder } from '../media/codec.js';
import { type DtmfEvent, DtmfReceiver, DtmfSender, DtmfTransmitter } from '../media/dtmf.js';
import { G711Decoder, G711Encoder } from '../media/g711-codec.js';
import type { MediaClock } from '../media/media-clock.js';
import { createOpusDecoder, createOpusEncoder } from '../media/opus.js';
import { Resampler } from '../media/resample.js';
import { type PortAllocator, type ReceivedRtp, RtpSession, type RtpStreamStats } from '../media/rtp/index.js';
import {
  loadMediaPipeline,
  ObservedDecoder,
  type PacketReceiver,
  type ReceiverStatsView,
} from '../pcap/pipeline.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/index.js';

export type BridgeRate = 8000 | 16000 | 24000;

/** The remote's SDP direction (RFC 3264 §6.1); we send only when it receives. */
export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface NegotiatedMedia {
  remoteAddress: string;
  remotePort: number;
  remoteRtcpPort?: number;
  rtcpMux: boolean;
  codec: { payloadType: number; name: 'PCMU' | 'PCMA' | 'opus'; clockRate: number; channels: number };
  telephoneEvent?: { payloadType: number; clockRate: number };
  ptimeMs: number;
  /** The far end's direction attribute; hold is 'sendonly' or 'inactive'. Default 'sendrecv'. */
  direction?: MediaDirection;
}

export interface MediaLegOptions {
  portAllocator: PortAllocator;
  bindAddress: string;
  clock: Clock;
  mediaClock: MediaClock;
  logger?: Logger;
  bridgeRate: BridgeRate;
}

export interface MediaLegStats {
  rtp: RtpStreamStats | undefined;
  jitterBuffer: ReceiverStatsView | undefined;
  codec: string;
  fecRecovered?: number;
  inactiveMs: number;
  handlerErrors: number;
}

/**
 * Opus runs at the bridge rate in both directions (libopus codes 8, 16 and 24 kHz natively; the
 * RTP clock stays 48 kHz, RFC 7587 §4.1), so no resampler sits on the Opus path. The encoder uses
 * complexity 5 and 24 kbit/s: bench/RESULTS.md measured ~800 µs a frame at complexity 10 and
 * 48 kHz through WASM (~20 calls per core), and LBRR (FEC) needs >= 24 kbit/s at 16 kHz or
 * libopus silently sends none.
 */
const OPUS_ENCODER = { complexity: 5, bitrate: 24_000, fec: true } as const;
/** Bounds on the Opus encoder's expected-loss setting (libopus accepts 0..100). */
const MAX_OPUS_LOSS_PERCENT = 30;
const MIN_OPUS_LOSS_PERCENT = 1;

/** Everything that depends on the negotiated codec; rebuilt when a re-INVITE changes it. */
interface CodecChain {
  codecKey: string;
  decoder: ObservedDecoder;
  receiver: PacketReceiver;
  toBridge: Resampler | undefined;
  encoder: AudioEncoder;
  fromBridge: Resampler | undefined;
  samplesPerFrame: number;
}

/** The encoder for audio towards the carrier in `codec`, fed at `bridgeRate`. */
export async function carrierEncoderFor(
  codec: 'PCMU' | 'PCMA' | 'opus',
  bridgeRate: BridgeRate,
): Promise<AudioEncoder> {
  if (codec === 'opus')
    return createOpusEncoder({
      ...OPUS_ENCODER,
      sampleRate: bridgeRate,
      packetLossPercent: MIN_OPUS_LOSS_PERCENT,
    });
  return new G711Encoder(codec);
}

/** The decoder for the carrier's `codec`; Opus decodes straight to `bridgeRate`. */
export async function carrierDecoderFor(
  codec: 'PCMU' | 'PCMA' | 'opus',
  bridgeRate: BridgeRate,
): Promise<AudioDecoder> {
  return codec === 'opus' ? createOpusDecoder({ sampleRate: bridgeRate }) : new G711Decoder(codec);
}

function resamplerBetween(inRate: number, outRate: number): Resampler | undefined {
  return inRate === outRate ? undefined : new Resampler(inRate, outRate);
}

export class MediaLeg {
  private media: NegotiatedMedia | undefined;
  private chain: CodecChain | undefined;
  private dtmfReceiver: DtmfReceiver | undefined;
  private dtmfTransmitter: DtmfTransmitter | undefined;
  private unsubscribeTick: (() => void) | undefined;
  private unsubscribePacket: (() => void) | undefined;
  private callerAudio: ((pcm: Int16Array, tickMs: number) => void) | undefined;
  private dtmfListener: ((event: DtmfEvent) => void) | undefined;
  private botSource: (() => Int16Array) | undefined;
  private sendTimestamp = 0;
  /** RFC 3551 §4.1: marker on the first packet of a talkspurt (start, after DTMF, after hold). */
  private markNext = true;
  private lastRtpMs: number;
  private handlerErrors = 0;
  private isClosed = false;

  private constructor(
    private readonly session: RtpSession,
    private readonly options: MediaLegOptions,
    private readonly receiverFactory: (decoder: AudioDecoder, clock: Clock) => PacketReceiver,
  ) {
    this.lastRtpMs = options.clock.now();
  }

  /** Binds the RTP port first so the SDP answer can name it. */
  static async open(options: MediaLegOptions): Promise<MediaLeg> {
    const pipeline = await loadMediaPipeline();
    const session = await RtpSession.open({
      portRange: options.portAllocator,
      bindAddress: options.bindAddress,
      clock: options.clock,
    });
    return new MediaLeg(session, options, pipeline.receiverFactory);
  }

  get localPort(): number {
    return this.session.localPort;
  }

  async start(media: NegotiatedMedia): Promise<void> {
    await this.apply(media);
    this.unsubscribePacket ??= this.session.onPacket((packet) => this.guard(() => this.onRtp(packet)));
    this.unsubscribeTick ??= this.options.mediaClock.subscribe((tickMs) =>
      this.guard(() => this.onTick(tickMs)),
    );
  }

  /** Re-INVITE: new remote, codec or direction. The send timestamp stays continuous. */
  async update(media: NegotiatedMedia): Promise<void> {
    const wasSending = this.sending;
    await this.apply(media);
    if (!wasSending && this.sending) this.markNext = true;
  }

  onCallerAudio(fn: (pcm: Int16Array, tickMs: number) => void): void {
    this.callerAudio = fn;
  }

  onDtmf(fn: (event: DtmfEvent) => void): void {
    this.dtmfListener = fn;
  }

  setBotAudioSource(pull: () => Int16Array): void {
    this.botSource = pull;
  }

  /** RFC 4733 digits towards the caller; throws RangeError on a bad digit or a full queue. */
  sendDtmf(digits: string): void {
    if (!this.dtmfTransmitter) throw new Error('no telephone-event negotiated');
    this.dtmfTransmitter.enqueue(digits);
  }

  stats(): MediaLegStats {
    const chain = this.chain;
    return {
      rtp: this.isClosed ? undefined : this.session.stats(),
      jitterBuffer: chain?.receiver.stats(),
      codec: chain?.codecKey ?? 'none',
      ...(chain && this.media?.codec.name === 'opus' ? { fecRecovered: chain.decoder.recoveredSamples } : {}),
      inactiveMs: this.options.clock.now() - this.lastRtpMs,
      handlerErrors: this.handlerErrors,
    };
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.unsubscribeTick?.();
    this.unsubscribePacket?.();
    this.closeChain();
    this.session.close();
  }

  private get sending(): boolean {
    const direction = this.media?.direction ?? 'sendrecv';
    return direction === 'sendrecv' || direction === 'recvonly';
  }

  private async apply(media: NegotiatedMedia): Promise<void> {
    const codecKey = `${media.codec.name}/${media.codec.clockRate}/${media.codec.payloadType}`;
    if (this.chain?.codecKey !== codecKey) {
      const chain = await this.buildChain(media, codecKey);
      this.closeChain();
      this.chain = chain;
    }
    const event = media.telephoneEvent;
    if (event && (this.media?.telephoneEvent?.payloadType !== event.payloadType || !this.dtmfTransmitter)) {
      this.dtmfReceiver = new DtmfReceiver({ clockRate: event.clockRate });
      this.dtmfTransmitter = new DtmfTransmitter({
        sender: new DtmfSender({ clockRate: event.clockRate, payloadType: event.payloadType }),
        send: (payload, opts) => this.session.send(payload, opts),
      });
    } else if (!event) {
      this.dtmfReceiver = undefined;
      this.dtmfTransmitter = undefined;
    }
    this.session.setRemote(
      media.remoteAddress,
      media.remotePort,
      media.rtcpMux ? undefined : media.remoteRtcpPort,
    );
    this.media = media;
  }

  private async buildChain(media: NegotiatedMedia, codecKey: string): Promise<CodecChain> {
    const bridgeRate = this.options.bridgeRate;
    const decoder = new ObservedDecoder(await carrierDecoderFor(media.codec.name, bridgeRate));
    const encoder = await carrierEncoderFor(media.codec.name, bridgeRate);
    return {
      codecKey,
      decoder,
      receiver: this.receiverFactory(decoder, this.options.clock),
      toBridge: resamplerBetween(decoder.sampleRate, bridgeRate),
      encoder,
      fromBridge: resamplerBetween(bridgeRate, encoder.sampleRate),
      samplesPerFrame: (encoder.rtpClockRate * this.options.mediaClock.frameMs) / 1000,
    };
  }

  private closeChain(): void {
    this.chain?.decoder.close();
    this.chain?.encoder.close();
    this.chain = undefined;
  }

  private onRtp(packet: ReceivedRtp): void {
    const media = this.media;
    const chain = this.chain;
    if (!media || !chain) return;
    this.lastRtpMs = packet.arrivalMs;
    if (media.telephoneEvent && packet.payloadType === media.telephoneEvent.payloadType) {
      const event = this.dtmfReceiver?.push(packet);
      if (event) this.dtmfListener?.(event);
      return;
    }
    if (packet.payloadType !== media.codec.payloadType) return;
    chain.receiver.insert(packet);
  }

  private onTick(tickMs: number): void {
    const chain = this.chain;
    if (!chain || this.isClosed) return;
    const lostEnd = this.dtmfReceiver?.poll(tickMs);
    if (lostEnd) this.dtmfListener?.(lostEnd);
    const decoded = chain.receiver.pull();
    const pcm = chain.toBridge ? chain.toBridge.process(decoded) : decoded;
    this.callerAudio?.(pcm, tickMs);
    this.sendFrame(chain, tickMs);
  }

  private sendFrame(chain: CodecChain, tickMs: number): void {
    const bot = this.botSource?.();
    if (!this.sending) {
      this.sendTimestamp = (this.sendTimestamp + chain.samplesPerFrame) >>> 0;
      return;
    }
    this.adaptOpusLoss(chain);
    const transmitter = this.dtmfTransmitter;
    transmitter?.tick(tickMs, this.sendTimestamp);
    if (transmitter?.active) {
      // RFC 4733 §2.5.1.1: the event replaces the audio; the next talkspurt is marked.
      this.markNext = true;
    } else if (bot) {
      const pcm = chain.fromBridge ? chain.fromBridge.process(bot) : bot;
      const payload = chain.encoder.encode(pcm);
      this.session.send(payload, {
        payloadType: this.media!.codec.payloadType,
        timestamp: this.sendTimestamp,
        marker: this.markNext,
      });
      this.markNext = false;
    } else {
      this.markNext = true;
    }
    this.sendTimestamp = (this.sendTimestamp + chain.samplesPerFrame) >>> 0;
  }

  /** Opus in-band FEC sized to the loss the far end reports over RTCP (RFC 7587 §3.3). */
  private adaptOpusLoss(chain: CodecChain): void {
    const report = this.session.stats().remoteReport;
    if (!report || !chain.encoder.setPacketLossPercent) return;
    const percent = Math.round(report.fractionLost * 100);
    chain.encoder.setPacketLossPercent(
      Math.min(MAX_OPUS_LOSS_PERCENT, Math.max(MIN_OPUS_LOSS_PERCENT, percent)),
    );
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.handlerErrors++;
      this.options.logger?.warn({ err: error }, 'media leg handler failed');
    }
  }
}
