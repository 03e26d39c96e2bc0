import { randomBytes } from 'node:crypto';
import { MediaEventScanner } from './media-event-scan.js';

/**
 * What every wire dialect (twilio, stereo, exotel) implements: turning call events into
 * WebSocket messages and bot messages into bridge actions. Dialects are pure: sequence
 * counters and stream ids live in the dialect instance, sockets and timing in the bridge.
 */

/** One outgoing WebSocket message: text (JSON) or binary. */
export type WireMessage = string | Uint8Array;

/** Call metadata sent when a stream opens (Twilio `start`, jambonz `listen` metadata). */
export interface StreamCallInfo {
  callSid: string;
  accountSid: string;
  from?: string;
  to?: string;
  direction?: 'inbound' | 'outbound';
  /** Per-route custom parameters (Twilio `<Parameter>`); values are strings. */
  customParameters: Record<string, string>;
}

/**
 * Patchbay's bot commands, outside Twilio's event names so Twilio bots never collide:
 *   {"event":"patchbay","command":"dtmf","digits":"123#"}        send digits to the caller (RFC 4733, else tones)
 *   {"event":"patchbay","command":"hangup","reason":"done"}      end the call (BYE)
 *   {"event":"patchbay","command":"transfer","target":"sip:a@b"} blind transfer (REFER)
 */
export type BotCommand =
  | { command: 'dtmf'; digits: string }
  | { command: 'hangup'; reason?: string }
  | { command: 'transfer'; target: string };

/**
 * A bot message decoded by a dialect. `invalid` is logged and ignored by the bridge. An
 * `audio` or `mulaw` input (object and audio) may be reused for the dialect's next message:
 * copy to keep. `mulaw` is the bot's 8 kHz µ-law as it sent it, after keepBotMulaw().
 */
export type BotInput =
  | { kind: 'audio'; pcm: Int16Array }
  | { kind: 'mulaw'; mulaw: Uint8Array }
  | { kind: 'mark'; name: string }
  | { kind: 'clear' }
  | { kind: 'command'; command: BotCommand }
  | { kind: 'invalid'; reason: string };

export interface StreamDialect {
  readonly name: 'twilio' | 'stereo' | 'exotel';
  /** Sample rate of the PCM the dialect sends and receives. */
  readonly sampleRate: number;
  /** Messages that open the stream (e.g. `connected` then `start`). */
  open(call: StreamCallInfo): WireMessage[];
  /** Whether caller frames travel as binary WebSocket messages (else as text). */
  readonly binaryFrames: boolean;
  /** Whether a caller frame carries the bot frame played beside it (a second channel). */
  readonly carriesBotFrame: boolean;
  /**
   * One 20 ms caller frame, as a message of its own; `botFrame` is the bot audio played at the
   * same instant.
   */
  callerAudio(callerFrame: Int16Array, botFrame: Int16Array): WireMessage;
  /**
   * The hot path's form of callerAudio: the same message, byte for byte (UTF-8 for text), in a
   * buffer the dialect reuses for its next frame, so send or copy it at once.
   */
  callerAudioFrame(callerFrame: Int16Array, botFrame: Int16Array): Buffer;
  /**
   * For a dialect whose wire audio is mono 8 kHz µ-law: callerAudioFrame for a frame already
   * µ-law (the carrier's PCMU, passed without decoding), in the same reused buffer.
   */
  callerMulawFrame?(mulaw: Uint8Array): Buffer;
  /**
   * For a dialect whose wire audio is mono 8 kHz µ-law: from now on the bot's audio is handed
   * over as its bytes (`mulaw` inputs), not decoded into `audio`.
   */
  keepBotMulaw?(): void;
  /** A caller's digit; `durationMs` is how long it was held, when the carrier said (RFC 4733). */
  dtmf(digit: string, durationMs?: number): WireMessage | undefined;
  markPlayed(name: string): WireMessage | undefined;
  /** Patchbay extension events (VAD `speech_started`/`speech_stopped`). */
  extensionEvent(name: string): WireMessage | undefined;
  stop(): WireMessage | undefined;
  /** A bot message; text as ws hands it over (a Buffer of UTF-8, which ws has validated). */
  parse(data: Uint8Array | string, isBinary: boolean): BotInput;
}

const DTMF_DIGITS = /^[0-9A-D*#]{1,32}$/;

/** The fields of a `{"event":"patchbay",...}` command, unchecked until parseBotCommand validates them. */
export interface BotCommandFields {
  command?: unknown;
  digits?: unknown;
  reason?: unknown;
  target?: unknown;
}

/**
 * A bot's JSON message as parsed: the fields any dialect reads (Twilio and Exotel name the
 * message in `event`, jambonz in `type`), each unchecked until the dialect validates it.
 */
export interface BotMessage extends BotCommandFields {
  event?: unknown;
  type?: unknown;
  streamSid?: unknown;
  stream_sid?: unknown;
  media?: unknown;
  mark?: unknown;
  data?: unknown;
}

/** Validates a `{"event":"patchbay",...}` object shared by the JSON dialects. */
export function parseBotCommand(message: BotCommandFields): BotInput {
  const command = message.command;
  if (command === 'dtmf') {
    const digits = message.digits;
    if (typeof digits !== 'string' || !DTMF_DIGITS.test(digits))
      return { kind: 'invalid', reason: 'bad dtmf digits' };
    return { kind: 'command', command: { command: 'dtmf', digits } };
  }
  if (command === 'hangup') {
    const reason = typeof message.reason === 'string' ? message.reason : undefined;
    return {
      kind: 'command',
      command: reason === undefined ? { command: 'hangup' } : { command: 'hangup', reason },
    };
  }
  if (command === 'transfer') {
    const target = message.target;
    // The SIP side checks the URI itself; no whitespace, quotes or angle brackets get that far.
    if (typeof target !== 'string' || !/^(sips?|tel):[^\s<>"]{1,1024}$/i.test(target))
      return { kind: 'invalid', reason: 'bad transfer target' };
    return { kind: 'command', command: { command: 'transfer', target } };
  }
  return { kind: 'invalid', reason: 'unknown patchbay command' };
}

/**
 * Longest mark name accepted, in UTF-8 bytes. A mark is held until its audio has played and
 * then echoed, so its name is memory and output a bot controls: 1000 pending marks hold at
 * most 256 KB. Twilio documents no limit; real bots use short ids.
 */
export const MAX_MARK_NAME_BYTES = 256;

/**
 * A bot mark: its name must be a string of at most MAX_MARK_NAME_BYTES. A longer one is
 * refused as invalid (counted, never echoed): cutting it would echo a name the bot never sent.
 */
export function markInput(name: unknown): BotInput {
  if (typeof name !== 'string') return { kind: 'invalid', reason: 'mark without name' };
  // A string of n UTF-16 units is n to 3n bytes of UTF-8: count bytes only when it matters.
  const tooLong =
    name.length > MAX_MARK_NAME_BYTES ||
    (name.length * 3 > MAX_MARK_NAME_BYTES && Buffer.byteLength(name, 'utf8') > MAX_MARK_NAME_BYTES);
  if (tooLong) return { kind: 'invalid', reason: `mark name over ${MAX_MARK_NAME_BYTES} bytes` };
  return { kind: 'mark', name };
}

/** How a Twilio-shaped dialect names its stream id and carries bot audio. */
export interface EventWire {
  /** For reasons: 'twilio', 'exotel'. */
  mode: string;
  /** The stream id's field name and this stream's value. */
  streamIdField: 'streamSid' | 'stream_sid';
  streamId: string;
  /** Decodes a `media` event's payload (already known to be a string). */
  media(payload: string): BotInput;
  /** Reads `media` events of this stream from the bytes, before the full parser. */
  scanner: MediaEventScanner;
  /** Turns a `media` payload, base64 already decoded, into audio (as `media` does). */
  audio(bytes: Uint8Array): BotInput;
}

/**
 * A dialect's EventWire, its scanner reading the stream id the wire names. Written out field by
 * field, not spread: every bot message reads `scanner` and `audio`, and spread copies took
 * shapes enough for V8 to read them through the megamorphic stub cache.
 */
export function eventWire(wire: Omit<EventWire, 'scanner'>): EventWire {
  return {
    mode: wire.mode,
    streamIdField: wire.streamIdField,
    streamId: wire.streamId,
    media: wire.media,
    scanner: new MediaEventScanner(wire.streamIdField, wire.streamId),
    audio: wire.audio,
  };
}

/**
 * The bot events Twilio and the dialects shaped after it (Exotel) share: JSON text only,
 * `patchbay` commands, then `media`, `mark` and `clear` carrying this stream's id.
 */
export function parseStreamEvent(data: Uint8Array | string, isBinary: boolean, wire: EventWire): BotInput {
  if (isBinary) return { kind: 'invalid', reason: `binary frame in ${wire.mode} mode` };
  // ws hands every message over as a Buffer; other byte arrays are for tests and take the parser.
  if (Buffer.isBuffer(data)) {
    const payload = wire.scanner.mediaPayload(data);
    if (payload) return wire.audio(payload);
  }
  const message = parseJsonObject(data);
  if (typeof message === 'string') return { kind: 'invalid', reason: message };
  if (message.event === 'patchbay') return parseBotCommand(message);
  if (message[wire.streamIdField] !== wire.streamId)
    return { kind: 'invalid', reason: `wrong ${wire.streamIdField}` };
  switch (message.event) {
    case 'media': {
      const payload = (message.media as { payload?: unknown } | undefined)?.payload;
      if (typeof payload !== 'string') return { kind: 'invalid', reason: 'media without payload' };
      return wire.media(payload);
    }
    case 'mark':
      return markInput((message.mark as { name?: unknown } | undefined)?.name);
    case 'clear':
      return { kind: 'clear' };
    default:
      return { kind: 'invalid', reason: 'unknown event' };
  }
}

/** JSON's insignificant whitespace (RFC 8259 §2): space, tab, line feed, carriage return. */
function isJsonWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

/**
 * Parses a JSON text message into an object, or explains why not. Text that cannot open an
 * object is refused from its first character, before JSON.parse builds (and throws) anything.
 */
export function parseJsonObject(data: Uint8Array | string): BotMessage | string {
  const text =
    typeof data === 'string'
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  let first = 0;
  while (first < text.length && isJsonWhitespace(text.charCodeAt(first))) first++;
  if (text.charCodeAt(first) !== 0x7b) return 'not a JSON object';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'invalid JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  return value as BotMessage;
}

/** Twilio-style ids: a two-letter prefix and 32 hex digits (34 characters). */
export function twilioStyleSid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}
