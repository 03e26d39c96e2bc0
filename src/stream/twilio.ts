import { decodeMulaw, encodeMulaw } from '../media/g711.js';
import {
  type BotInput,
  parseStreamEvent,
  type StreamCallInfo,
  type StreamDialect,
  twilioStyleSid,
  type WireMessage,
} from './dialect.js';

const FRAME_MS = 20;

/**
 * Twilio Media Streams, exactly as documented (twilio.com/docs/voice/media-streams/websocket-messages):
 * `connected` (no sequenceNumber), one `start` (sequenceNumber "1"), then `media`/`dtmf`/`mark`,
 * finally `stop`. sequenceNumber, chunk and timestamp are strings; payload is base64 µ-law 8 kHz.
 * Bot messages: `media`, `mark`, `clear` carrying our streamSid, plus `patchbay` commands.
 */
export class TwilioDialect implements StreamDialect {
  readonly name = 'twilio';
  readonly sampleRate = 8000;
  readonly streamSid = twilioStyleSid('MZ');
  #sequenceNumber = 0;
  #chunk = 0;
  #call: StreamCallInfo | undefined;

  /** Also called again on a reconnect: a new socket is a new stream, counted from 1 again. */
  open(call: StreamCallInfo): WireMessage[] {
    this.#call = call;
    this.#sequenceNumber = 0;
    this.#chunk = 0;
    const connected = JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    const start = JSON.stringify({
      event: 'start',
      sequenceNumber: this.#nextSequence(),
      start: {
        accountSid: call.accountSid,
        streamSid: this.streamSid,
        callSid: call.callSid,
        tracks: ['inbound'],
        customParameters: call.customParameters,
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
      streamSid: this.streamSid,
    });
    return [connected, start];
  }

  callerAudio(callerFrame: Int16Array): WireMessage {
    this.#chunk++;
    return JSON.stringify({
      event: 'media',
      sequenceNumber: this.#nextSequence(),
      media: {
        track: 'inbound',
        chunk: String(this.#chunk),
        timestamp: String((this.#chunk - 1) * FRAME_MS),
        payload: Buffer.from(encodeMulaw(callerFrame)).toString('base64'),
      },
      streamSid: this.streamSid,
    });
  }

  dtmf(digit: string): WireMessage {
    return JSON.stringify({
      event: 'dtmf',
      streamSid: this.streamSid,
      sequenceNumber: this.#nextSequence(),
      dtmf: { track: 'inbound_track', digit },
    });
  }

  markPlayed(name: string): WireMessage {
    return JSON.stringify({
      event: 'mark',
      sequenceNumber: this.#nextSequence(),
      streamSid: this.streamSid,
      mark: { name },
    });
  }

  /** Carries no sequenceNumber so Twilio's own counters stay gap-free for strict bots. */
  extensionEvent(name: string): WireMessage {
    return JSON.stringify({ event: 'patchbay', streamSid: this.streamSid, patchbay: { type: name } });
  }

  stop(): WireMessage {
    return JSON.stringify({
      event: 'stop',
      sequenceNumber: this.#nextSequence(),
      streamSid: this.streamSid,
      stop: { accountSid: this.#call?.accountSid ?? '', callSid: this.#call?.callSid ?? '' },
    });
  }

  parse(data: Uint8Array | string, isBinary: boolean): BotInput {
    return parseStreamEvent(data, isBinary, {
      mode: 'twilio',
      streamIdField: 'streamSid',
      streamId: this.streamSid,
      media: (payload) => ({ kind: 'audio', pcm: decodeMulaw(Buffer.from(payload, 'base64')) }),
    });
  }

  #nextSequence(): string {
    this.#sequenceNumber++;
    return String(this.#sequenceNumber);
  }
}
