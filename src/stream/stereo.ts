import {
  type BotInput,
  markInput,
  parseBotCommand,
  parseJsonObject,
  type StreamCallInfo,
  type StreamDialect,
  type WireMessage,
} from './dialect.js';

export type PcmStreamRate = 8000 | 16000 | 24000;

/**
 * Little-endian 16-bit PCM bytes of `pcm` (L16 as jambonz and Exotel carry it), written into
 * `out` (its first 2 * pcm.length bytes) when one is given.
 */
export function encodeL16(pcm: Int16Array, out = new Uint8Array(pcm.length * 2)): Uint8Array {
  for (let i = 0; i < pcm.length; i++) {
    const sample = pcm[i] as number;
    out[2 * i] = sample & 0xff;
    out[2 * i + 1] = (sample >> 8) & 0xff;
  }
  return out;
}

/**
 * Samples of little-endian 16-bit PCM, written into `out` when it has exactly as many samples;
 * undefined for an odd byte count (half a sample).
 */
export function decodeL16(bytes: Uint8Array, out?: Int16Array): Int16Array | undefined {
  if (bytes.length % 2 !== 0) return undefined;
  const samples = bytes.length / 2;
  const pcm = out?.length === samples ? out : new Int16Array(samples);
  for (let i = 0; i < samples; i++) {
    // The high byte shifted to the top of the int32 and back sign-extends it.
    pcm[i] = (((bytes[2 * i + 1] as number) << 24) >> 16) | (bytes[2 * i] as number);
  }
  return pcm;
}

/**
 * Caller left, bot right, modelled on jambonz's `listen` verb (docs.jambonz.org/verbs/verbs/listen,
 * jambonz.org/docs/supporting-articles/bidirectional-audio):
 * - Gateway -> bot: one JSON text frame of call metadata (`callSid`, `from`, `to`, `direction`,
 *   `mixType:"stereo"`, `sampleRate`, plus our `accountSid`/`customParameters`), then binary frames
 *   of interleaved L16 little-endian, one per 20 ms, caller and bot samples of the same instant.
 *   Marks played: `{"type":"mark","data":{"name","event":"playout"}}` (jambonz's mark echo);
 *   DTMF as jambonz's `passDtmf`: `{"event":"dtmf","dtmf":"5"}`; no stop message (the socket closes).
 * - Bot -> gateway: binary mono L16 at the same rate (jambonz `bidirectionalAudio.streaming`);
 *   text `{"type":"mark","data":{"name"}}`, `{"type":"clear"}` (jambonz's `killAudio` is accepted
 *   as the same), and `{"type":"patchbay","command":...}` commands. jambonz's `clearMarks`
 *   (drop marks but keep audio) has no bridge action, so it is reported invalid.
 */
export class StereoDialect implements StreamDialect {
  readonly name = 'stereo';
  readonly sampleRate: PcmStreamRate;
  readonly binaryFrames = true;
  readonly carriesBotFrame = true;
  /** Caller frames interleave into this, and binary bot frames decode into #botPcm: both reused. */
  #frame = Buffer.alloc(0);
  #botPcm: Int16Array = new Int16Array(0);
  readonly #botAudio: Extract<BotInput, { kind: 'audio' }> = { kind: 'audio', pcm: this.#botPcm };

  constructor(sampleRate: PcmStreamRate) {
    this.sampleRate = sampleRate;
  }

  open(call: StreamCallInfo): WireMessage[] {
    return [
      JSON.stringify({
        callSid: call.callSid,
        accountSid: call.accountSid,
        from: call.from,
        to: call.to,
        direction: call.direction,
        mixType: 'stereo',
        sampleRate: this.sampleRate,
        customParameters: call.customParameters,
      }),
    ];
  }

  /**
   * Interleaves the caller (left) with the bot frame played at the same instant (right). The
   * caller frame sets the length: a short bot frame is padded with silence, a long one cut.
   */
  callerAudio(callerFrame: Int16Array, botFrame: Int16Array): WireMessage {
    return Buffer.from(this.callerAudioFrame(callerFrame, botFrame));
  }

  callerAudioFrame(callerFrame: Int16Array, botFrame: Int16Array): Buffer {
    if (this.#frame.length !== callerFrame.length * 4) this.#frame = Buffer.alloc(callerFrame.length * 4);
    const bytes = this.#frame;
    for (let i = 0; i < callerFrame.length; i++) {
      const caller = callerFrame[i] as number;
      const bot = botFrame[i] ?? 0;
      bytes[4 * i] = caller & 0xff;
      bytes[4 * i + 1] = (caller >> 8) & 0xff;
      bytes[4 * i + 2] = bot & 0xff;
      bytes[4 * i + 3] = (bot >> 8) & 0xff;
    }
    return bytes;
  }

  dtmf(digit: string): WireMessage {
    return JSON.stringify({ event: 'dtmf', dtmf: digit });
  }

  markPlayed(name: string): WireMessage {
    return JSON.stringify({ type: 'mark', data: { name, event: 'playout' } });
  }

  extensionEvent(name: string): WireMessage {
    return JSON.stringify({ type: 'patchbay', data: { type: name } });
  }

  /** jambonz ends a listen stream by closing the socket; there is no stop message. */
  stop(): undefined {
    return undefined;
  }

  parse(data: Uint8Array | string, isBinary: boolean): BotInput {
    if (isBinary) {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      if (bytes.length === 0) return { kind: 'invalid', reason: 'empty audio frame' };
      const pcm = decodeL16(bytes, this.#botPcm);
      if (!pcm) return { kind: 'invalid', reason: 'odd-length L16 frame' };
      this.#botPcm = pcm;
      this.#botAudio.pcm = pcm;
      return this.#botAudio;
    }
    const message = parseJsonObject(data);
    if (typeof message === 'string') return { kind: 'invalid', reason: message };
    switch (message.type) {
      case 'mark':
        return markInput((message.data as { name?: unknown } | undefined)?.name);
      case 'clear':
      case 'killAudio':
        return { kind: 'clear' };
      case 'patchbay':
        return parseBotCommand(message);
      default:
        return { kind: 'invalid', reason: 'unknown message type' };
    }
  }
}
