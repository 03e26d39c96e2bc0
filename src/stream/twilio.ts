import { decodeMulaw, encodeMulaw } from '../media/index.js';
import {
  type BotInput,
  type EventWire,
  eventWire,
  parseStreamEvent,
  type StreamCallInfo,
  type StreamDialect,
  twilioStyleSid,
  type WireMessage,
} from './dialect.js';
import { asciiPiece, MessageWriter } from './message-writer.js';

const FRAME_MS = 20;

/**
 * The `media` message as JSON.stringify writes it for
 * {event, sequenceNumber, media: {track, chunk, timestamp, payload}, streamSid}, in pieces.
 */
const MEDIA_HEAD = asciiPiece('{"event":"media","sequenceNumber":"');
const MEDIA_CHUNK = asciiPiece('","media":{"track":"inbound","chunk":"');
const MEDIA_TIMESTAMP = asciiPiece('","timestamp":"');
const MEDIA_PAYLOAD = asciiPiece('","payload":"');

/**
 * Twilio Media Streams, exactly as documented (twilio.com/docs/voice/media-streams/websocket-messages):
 * `connected` (no sequenceNumber), one `start` (sequenceNumber "1"), then `media`/`dtmf`/`mark`,
 * finally `stop`. sequenceNumber, chunk and timestamp are strings; payload is base64 µ-law 8 kHz.
 * Bot messages: `media`, `mark`, `clear` carrying our streamSid, plus `patchbay` commands.
 */
export class TwilioDialect implements StreamDialect {
  readonly name = 'twilio';
  readonly sampleRate = 8000;
  readonly binaryFrames = false;
  readonly carriesBotFrame = false;
  readonly streamSid = twilioStyleSid('MZ');
  #sequenceNumber = 0;
  #chunk = 0;
  #call: StreamCallInfo | undefined;
  readonly #message = new MessageWriter();
  readonly #mediaTail = asciiPiece(`"},"streamSid":"${this.streamSid}"}`);
  #mulaw = new Uint8Array(0);
  /** Bot media decodes into these, reused: base64 into bytes, µ-law into PCM. */
  #botBytes = Buffer.alloc(0);
  #botPcm = new Int16Array(0);
  readonly #botAudio: Extract<BotInput, { kind: 'audio' }> = { kind: 'audio', pcm: this.#botPcm };
  /** Set by keepBotMulaw(): the bot's audio goes on as the bytes it sent. */
  #botMulaw: Extract<BotInput, { kind: 'mulaw' }> | undefined;
  readonly #wire: EventWire = eventWire({
    mode: 'twilio',
    streamIdField: 'streamSid',
    streamId: this.streamSid,
    media: (payload) => this.#decodeBotMedia(payload),
    audio: (bytes) => this.#decodeBotMulaw(bytes),
  });

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
    return this.callerAudioFrame(callerFrame).toString('latin1');
  }

  callerAudioFrame(callerFrame: Int16Array): Buffer {
    if (this.#mulaw.length !== callerFrame.length) this.#mulaw = new Uint8Array(callerFrame.length);
    return this.callerMulawFrame(encodeMulaw(callerFrame, this.#mulaw));
  }

  /** The stream's wire audio is the carrier's own PCMU: a frame of it is written as it is. */
  callerMulawFrame(mulaw: Uint8Array): Buffer {
    this.#chunk++;
    this.#sequenceNumber++;
    return this.#message
      .begin()
      .piece(MEDIA_HEAD)
      .decimal(this.#sequenceNumber)
      .piece(MEDIA_CHUNK)
      .decimal(this.#chunk)
      .piece(MEDIA_TIMESTAMP)
      .decimal((this.#chunk - 1) * FRAME_MS)
      .piece(MEDIA_PAYLOAD)
      .base64(mulaw)
      .piece(this.#mediaTail)
      .message();
  }

  keepBotMulaw(): void {
    this.#botMulaw ??= { kind: 'mulaw', mulaw: this.#botBytes };
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
    return parseStreamEvent(data, isBinary, this.#wire);
  }

  /** Base64 (decoded as leniently as Buffer.from does) into reused bytes. */
  #decodeBotMedia(payload: string): BotInput {
    const length = Buffer.byteLength(payload, 'base64');
    if (this.#botBytes.length !== length) this.#botBytes = Buffer.alloc(length);
    const written = this.#botBytes.write(payload, 0, 'base64');
    // Fewer bytes than estimated only for malformed base64 (whitespace, stray characters).
    return this.#decodeBotMulaw(written === length ? this.#botBytes : this.#botBytes.subarray(0, written));
  }

  /** µ-law into reused PCM, or as it is after keepBotMulaw(). */
  #decodeBotMulaw(bytes: Uint8Array): BotInput {
    const kept = this.#botMulaw;
    if (kept) {
      kept.mulaw = bytes;
      return kept;
    }
    if (this.#botPcm.length !== bytes.length) this.#botPcm = new Int16Array(bytes.length);
    this.#botAudio.pcm = decodeMulaw(bytes, this.#botPcm);
    return this.#botAudio;
  }

  #nextSequence(): string {
    this.#sequenceNumber++;
    return String(this.#sequenceNumber);
  }
}
