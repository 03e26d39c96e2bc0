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

/** Little-endian 16-bit PCM bytes of `pcm` (L16 as jambonz and Exotel carry it). */
export function encodeL16(pcm: Int16Array): Uint8Array {
  const bytes = new Uint8Array(pcm.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < pcm.length; i++) view.setInt16(i * 2, pcm[i] as number, true);
  return bytes;
}

/** Samples of little-endian 16-bit PCM; undefined for an odd byte count (half a sample). */
export function decodeL16(bytes: Uint8Array): Int16Array | undefined {
  if (bytes.length % 2 !== 0) return undefined;
  const pcm = new Int16Array(bytes.length / 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < pcm.length; i++) pcm[i] = view.getInt16(i * 2, true);
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
    const bytes = new Uint8Array(callerFrame.length * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < callerFrame.length; i++) {
      view.setInt16(i * 4, callerFrame[i] as number, true);
      view.setInt16(i * 4 + 2, botFrame[i] ?? 0, true);
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
      const pcm = decodeL16(bytes);
      if (!pcm) return { kind: 'invalid', reason: 'odd-length L16 frame' };
      return { kind: 'audio', pcm };
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
