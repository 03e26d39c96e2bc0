/**
 * A strict Twilio Media Streams checker, written from Twilio's public documentation
 * (twilio.com/docs/voice/media-streams/websocket-messages) and the wire rules in README.md. Feed it
 * every message the gateway sends to a bot, in order; it reports every deviation it sees:
 * order (`connected`, one `start`, `media`/`dtmf`/`mark`, `stop` last), exact field sets,
 * JSON types (counters and timestamps are strings, `mediaFormat` numbers are numbers),
 * `sequenceNumber` +1 across every message after `connected`, `media.chunk` +1 from "1",
 * `media.timestamp` +20 ms per chunk, 160-byte µ-law payloads, one streamSid throughout.
 */

type Json = Record<string, unknown>;

const STREAM_SID = /^MZ[0-9a-f]{32}$/;
const DECIMAL = /^(0|[1-9][0-9]*)$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DTMF_DIGIT = /^[0-9A-D*#]$/;
const FRAME_MS = 20;
const PAYLOAD_BYTES = 160;

export class TwilioStrictChecker {
  /** Every violation so far, each prefixed with the message index and event. */
  readonly violations: string[] = [];
  private index = -1;
  private phase: 'connected' | 'start' | 'streaming' | 'stopped' = 'connected';
  private expectedSequence = 1;
  private expectedChunk = 1;
  private lastTimestamp: number | undefined;
  private streamSid: string | undefined;
  private callSid: string | undefined;
  private accountSid: string | undefined;
  private current: string[] = [];
  private label = '';

  /** Checks the next message sent to the bot; returns the violations it caused. */
  check(message: unknown): string[] {
    this.index++;
    this.current = [];
    this.label = `#${this.index}`;
    this.checkMessage(message);
    this.violations.push(...this.current);
    return this.current;
  }

  /** End of stream: reports a stream that never started or never stopped. */
  finish(): string[] {
    this.current = [];
    this.label = 'end';
    if (this.phase === 'connected') this.fail('no connected message');
    else if (this.phase === 'start') this.fail('no start message');
    else if (this.phase === 'streaming') this.fail('stream ended without stop');
    this.violations.push(...this.current);
    return this.current;
  }

  /** Checks a whole stream, `finish()` included. */
  static checkAll(messages: readonly unknown[]): string[] {
    const checker = new TwilioStrictChecker();
    for (const message of messages) checker.check(message);
    checker.finish();
    return checker.violations;
  }

  private checkMessage(message: unknown): void {
    if (typeof message !== 'string') {
      this.fail('not a text frame');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      this.fail('invalid JSON');
      return;
    }
    if (!isObject(parsed)) {
      this.fail('not a JSON object');
      return;
    }
    const event = parsed['event'];
    if (typeof event !== 'string') {
      this.fail('event is not a string');
      return;
    }
    this.label = `#${this.index} ${event}`;
    if (this.phase === 'stopped') this.fail('message after stop');
    if (this.phase === 'connected') {
      this.phase = 'start';
      if (event === 'connected') {
        this.checkConnected(parsed);
        return;
      }
      this.fail('first message is not connected');
    } else if (event === 'connected') {
      this.fail('connected repeated');
      return;
    }
    if (this.phase === 'start' && event !== 'start') this.fail('message before start');
    if (this.phase === 'streaming' && event === 'start') this.fail('start repeated');
    switch (event) {
      case 'start':
        this.checkStart(parsed);
        break;
      case 'media':
        this.checkMedia(parsed);
        break;
      case 'dtmf':
        this.checkDtmf(parsed);
        break;
      case 'mark':
        this.checkMark(parsed);
        break;
      case 'stop':
        this.checkStop(parsed);
        break;
      default:
        this.fail('unknown event');
    }
  }

  private checkConnected(message: Json): void {
    this.exactFields(message, ['event', 'protocol', 'version'], '');
    if (message['protocol'] !== 'Call') this.fail('protocol is not "Call"');
    if (message['version'] !== '1.0.0') this.fail('version is not "1.0.0"');
  }

  private checkStart(message: Json): void {
    this.envelope(message, 'start');
    const start = this.object(message, 'start');
    if (this.phase === 'start') this.phase = 'streaming';
    if (!start) return;
    this.exactFields(
      start,
      ['accountSid', 'streamSid', 'callSid', 'tracks', 'customParameters', 'mediaFormat'],
      'start.',
    );
    if (start['streamSid'] !== message['streamSid']) this.fail('start.streamSid differs from streamSid');
    this.callSid = this.nonEmptyString(start, 'callSid', 'start.');
    this.accountSid = this.nonEmptyString(start, 'accountSid', 'start.');
    const tracks = start['tracks'];
    if (
      !Array.isArray(tracks) ||
      tracks.length === 0 ||
      !tracks.every((t) => t === 'inbound' || t === 'outbound')
    )
      this.fail('start.tracks is not a non-empty array of "inbound"/"outbound"');
    const custom = start['customParameters'];
    if (!isObject(custom) || !Object.values(custom).every((v) => typeof v === 'string'))
      this.fail('start.customParameters is not an object of strings');
    const format = start['mediaFormat'];
    if (!isObject(format)) {
      this.fail('start.mediaFormat is not an object');
      return;
    }
    this.exactFields(format, ['encoding', 'sampleRate', 'channels'], 'start.mediaFormat.');
    if (format['encoding'] !== 'audio/x-mulaw')
      this.fail('start.mediaFormat.encoding is not "audio/x-mulaw"');
    if (format['sampleRate'] !== 8000) this.fail('start.mediaFormat.sampleRate is not the number 8000');
    if (format['channels'] !== 1) this.fail('start.mediaFormat.channels is not the number 1');
  }

  private checkMedia(message: Json): void {
    this.envelope(message, 'media');
    const media = this.object(message, 'media');
    if (!media) return;
    this.exactFields(media, ['track', 'chunk', 'timestamp', 'payload'], 'media.');
    if (media['track'] !== 'inbound') this.fail('media.track is not "inbound"');
    const chunk = this.decimal(media, 'chunk', 'media.');
    if (chunk !== undefined && chunk !== this.expectedChunk)
      this.fail(`media.chunk ${chunk}, expected ${this.expectedChunk}`);
    this.expectedChunk = (chunk ?? this.expectedChunk) + 1;
    const timestamp = this.decimal(media, 'timestamp', 'media.');
    if (timestamp !== undefined) {
      if (this.lastTimestamp !== undefined && timestamp < this.lastTimestamp)
        this.fail(`media.timestamp went back from ${this.lastTimestamp} to ${timestamp}`);
      else if (this.lastTimestamp !== undefined && timestamp !== this.lastTimestamp + FRAME_MS)
        this.fail(`media.timestamp ${timestamp}, expected ${this.lastTimestamp + FRAME_MS}`);
      this.lastTimestamp = timestamp;
    }
    const payload = media['payload'];
    if (typeof payload !== 'string') {
      this.fail('media.payload is not a string');
      return;
    }
    if (payload.length % 4 !== 0 || !BASE64.test(payload)) {
      this.fail('media.payload is not base64');
      return;
    }
    const bytes = Buffer.from(payload, 'base64').length;
    if (bytes !== PAYLOAD_BYTES) this.fail(`media.payload is ${bytes} bytes, not ${PAYLOAD_BYTES}`);
  }

  private checkDtmf(message: Json): void {
    this.envelope(message, 'dtmf');
    const dtmf = this.object(message, 'dtmf');
    if (!dtmf) return;
    this.exactFields(dtmf, ['track', 'digit'], 'dtmf.');
    if (dtmf['track'] !== 'inbound_track') this.fail('dtmf.track is not "inbound_track"');
    if (typeof dtmf['digit'] !== 'string' || !DTMF_DIGIT.test(dtmf['digit']))
      this.fail('dtmf.digit is not one DTMF digit');
  }

  private checkMark(message: Json): void {
    this.envelope(message, 'mark');
    const mark = this.object(message, 'mark');
    if (!mark) return;
    this.exactFields(mark, ['name'], 'mark.');
    if (typeof mark['name'] !== 'string') this.fail('mark.name is not a string');
  }

  private checkStop(message: Json): void {
    this.envelope(message, 'stop');
    this.phase = 'stopped';
    const stop = this.object(message, 'stop');
    if (!stop) return;
    this.exactFields(stop, ['accountSid', 'callSid'], 'stop.');
    if (stop['accountSid'] !== this.accountSid) this.fail('stop.accountSid differs from start');
    if (stop['callSid'] !== this.callSid) this.fail('stop.callSid differs from start');
  }

  /** Fields every message after `connected` has: event, sequenceNumber, streamSid, body. */
  private envelope(message: Json, body: string): void {
    this.exactFields(message, ['event', 'sequenceNumber', 'streamSid', body], '');
    const sequence = this.decimal(message, 'sequenceNumber', '');
    if (sequence !== undefined && sequence !== this.expectedSequence)
      this.fail(`sequenceNumber ${sequence}, expected ${this.expectedSequence}`);
    this.expectedSequence = (sequence ?? this.expectedSequence) + 1;
    const sid = message['streamSid'];
    if (typeof sid !== 'string' || !STREAM_SID.test(sid)) {
      this.fail('streamSid is not MZ + 32 hex digits');
      return;
    }
    if (this.streamSid === undefined) this.streamSid = sid;
    else if (sid !== this.streamSid) this.fail('streamSid changed');
  }

  private exactFields(object: Json, expected: readonly string[], path: string): void {
    for (const name of expected) if (!(name in object)) this.fail(`missing ${path}${name}`);
    for (const name of Object.keys(object))
      if (!expected.includes(name)) this.fail(`unknown field ${path}${name}`);
  }

  private object(message: Json, name: string): Json | undefined {
    const value = message[name];
    if (isObject(value)) return value;
    this.fail(`${name} is not an object`);
    return undefined;
  }

  private nonEmptyString(object: Json, name: string, path: string): string | undefined {
    const value = object[name];
    if (typeof value === 'string' && value.length > 0) return value;
    this.fail(`${path}${name} is not a non-empty string`);
    return undefined;
  }

  /** A counter Twilio sends as a decimal string; reports numbers and other junk. */
  private decimal(object: Json, name: string, path: string): number | undefined {
    const value = object[name];
    if (typeof value === 'string' && DECIMAL.test(value)) return Number(value);
    this.fail(`${path}${name} is not a decimal string`);
    return undefined;
  }

  private fail(text: string): void {
    this.current.push(`${this.label}: ${text}`);
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
