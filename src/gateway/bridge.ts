/**
 * Joins one call's media leg to its bot: caller frames go out through the dialect one per
 * media-clock tick (with the bot frame played before them, for stereo), bot audio
 * is paced out of a Playout queue (a frame that comes just after its tick goes out as it
 * arrives, in the tick's slot), marks are echoed when their audio has been sent, `clear`
 * empties the queue at once, and DTMF flows both ways.
 */

import type { BotAudioFrame, DtmfEvent } from '../media/index.js';
import {
  type BotInput,
  Playout,
  StreamConnection,
  type StreamConnectionOptions,
  VoiceActivityDetector,
} from '../stream/index.js';
import type { Clock, Logger } from '../util/index.js';
import { BotFramePairing } from './bot-frame-pairing.js';
import type { BridgeStats, CallMediaLeg } from './ports.js';

/** The bot side as the bridge sees it (a StreamConnection, or a fake in unit tests). */
export interface BotLink {
  sendCallerFrame(caller: Int16Array, bot: Int16Array): void;
  /** False when sendCallerFrame ignores `bot`: no bot frame is then kept to pair (default true). */
  readonly carriesBotFrame?: boolean;
  /** The link's wire audio is 8 kHz µ-law: it takes caller frames as the carrier's bytes too. */
  readonly takesCallerMulaw?: boolean;
  sendCallerMulaw?(mulaw: Uint8Array): void;
  /** Asks for the bot's audio as the µ-law it sent; true when it will come so (`mulaw` inputs). */
  keepBotMulaw?(): boolean;
  /** A caller's digit, and how long it was held when the carrier said (RFC 4733). */
  sendDtmf(digit: string, durationMs?: number): void;
  sendMarkPlayed(name: string): void;
  sendExtension(name: string): void;
}

export interface BridgeHooks {
  hangup(reason: string): void;
  transfer(target: string): void;
  /** A bot command or message that could not be carried out (logged by the gateway). */
  problem(reason: string): void;
}

/** Seconds from an RTP packet's arrival to its audio's write on the bot socket, per frame. */
export interface FrameLatencyProbe {
  now(): number;
  observe(seconds: number): void;
}

export interface CallBridgeOptions {
  media: CallMediaLeg;
  link: BotLink;
  sampleRate: number;
  hooks: BridgeHooks;
  /** Gateway-side VAD: `speech_started`/`speech_stopped` extension events to the bot. */
  vad?: VoiceActivityDetector;
  latency?: FrameLatencyProbe;
  /** Where refused marks are reported (rate limited). */
  log?: { logger: Logger; clock: Clock };
}

export class CallBridge {
  readonly #media: CallMediaLeg;
  readonly #link: BotLink;
  readonly #hooks: BridgeHooks;
  /** PCM, or the bytes of a µ-law bot: the form its link hands over is the form queued. */
  readonly #playout: Playout<BotAudioFrame>;
  /** Bot frames kept for the caller frames they go beside, for a link that sends them. */
  readonly #pairing: BotFramePairing | undefined;
  readonly #noBotFrame: Int16Array;
  #botInputs = 0;
  #dtmfFromCaller = 0;
  #dtmfToCaller = 0;

  constructor(options: CallBridgeOptions) {
    const { media, link, vad, latency } = options;
    this.#media = media;
    this.#link = link;
    this.#hooks = options.hooks;
    const playoutOptions = { sampleRate: options.sampleRate, ...(options.log ? { log: options.log } : {}) };
    // A µ-law bot's audio is queued as it came and reaches a PCMU carrier unchanged (the leg
    // decodes it for any other codec). The stereo dialect pairs PCM bot frames, so keeps PCM.
    const pairsBotFrames = link.carriesBotFrame !== false;
    const botMulaw = !pairsBotFrames && link.keepBotMulaw?.() === true;
    this.#playout = botMulaw ? Playout.mulaw(playoutOptions) : new Playout(playoutOptions);
    this.#pairing = pairsBotFrames ? new BotFramePairing(this.#playout.frameSamples) : undefined;
    this.#noBotFrame = new Int16Array(this.#playout.frameSamples);
    media.attachBotAudio((mayHold) => this.#pullBotFrame(mayHold));
    const observeLatency = (arrivalMs: number | undefined): void => {
      if (latency && arrivalMs !== undefined) latency.observe((latency.now() - arrivalMs) / 1000);
    };
    media.on('callerAudio', (pcm, arrivalMs) => {
      link.sendCallerFrame(pcm, this.#pairing?.nextCallerFrame() ?? this.#noBotFrame);
      observeLatency(arrivalMs);
      const event = vad?.process(pcm);
      if (event) link.sendExtension(event);
    });
    // A µ-law bot gets a PCMU caller's bytes as they came; the gateway's VAD needs samples.
    const sendMulaw = link.takesCallerMulaw && !vad ? link.sendCallerMulaw?.bind(link) : undefined;
    if (sendMulaw && media.passCallerMulaw) {
      media.passCallerMulaw();
      media.on('callerMulaw', (mulaw, arrivalMs) => {
        this.#pairing?.nextCallerFrame();
        sendMulaw(mulaw);
        observeLatency(arrivalMs);
      });
    }
    media.on('dtmf', (event: DtmfEvent) => this.onCallerDtmf(event.digit, event.durationMs));
  }

  /** A digit from the caller, by RFC 4733 (with its duration) or SIP INFO. */
  onCallerDtmf(digit: string, durationMs?: number): void {
    this.#dtmfFromCaller++;
    this.#link.sendDtmf(digit, durationMs);
  }

  /** Everything the bot sends, already decoded by the dialect. */
  onBotInput(input: BotInput): void {
    this.#botInputs++;
    switch (input.kind) {
      case 'audio':
        this.#playout.enqueue(input.pcm);
        this.#media.botAudioReady();
        return;
      case 'mulaw': // only once keepBotMulaw() asked for it, into the µ-law playout
        this.#playout.enqueue(input.mulaw);
        this.#media.botAudioReady();
        return;
      case 'mark':
        this.#playout.mark(input.name);
        return;
      case 'clear':
        for (const name of this.#playout.clear()) this.#link.sendMarkPlayed(name);
        return;
      case 'command':
        this.#command(input.command);
        return;
      case 'invalid':
        this.#hooks.problem(input.reason);
    }
  }

  stats(): BridgeStats {
    return {
      ...this.#playout.stats,
      botInputs: this.#botInputs,
      dtmfFromCaller: this.#dtmfFromCaller,
      dtmfToCaller: this.#dtmfToCaller,
    };
  }

  #pullBotFrame(mayHold: boolean): BotAudioFrame | undefined {
    if (mayHold && this.#playout.holdsSlot()) return undefined;
    const { frame, marks } = this.#playout.pullFrame();
    if (this.#pairing && frame instanceof Int16Array) this.#pairing.botFrame(frame);
    for (const name of marks) this.#link.sendMarkPlayed(name);
    return frame;
  }

  #command(command: Extract<BotInput, { kind: 'command' }>['command']): void {
    switch (command.command) {
      case 'dtmf':
        try {
          this.#media.sendDtmf(command.digits);
          this.#dtmfToCaller += command.digits.length;
        } catch (error) {
          this.#hooks.problem(`dtmf not sent: ${(error as Error).message}`);
        }
        return;
      case 'hangup':
        this.#hooks.hangup(command.reason ?? 'bot hangup');
        return;
      case 'transfer':
        this.#hooks.transfer(command.target);
    }
  }
}

const IGNORE: BridgeHooks = { hangup: () => undefined, transfer: () => undefined, problem: () => undefined };

/**
 * A bot connection bridged to `leg`. The bridge exists before the socket opens, so nothing
 * the bot sends first is lost; call `connection.connect()` next.
 */
export function attachBot(
  leg: CallMediaLeg,
  options: Omit<StreamConnectionOptions, 'onBotInput'>,
  hooks: BridgeHooks = IGNORE,
  vad = false,
  latency?: FrameLatencyProbe,
): { connection: StreamConnection; bridge: CallBridge } {
  let bridge: CallBridge | undefined;
  const connection = new StreamConnection({ ...options, onBotInput: (input) => bridge?.onBotInput(input) });
  const rate = options.dialect.sampleRate;
  // The detector runs at 8 or 16 kHz; the config refuses vad on a 24 kHz stream.
  const detector =
    vad && (rate === 8000 || rate === 16000) ? new VoiceActivityDetector({ sampleRate: rate }) : undefined;
  bridge = new CallBridge({
    media: leg,
    link: connection,
    sampleRate: rate,
    hooks,
    ...(detector ? { vad: detector } : {}),
    ...(latency ? { latency } : {}),
    log: { logger: options.logger, clock: options.clock },
  });
  return { connection, bridge };
}
