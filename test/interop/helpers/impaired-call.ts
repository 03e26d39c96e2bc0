/**
 * Calls whose carrier RTP both ways goes through an impairing relay (lossy-relay.ts) into a
 * real `patchbay start`, for the network-faults test and bench: a tone caller behind the relay,
 * the test bot hearing what the gateway's jitter buffer made of it, and the call's record.
 *
 *   ToneCaller --> relay --(loss, jitter)--> gateway --> test bot (hears the tone)
 *   ToneCaller <-- relay <--(loss, jitter)-- gateway <-- test bot
 */
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { CallRecord } from '../../../src/gateway/index.js';
import { encodeMulaw } from '../../../src/media/g711.js';
import { parseRtp, ReceiveStats, RTP_HEADER_BYTES, writeRtpHeader } from '../../../src/media/rtp/index.js';
import type { OutboundSession, TerminationCause } from '../../../src/sip/index.js';
import { createOffer, parseAnswer } from '../../../src/sip/sdp.js';
import { sine, tonePower } from '../../helpers/audio.js';
import { type GatewayProcess, type GatewayProcessOptions, startGatewayProcess } from './gateway-process.js';
import type { LossOptions } from './loss-model.js';
import { LossyUdpRelay } from './lossy-relay.js';
import { type StackUa, startStackUa } from './stack-ua.js';
import { type BotCall, TestBot, type TestBotOptions } from './test-bot.js';

export const TONE_HZ = 1000;
const FRAME_SAMPLES = 160;
/** A frame whose 1 kHz power is under a tenth of the tone's is a hole in the audio. */
const HOLE_RATIO = 0.1;
/** Frames left out at the end of what the bot heard: the hang-up's own tail. */
const TAIL_FRAMES = 5;

/** A carrier behind the relay: sends a continuous tone every 20 ms, counts the RTP it gets back. */
export class ToneCaller {
  readonly #socket: Socket;
  /** 1 kHz at 8 kHz repeats every 8 samples, so every 160-sample frame is the same audio. */
  readonly #payload = encodeMulaw(sine(TONE_HZ, 8000, FRAME_SAMPLES));
  #sequence = 1000;
  #timestamp = 160_000;
  #timer: NodeJS.Timeout | undefined;
  /** performance.now() of the last frame sent. */
  lastSentAt = 0;
  /** The gateway's RTP as it reached the caller (RFC 3550 A.3 loss, reordering); undefined before any. */
  received: ReceiveStats | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (data) => {
      const packet = parseRtp(data, performance.now());
      if (!packet) return; // RTCP (rtcp-mux)
      this.received ??= new ReceiveStats(packet.ssrc, 8000);
      this.received.update(packet.sequenceNumber, packet.timestamp, packet.arrivalMs, packet.payload.length);
    });
  }

  static async open(): Promise<ToneCaller> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new ToneCaller(socket);
  }

  /** Sends one frame per 20 ms slot to `port`, catching up on slots a busy loop missed. */
  start(port: number): void {
    const startedAt = performance.now();
    let sent = 0;
    this.#timer = setInterval(() => {
      const due = Math.floor((performance.now() - startedAt) / 20) + 1;
      for (; sent < due; sent++) {
        // A packet of its own each: dgram may still hold the previous one when a catch-up
        // sends several in one turn.
        const packet = Buffer.alloc(RTP_HEADER_BYTES + FRAME_SAMPLES);
        writeRtpHeader(packet, 0, false, this.#sequence, this.#timestamp, 0x5eed); // PCMU
        packet.set(this.#payload, RTP_HEADER_BYTES);
        this.#sequence = (this.#sequence + 1) & 0xffff;
        this.#timestamp = (this.#timestamp + FRAME_SAMPLES) >>> 0;
        this.#socket.send(packet, port, '127.0.0.1');
        this.lastSentAt = performance.now();
      }
    }, 5);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  get port(): number {
    return (this.#socket.address() as AddressInfo).port;
  }

  close(): void {
    this.stop();
    this.#socket.close();
  }
}

/** The carrier network of one call: loss (uniform or bursty) and jitter, both ways. */
export interface Impairment extends LossOptions {
  /** Each datagram delayed by a uniform random [0, jitterMs): reorders too. */
  jitterMs: number;
}

export interface ImpairedCall {
  session: OutboundSession;
  caller: ToneCaller;
  relay: LossyUdpRelay;
  botCall: BotCall;
  terminated: Promise<TerminationCause>;
}

/** A test bot, a real gateway routing every call to it, and a SIP UA that calls the gateway. */
export class ImpairedCallRig {
  private constructor(
    readonly bot: TestBot,
    readonly gateway: GatewayProcess,
    readonly ua: StackUa,
  ) {}

  static async start(
    gateway: Omit<GatewayProcessOptions, 'botUrl' | 'codecs'>,
    botOptions: TestBotOptions = {},
  ): Promise<ImpairedCallRig> {
    const bot = await TestBot.start(botOptions);
    const process = await startGatewayProcess({ ...gateway, botUrl: bot.url, codecs: ['PCMU'] });
    return new ImpairedCallRig(bot, process, await startStackUa('udp', false));
  }

  async close(): Promise<void> {
    await this.ua.close();
    await this.gateway.stop();
    await this.bot.close();
  }

  /**
   * Calls the gateway with the caller's RTP both ways through a relay impaired as `impairment`
   * says, seeded with `seed`; resolves once the call is answered, the tone flows and the bot
   * has the call. One at a time: the bot's calls are matched to ours by order.
   */
  async call(seed: number, impairment: Impairment): Promise<ImpairedCall> {
    const { bot, gateway, ua } = this;
    const caller = await ToneCaller.open();
    const relay = await LossyUdpRelay.start({
      ...impairment,
      target: { address: '127.0.0.1', port: 9 },
      seed,
    });
    const callsBefore = bot.calls.length;
    const session = ua.ua.call({
      requestUri: `sip:faults@127.0.0.1:${gateway.sipPort}`,
      destination: { transport: 'udp', address: '127.0.0.1', port: gateway.sipPort },
      from: `<sip:carrier@127.0.0.1:${ua.port}>`,
      to: `<sip:faults@127.0.0.1:${gateway.sipPort}>`,
      // The gateway sends to the relay's far side, which passes it on to the caller.
      sdp: createOffer({ address: '127.0.0.1', port: relay.upstreamPort, codecs: ['PCMU'], rtcpMux: true }),
    });
    const terminated = new Promise<TerminationCause>((resolve) => session.once('terminated', resolve));
    const outcome = await session.outcome;
    const answer = parseAnswer(session.remoteSdp ?? '', ['PCMU']);
    if (outcome.kind !== 'answered' || !answer.ok) {
      caller.close();
      relay.close();
      throw new Error(`call not answered with PCMU: ${JSON.stringify(outcome)}`);
    }
    relay.retarget({ address: '127.0.0.1', port: answer.remote.port });
    caller.start(relay.port);
    for (let i = 0; i < 100 && bot.calls.length === callsBefore; i++) await delay(50);
    const botCall = bot.calls[callsBefore];
    if (!botCall) throw new Error('the bot never got the call');
    return { session, caller, relay, botCall, terminated };
  }

  /** Gateway records of the call with this SIP Call-ID, once written (waits up to 5 s). */
  async recordsOf(session: OutboundSession): Promise<CallRecord[]> {
    const isMine = (record: Record<string, unknown>): boolean => record['sipCallId'] === session.callId;
    const written = await this.gateway.recordsWhen((records) => records.some(isMine));
    return written.filter(isMine) as unknown as CallRecord[];
  }
}

/**
 * What a record lacks to be complete: answered, ended, a duration, the carrier leg's RTP and
 * jitter buffer figures, the bot stream's, a MOS. Empty when complete.
 */
export function recordGaps(record: CallRecord): string[] {
  const { media } = record;
  return [
    ...(record.answeredAt ? [] : ['answeredAt']),
    ...(record.endedAt ? [] : ['endedAt']),
    ...(record.durationMs > 0 ? [] : ['durationMs']),
    ...(media.rtp ? [] : ['media.rtp']),
    ...(media.jitterBuffer ? [] : ['media.jitterBuffer']),
    ...(media.stream ? [] : ['media.stream']),
    ...(typeof record.mos === 'number' ? [] : ['mos']),
  ];
}

export interface Heard {
  frames: number;
  /** Frames without the tone: concealment that faded, or nothing to play. */
  holes: number;
  longestRun: number;
  /** Frames before the tone first reached the bot (the jitter buffer's start-up). */
  startUp: number;
}

/** What the bot heard from the first frame of tone to just before the hang-up. */
export function heardBy(botCall: BotCall): Heard {
  const tone = tonePower(sine(TONE_HZ, 8000, FRAME_SAMPLES), 8000, TONE_HZ);
  const isHole = (frame: Int16Array) => tonePower(frame, 8000, TONE_HZ) < tone * HOLE_RATIO;
  const frames = botCall.callerAudio;
  const startUp = frames.findIndex((frame) => !isHole(frame));
  const heard = frames.slice(startUp + 1, -TAIL_FRAMES);
  let holes = 0;
  let run = 0;
  let longestRun = 0;
  for (const frame of heard) {
    const hole = isHole(frame);
    holes += hole ? 1 : 0;
    run = hole ? run + 1 : 0;
    longestRun = Math.max(longestRun, run);
  }
  return { frames: heard.length, holes, longestRun, startUp };
}
