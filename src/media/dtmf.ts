/**
 * RFC 4733 telephone-events (DTMF) over RTP: a receiver that reports each digit once and a
 * sender that produces the packet train for a digit. Both are pure: no sockets, no timers.
 */
import type { ReceivedRtp } from './rtp/types.js';

/** RFC 4733 §3.2: events 0-9, *, #, A-D. Event 16 (flash) and tones beyond are not digits. */
const DIGITS = '0123456789*#ABCD';
const EVENT_PAYLOAD_BYTES = 4;
/** Timestamps of reported events remembered, to drop late retransmissions (RFC 4733 §2.5.1.4). */
const REMEMBERED_EVENTS = 8;
const READY_QUEUE_LIMIT = 4;
/** With no packet for this long, an event whose end packets were all lost is reported anyway. */
const DEFAULT_LOST_END_TIMEOUT_MS = 1000;

export interface DtmfEvent {
  digit: string;
  durationMs: number;
  /** Power level in -dBm0 (0 = loudest), RFC 4733 §2.3.4. */
  volume: number;
  /** RTP timestamp of the event start, identical in all of its packets (§2.5.1.2). */
  startTimestamp: number;
}

interface TelephoneEventPayload {
  event: number;
  end: boolean;
  volume: number;
  /** In RTP timestamp units. */
  duration: number;
}

/** Parses the 4-byte event payload (RFC 4733 §2.3); undefined when too short. */
export function parseTelephoneEvent(payload: Uint8Array): TelephoneEventPayload | undefined {
  if (payload.length < EVENT_PAYLOAD_BYTES) return undefined;
  const flags = payload[1]!;
  return {
    event: payload[0]!,
    end: (flags & 0x80) !== 0,
    volume: flags & 0x3f,
    duration: (payload[2]! << 8) | payload[3]!,
  };
}

export function serializeTelephoneEvent(event: TelephoneEventPayload): Uint8Array {
  return Uint8Array.of(
    event.event,
    (event.end ? 0x80 : 0) | (event.volume & 0x3f),
    (event.duration >> 8) & 0xff,
    event.duration & 0xff,
  );
}

function digitToEvent(digit: string): number {
  const code = DIGITS.indexOf(digit.toUpperCase());
  if (code < 0 || digit.length !== 1) throw new RangeError(`not a DTMF digit: ${JSON.stringify(digit)}`);
  return code;
}

/** RFC 4733 §2.5.1.3: a long event goes on in segments of this many units (the duration's limit). */
const SEGMENT_UNITS = 0xffff;

interface OpenEvent {
  /** The first segment's timestamp: the event's start. */
  timestamp: number;
  /** The current segment's timestamp; earlier segments' are in `reported` already. */
  segmentTimestamp: number;
  digit: string;
  /** In the current segment. */
  duration: number;
  /** Of the segments before the current one. */
  priorDuration: number;
  volume: number;
  lastArrivalMs: number;
}

export class DtmfReceiver {
  readonly #clockRate: number;
  readonly #lostEndTimeoutMs: number;
  #open: OpenEvent | undefined;
  readonly #reported: number[] = [];
  readonly #ready: DtmfEvent[] = [];
  #malformedCount = 0;

  constructor(opts: { clockRate: number; lostEndTimeoutMs?: number }) {
    if (!(opts.clockRate > 0)) throw new RangeError('clockRate must be > 0');
    this.#clockRate = opts.clockRate;
    this.#lostEndTimeoutMs = opts.lostEndTimeoutMs ?? DEFAULT_LOST_END_TIMEOUT_MS;
  }

  /** Payloads too short, or events that are not DTMF digits. */
  get malformed(): number {
    return this.#malformedCount;
  }

  /**
   * Feeds one telephone-event packet. Returns a digit once (a long one of several segments,
   * RFC 4733 §2.5.1.3, as one): on its first end packet, or,
   * when all end packets were lost, when a packet with a new event timestamp arrives.
   */
  push(packet: ReceivedRtp): DtmfEvent | undefined {
    const parsed = parseTelephoneEvent(packet.payload);
    const digit = parsed ? DIGITS[parsed.event] : undefined;
    if (!parsed || digit === undefined) {
      this.#malformedCount++;
      return this.#ready.shift();
    }
    const timestamp = packet.timestamp >>> 0;
    if (this.#reported.includes(timestamp)) return this.#ready.shift();

    if (this.#open && this.#open.segmentTimestamp !== timestamp) {
      if (this.#continues(this.#open, timestamp, digit, packet.marker))
        this.#nextSegment(this.#open, timestamp);
      else this.#finish(); // §2.5.1.5: new event, old one's end lost
    }
    if (!this.#open) {
      this.#open = {
        timestamp,
        segmentTimestamp: timestamp,
        digit,
        duration: 0,
        priorDuration: 0,
        volume: parsed.volume,
        lastArrivalMs: packet.arrivalMs,
      };
    }
    const open = this.#open;
    open.lastArrivalMs = packet.arrivalMs;
    // Updates may arrive reordered; the longest duration seen is the event's (§2.5.2.2).
    if (parsed.duration >= open.duration) {
      open.duration = parsed.duration;
      open.volume = parsed.volume;
    }
    if (parsed.end) this.#finish();
    return this.#ready.shift();
  }

  /** Call periodically (e.g. on the media clock): reports an event whose end never came. */
  poll(nowMs: number): DtmfEvent | undefined {
    if (this.#open && nowMs - this.#open.lastArrivalMs >= this.#lostEndTimeoutMs) this.#finish();
    return this.#ready.shift();
  }

  /**
   * RFC 4733 §2.5.1.3: an event longer than the 16-bit duration goes on as a new segment whose
   * timestamp is the previous one's plus 0xFFFF, same event, without the marker bit. It is the
   * same press, not a new digit (whether or not the segment's 0xFFFF update arrived).
   */
  #continues(open: OpenEvent, timestamp: number, digit: string, marker: boolean): boolean {
    return !marker && digit === open.digit && timestamp === (open.segmentTimestamp + SEGMENT_UNITS) >>> 0;
  }

  #nextSegment(open: OpenEvent, timestamp: number): void {
    // Late retransmissions of the segment before are dropped like a reported event's.
    this.#remember(open.segmentTimestamp);
    open.priorDuration += SEGMENT_UNITS;
    open.segmentTimestamp = timestamp;
    open.duration = 0;
  }

  #remember(timestamp: number): void {
    this.#reported.push(timestamp);
    if (this.#reported.length > REMEMBERED_EVENTS) this.#reported.shift();
  }

  #finish(): void {
    const open = this.#open;
    if (!open) return;
    this.#open = undefined;
    this.#remember(open.segmentTimestamp);
    if (this.#ready.length >= READY_QUEUE_LIMIT) this.#ready.shift();
    this.#ready.push({
      digit: open.digit,
      durationMs: ((open.priorDuration + open.duration) * 1000) / this.#clockRate,
      volume: open.volume,
      startTimestamp: open.timestamp,
    });
  }
}

interface DtmfPacketOut {
  payload: Uint8Array;
  payloadType: number;
  timestamp: number;
  marker: boolean;
  /** When to send this packet, in ms after the train's start. */
  offsetMs: number;
}

interface DtmfSendOptions {
  /** Event duration; RFC 4733 §2.5.1.2 and ITU-T Q.24 want at least 40 ms. Default 100. */
  durationMs?: number;
  /** -dBm0, default 10. */
  volume?: number;
  /** Interval between updates: 50 ms per RFC 4733 §2.5.1.2, or the audio ptime. Default 50. */
  updateIntervalMs?: number;
  /** Silence between consecutive digits. Default 60 ms. */
  gapMs?: number;
}

/**
 * The final packet of an event, and of each segment, goes three times at the update interval
 * (RFC 4733 §2.5.1.4).
 */
const FINAL_PACKET_COPIES = 3;
/**
 * Longer events go on in segments (§2.5.1.3), so only the packets of one digit (one per update
 * interval) bound the duration: 10 s, past any API's digit (8.2 s on an 8 kHz clock before).
 */
const MAX_EVENT_MS = 10_000;

/** The event's duration in RTP clock units, which may take several 16-bit segments (§2.3.5, §2.5.1.3). */
function assertEventDuration(durationMs: number, clockRate: number): number {
  if (!(durationMs > 0) || durationMs > MAX_EVENT_MS)
    throw new RangeError(`DTMF duration ${durationMs} ms out of range`);
  return Math.round((durationMs * clockRate) / 1000);
}

/**
 * Throws RangeError on a non-digit or a duration out of range: what a DtmfTransmitter refuses
 * of `digits` before looking at its queue (also checked where the transmitter runs elsewhere,
 * so the caller gets the error at once).
 */
export function assertDtmfDigits(digits: string, durationMs: number | undefined, clockRate: number): void {
  for (const digit of digits) digitToEvent(digit);
  if (durationMs !== undefined) assertEventDuration(durationMs, clockRate);
}

export class DtmfSender {
  readonly clockRate: number;
  readonly #payloadType: number;

  constructor(opts: { clockRate: number; payloadType: number }) {
    if (!(opts.clockRate > 0)) throw new RangeError('clockRate must be > 0');
    if (!Number.isInteger(opts.payloadType) || opts.payloadType < 0 || opts.payloadType > 127)
      throw new RangeError(`bad payload type ${opts.payloadType}`);
    this.clockRate = opts.clockRate;
    this.#payloadType = opts.payloadType;
  }

  /**
   * The packet train for one digit starting at RTP `startTimestamp`, in order of `offsetMs`: a
   * start packet with the marker bit (§2.5.1.2), an update every interval, then the end packet
   * (E bit) three times, at the event's end and one and two intervals after: §2.5.1.4 wants the
   * final packet sent three times at the update interval, the copies identical, so one loss
   * does not lose the event's duration. An event longer than the 16-bit duration (1.37 s on a
   * 48 kHz clock) goes in segments (§2.5.1.3): each ends with a packet of duration 0xFFFF
   * without the E bit, sent three times the same way (but never after the event's end), and the
   * next starts at its timestamp + 0xFFFF, unmarked, its durations counted from there (its first
   * updates go between the copies).
   */
  packetsForDigit(digit: string, startTimestamp: number, options: DtmfSendOptions = {}): DtmfPacketOut[] {
    const event = digitToEvent(digit);
    const durationMs = options.durationMs ?? 100;
    const intervalMs = options.updateIntervalMs ?? 50;
    const volume = options.volume ?? 10;
    const totalUnits = assertEventDuration(durationMs, this.clockRate);
    if (!(intervalMs > 0)) throw new RangeError('updateIntervalMs must be > 0');
    if (!Number.isInteger(volume) || volume < 0 || volume > 63) throw new RangeError(`bad volume ${volume}`);
    const lastSegment = Math.max(0, Math.ceil(totalUnits / SEGMENT_UNITS) - 1);
    let segment = 0;
    const packets: DtmfPacketOut[] = [];
    const push = (offsetMs: number, units: number, end: boolean, copies = 1): void => {
      const segmentStart = segment * SEGMENT_UNITS;
      const payload = serializeTelephoneEvent({ event, end, volume, duration: units - segmentStart });
      const timestamp = (startTimestamp + segmentStart) >>> 0;
      // A segment's copies never follow the event's end: a receiver that forgot the segment
      // could take a copy after it for a new press.
      const latestMs = end ? Number.POSITIVE_INFINITY : durationMs;
      for (let copy = 0; copy < copies; copy++)
        packets.push({
          payload,
          payloadType: this.#payloadType,
          timestamp,
          marker: packets.length === 0,
          offsetMs: Math.min(offsetMs + copy * intervalMs, latestMs),
        });
    };
    /** Ends the segments that are over by `units` into the event. */
    const closeSegments = (units: number): void => {
      while (segment < lastSegment && units >= (segment + 1) * SEGMENT_UNITS) {
        const boundary = (segment + 1) * SEGMENT_UNITS;
        push((boundary * 1000) / this.clockRate, boundary, false, FINAL_PACKET_COPIES);
        segment++;
      }
    };
    for (let offsetMs = 0; offsetMs < durationMs; offsetMs += intervalMs) {
      const units = Math.round((offsetMs * this.clockRate) / 1000);
      closeSegments(units);
      push(offsetMs, units, false);
    }
    closeSegments(totalUnits);
    push(durationMs, totalUnits, true, FINAL_PACKET_COPIES);
    // A segment's later copies are due after the next segment's first updates. The sort is
    // stable: packets due together keep the order they were built in (a segment's end first).
    return packets.sort((a, b) => a.offsetMs - b.offsetMs);
  }
}

const DEFAULT_MAX_QUEUED_DIGITS = 64;

/** A digit waiting to be sent, with its own duration when it was given one. */
export interface QueuedDigit {
  digit: string;
  durationMs: number | undefined;
}

/**
 * The digits a sender has yet to send, in order and bounded: whatever sends them (RFC 4733
 * events, or tones in the audio) refuses the same digits, durations and overflow the same way.
 */
export class DigitQueue {
  readonly #clockRate: number;
  readonly #max: number;
  readonly #digits: QueuedDigit[] = [];

  /** `clockRate` is the sender's, for the duration check; at most `max` digits wait. */
  constructor(clockRate: number, max = DEFAULT_MAX_QUEUED_DIGITS) {
    this.#clockRate = clockRate;
    this.#max = max;
  }

  get length(): number {
    return this.#digits.length;
  }

  /**
   * Queues digits, each lasting `durationMs` (undefined: the sender's default); throws
   * RangeError on a non-digit, a duration out of range or when the queue would overflow.
   */
  enqueue(digits: string, durationMs?: number): void {
    assertDtmfDigits(digits, durationMs, this.#clockRate);
    if (this.#digits.length + digits.length > this.#max)
      throw new RangeError(`DTMF queue full (${this.#max} digits)`);
    for (const digit of digits) this.#digits.push({ digit, durationMs });
  }

  shift(): QueuedDigit | undefined {
    return this.#digits.shift();
  }

  clear(): void {
    this.#digits.length = 0;
  }
}

interface ActiveTrain {
  packets: DtmfPacketOut[];
  next: number;
  startMs: number;
}

/**
 * Sends queued digits on the media clock: each digit starts at the audio stream's current
 * RTP timestamp, so events share the audio timeline, and its packets go out as their offsets
 * come due. While `active`, the caller sends no audio (RFC 4733 §2.5.1.1 and §2.5.1.2: the
 * event replaces the audio it stands for).
 */
export class DtmfTransmitter {
  readonly #sender: DtmfSender;
  readonly #sendPacket: (
    payload: Uint8Array,
    opts: { payloadType: number; timestamp: number; marker: boolean },
  ) => void;
  readonly #options: DtmfSendOptions;
  readonly #queue: DigitQueue;
  #train: ActiveTrain | undefined;
  #gapUntilMs = Number.NEGATIVE_INFINITY;

  constructor(opts: {
    sender: DtmfSender;
    send: (payload: Uint8Array, opts: { payloadType: number; timestamp: number; marker: boolean }) => void;
    options?: DtmfSendOptions;
    maxQueuedDigits?: number;
  }) {
    this.#sender = opts.sender;
    this.#sendPacket = opts.send;
    this.#options = opts.options ?? {};
    this.#queue = new DigitQueue(opts.sender.clockRate, opts.maxQueuedDigits);
  }

  /** True while a digit's packets are being sent, until its last end copy has gone. */
  get active(): boolean {
    return this.#train !== undefined;
  }

  get pendingDigits(): number {
    return this.#queue.length;
  }

  /**
   * Queues digits, each lasting `durationMs` (default: the transmitter's option); throws
   * RangeError on a non-digit, a duration out of range or when the bounded queue would overflow.
   */
  enqueue(digits: string, durationMs?: number): void {
    this.#queue.enqueue(digits, durationMs);
  }

  /** Drops queued digits (the one in flight still ends properly, with its end packets). */
  clear(): void {
    this.#queue.clear();
  }

  /** Call on every media-clock tick with the RTP timestamp the next audio frame would carry. */
  tick(nowMs: number, audioTimestamp: number): void {
    const next = !this.#train && nowMs >= this.#gapUntilMs ? this.#queue.shift() : undefined;
    if (next) {
      const { digit, durationMs } = next;
      const options = durationMs === undefined ? this.#options : { ...this.#options, durationMs };
      this.#train = {
        packets: this.#sender.packetsForDigit(digit, audioTimestamp, options),
        next: 0,
        startMs: nowMs,
      };
    }
    const train = this.#train;
    if (!train) return;
    while (
      train.next < train.packets.length &&
      train.packets[train.next]!.offsetMs <= nowMs - train.startMs
    ) {
      const packet = train.packets[train.next++]!;
      this.#sendPacket(packet.payload, packet);
    }
    if (train.next === train.packets.length) {
      this.#train = undefined;
      this.#gapUntilMs = nowMs + (this.#options.gapMs ?? 60);
    }
  }
}
