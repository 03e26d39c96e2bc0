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
import { decodeL16, encodeL16, type PcmStreamRate } from './stereo.js';

const FRAME_MS = 20;
/**
 * The `media` message as JSON.stringify writes it for
 * {event, sequence_number, stream_sid, media: {chunk, timestamp, payload}}, in pieces.
 */
const MEDIA_HEAD = asciiPiece('{"event":"media","sequence_number":"');
const MEDIA_TIMESTAMP = asciiPiece('","timestamp":"');
const MEDIA_PAYLOAD = asciiPiece('","payload":"');
const MEDIA_TAIL = asciiPiece('"}}');
/**
 * The length given a digit the carrier did not time (SIP INFO): what our own RFC 4733 sender
 * gives one, and Exotel's documented example.
 */
const UNTIMED_DTMF_MS = 100;
/** Exotel wants bot chunks in multiples of 320 bytes (20 ms at 8 kHz); others play with gaps. */
export const EXOTEL_CHUNK_ALIGN_BYTES = 320;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Exotel's Voicebot (bidirectional) applet, as described in developer.exotel.com/docs/agentstream/
 * (websocket-protocol, stream-voicebot-applet) and Exotel support article 3000108630:
 * - `connected` (`{"event":"connected"}`), one `start` (`sequence_number` "1", `stream_sid`,
 *   `start.{stream_sid,call_sid,account_sid,from,to,custom_parameters,media_format}` with
 *   `media_format` `{encoding:"audio/x-raw", sample_rate:"8000", bit_rate:"16"}` as strings),
 *   then `media` (`media.{chunk,timestamp,payload}`), `dtmf` (`dtmf.{digit,duration}`, ms), `mark`
 *   (`mark.name`), finally `stop` (`stop.{call_sid,account_sid,reason}`). Counters are strings.
 * - Payloads are base64 of raw 16-bit little-endian mono PCM at 8/16/24 kHz. Exotel itself sends
 *   ~100 ms chunks; we send one 20 ms frame per message (320/640/960 bytes, all multiples of 320),
 *   `chunk` counting from 1 and `timestamp` the chunk's start in ms, as Twilio does.
 * - From the bot: `media` (`media.payload`), `mark` (`mark.name`), `clear`, each with our
 *   `stream_sid`, plus `{"event":"patchbay",...}` commands. A media chunk that is not a multiple
 *   of 320 bytes is played anyway (Exotel plays it too, with a gap) and counted in
 *   `unalignedChunks`; a payload that is not base64, or an odd byte count, is invalid.
 */
export class ExotelDialect implements StreamDialect {
  readonly name = 'exotel';
  readonly sampleRate: PcmStreamRate;
  readonly binaryFrames = false;
  readonly carriesBotFrame = false;
  readonly streamSid = twilioStyleSid('MZ');
  /** Bot media chunks accepted although not a multiple of 320 bytes. */
  unalignedChunks = 0;
  #sequenceNumber = 0;
  #chunk = 0;
  #call: StreamCallInfo | undefined;
  readonly #message = new MessageWriter();
  readonly #mediaChunk = asciiPiece(`","stream_sid":"${this.streamSid}","media":{"chunk":"`);
  /** Caller PCM encodes into #l16; bot base64 decodes into #botBytes, then #botPcm: all reused. */
  #l16 = new Uint8Array(0);
  #botBytes = Buffer.alloc(0);
  #botPcm: Int16Array = new Int16Array(0);
  readonly #botAudio: Extract<BotInput, { kind: 'audio' }> = { kind: 'audio', pcm: this.#botPcm };
  readonly #wire: EventWire = eventWire({
    mode: 'exotel',
    streamIdField: 'stream_sid',
    streamId: this.streamSid,
    media: (payload) => this.#parseMedia(payload),
    audio: (bytes) => this.#decodeBotL16(bytes),
  });

  constructor(sampleRate: PcmStreamRate) {
    this.sampleRate = sampleRate;
  }

  /** Also called again on a reconnect: a new socket is a new stream, counted from 1 again. */
  open(call: StreamCallInfo): WireMessage[] {
    this.#call = call;
    this.#sequenceNumber = 0;
    this.#chunk = 0;
    const start = JSON.stringify({
      event: 'start',
      sequence_number: this.#nextSequence(),
      stream_sid: this.streamSid,
      start: {
        stream_sid: this.streamSid,
        call_sid: call.callSid,
        account_sid: call.accountSid,
        from: call.from,
        to: call.to,
        custom_parameters: call.customParameters,
        media_format: { encoding: 'audio/x-raw', sample_rate: String(this.sampleRate), bit_rate: '16' },
      },
    });
    return [JSON.stringify({ event: 'connected' }), start];
  }

  callerAudio(callerFrame: Int16Array): WireMessage {
    return this.callerAudioFrame(callerFrame).toString('latin1');
  }

  callerAudioFrame(callerFrame: Int16Array): Buffer {
    this.#chunk++;
    this.#sequenceNumber++;
    if (this.#l16.length !== callerFrame.length * 2) this.#l16 = new Uint8Array(callerFrame.length * 2);
    return this.#message
      .begin()
      .piece(MEDIA_HEAD)
      .decimal(this.#sequenceNumber)
      .piece(this.#mediaChunk)
      .decimal(this.#chunk)
      .piece(MEDIA_TIMESTAMP)
      .decimal((this.#chunk - 1) * FRAME_MS)
      .piece(MEDIA_PAYLOAD)
      .base64(encodeL16(callerFrame, this.#l16))
      .piece(MEDIA_TAIL)
      .message();
  }

  dtmf(digit: string, durationMs = UNTIMED_DTMF_MS): WireMessage {
    return JSON.stringify({
      event: 'dtmf',
      sequence_number: this.#nextSequence(),
      stream_sid: this.streamSid,
      dtmf: { digit, duration: String(Math.round(durationMs)) },
    });
  }

  markPlayed(name: string): WireMessage {
    return JSON.stringify({
      event: 'mark',
      sequence_number: this.#nextSequence(),
      stream_sid: this.streamSid,
      mark: { name },
    });
  }

  /** No sequence_number, so Exotel's own counters stay gap-free (as in twilio mode). */
  extensionEvent(name: string): WireMessage {
    return JSON.stringify({ event: 'patchbay', stream_sid: this.streamSid, patchbay: { type: name } });
  }

  stop(): WireMessage {
    return JSON.stringify({
      event: 'stop',
      sequence_number: this.#nextSequence(),
      stream_sid: this.streamSid,
      stop: {
        call_sid: this.#call?.callSid ?? '',
        account_sid: this.#call?.accountSid ?? '',
        reason: 'stopped',
      },
    });
  }

  parse(data: Uint8Array | string, isBinary: boolean): BotInput {
    return parseStreamEvent(data, isBinary, this.#wire);
  }

  #parseMedia(payload: string): BotInput {
    // Node's base64 decoder skips bad characters silently; check the alphabet first.
    if (payload.length === 0 || payload.length % 4 !== 0 || !BASE64.test(payload))
      return { kind: 'invalid', reason: 'media payload is not base64' };
    const length = Buffer.byteLength(payload, 'base64');
    if (this.#botBytes.length !== length) this.#botBytes = Buffer.alloc(length);
    this.#botBytes.write(payload, 0, 'base64');
    return this.#decodeBotL16(this.#botBytes);
  }

  #decodeBotL16(bytes: Uint8Array): BotInput {
    const pcm = decodeL16(bytes, this.#botPcm);
    if (!pcm) return { kind: 'invalid', reason: 'odd-length PCM payload' };
    if (bytes.length % EXOTEL_CHUNK_ALIGN_BYTES !== 0) this.unalignedChunks++;
    this.#botPcm = pcm;
    this.#botAudio.pcm = pcm;
    return this.#botAudio;
  }

  #nextSequence(): string {
    this.#sequenceNumber++;
    return String(this.#sequenceNumber);
  }
}
