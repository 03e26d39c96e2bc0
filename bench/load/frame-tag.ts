/**
 * The tag a load-bench frame carries inside its 160-byte µ-law payload (one frame in a few of
 * a caller's speech, see talker.ts), so the far side
 * can tell which call and frame it is and when it was sent: call index, the caller's send
 * time (which also names the frame: it grows with every frame of a call) and the bot's echo
 * time. Each field is written as µ-law codes, one per
 * hex digit; every µ-law code but 0x7F survives G.711 decode and re-encode unchanged, so the
 * tag crosses the gateway's PCMU -> PCM -> PCMU path intact. The gateway's G.711 Appendix I
 * PLC delays caller audio by 30 samples and its jitter buffer's time-stretching moves it
 * further, so a tag can land anywhere in the frame the bot gets, or across two: each frame
 * carries two copies half a frame apart, so at any shift one of them lies whole in one frame.
 * The playout's time compression changes that shift mid-stream (it skips a period), so the
 * callers read each packet after the previous one's last TAG_BYTES - 1 bytes (TagStreamReader):
 * a copy split across two packets is still found.
 * Readers find copies by their sync pattern; a checksum refuses a copy that concealment or
 * time-stretching altered.
 *
 * Times are CLOCK_MONOTONIC microseconds (process.hrtime), the same clock in every process on
 * the host, so a bot in another process can subtract the caller's send time.
 */

/**
 * µ-law codes that open a tag; none of them is a digit code. The first decodes to 6,652: a
 * tagged frame is never quiet enough for the playout to trim it as silence.
 */
const SYNC = Buffer.from([0xa5, 0xb6, 0xc7, 0xd8]);
/** Hex digit d is written as the µ-law code DIGIT_BASE + d. */
const DIGIT_BASE = 0x40;

const CALL_DIGITS = 4;
/** 48-bit microseconds: 8.9 years of uptime. */
const TIME_DIGITS = 12;
/** 16 bits: a copy that time-stretching garbled passes for intact once in 65,536. */
const CHECK_DIGITS = 4;
const CALL_AT = SYNC.length;
const CALLER_SENT_AT = CALL_AT + CALL_DIGITS;
const BOT_SENT_AT = CALLER_SENT_AT + TIME_DIGITS;
const CHECK_AT = BOT_SENT_AT + TIME_DIGITS;
export const TAG_BYTES = CHECK_AT + CHECK_DIGITS;
/** Bytes of the previous payload read in front of the next: one fewer than a tag. */
const CARRIED_BYTES = TAG_BYTES - 1;
/** Where the copies start in a caller's 160-byte frame: half a frame apart (each is TAG_BYTES = 36 long). */
export const TAG_OFFSETS = [0, 80] as const;

export interface FrameTag {
  /** Index of the call in its step. */
  call: number;
  /** When the caller sent the frame; unique per frame of a call. */
  callerSentUs: number;
  /** 0 until the bot echoes the frame. */
  botSentUs: number;
}

/** CLOCK_MONOTONIC in microseconds. */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

function writeDigits(payload: Buffer, at: number, digits: number, value: number): void {
  for (let i = digits - 1; i >= 0; i--) {
    payload[at + i] = DIGIT_BASE + (value % 16);
    value = Math.floor(value / 16);
  }
}

/** The digits' value, or -1 if a byte is not a digit code. */
function readDigits(payload: Buffer, at: number, digits: number): number {
  let value = 0;
  for (let i = 0; i < digits; i++) {
    const digit = (payload[at + i] ?? 0) - DIGIT_BASE;
    if (digit < 0 || digit > 15) return -1;
    value = value * 16 + digit;
  }
  return value;
}

/** A rolling hash of the field digits (position-weighted, so swapped digits are caught too). */
function checksum(payload: Buffer, at: number): number {
  let sum = 0;
  for (let i = at + CALL_AT; i < at + CHECK_AT; i++) sum = (sum * 31 + (payload[i] ?? 0)) & 0xffff;
  return sum;
}

/** Writes `tag` into `payload` at `at` (TAG_BYTES bytes). */
export function writeTag(payload: Buffer, at: number, tag: FrameTag): void {
  SYNC.copy(payload, at);
  writeDigits(payload, at + CALL_AT, CALL_DIGITS, tag.call);
  writeDigits(payload, at + CALLER_SENT_AT, TIME_DIGITS, tag.callerSentUs);
  writeDigits(payload, at + BOT_SENT_AT, TIME_DIGITS, tag.botSentUs);
  writeDigits(payload, at + CHECK_AT, CHECK_DIGITS, checksum(payload, at));
}

/** Every intact tag copy in `payload`, with where it starts. */
export function findTags(payload: Buffer): Array<{ at: number; tag: FrameTag }> {
  const found: Array<{ at: number; tag: FrameTag }> = [];
  for (
    let at = payload.indexOf(SYNC);
    at >= 0 && at + TAG_BYTES <= payload.length;
    at = payload.indexOf(SYNC, at + 1)
  ) {
    if (readDigits(payload, at + CHECK_AT, CHECK_DIGITS) !== checksum(payload, at)) continue;
    const call = readDigits(payload, at + CALL_AT, CALL_DIGITS);
    const callerSentUs = readDigits(payload, at + CALLER_SENT_AT, TIME_DIGITS);
    const botSentUs = readDigits(payload, at + BOT_SENT_AT, TIME_DIGITS);
    if (call >= 0 && callerSentUs >= 0 && botSentUs >= 0)
      found.push({ at, tag: { call, callerSentUs, botSentUs } });
  }
  return found;
}

/**
 * Reads the tags of one stream of payloads, each after the previous one's last TAG_BYTES - 1
 * bytes: a copy that a shift split across two payloads is found whole, and each copy once (the
 * bytes carried over are too few to hold one).
 */
export class TagStreamReader {
  /** The previous payload's last CARRIED_BYTES, then the payload being read. */
  readonly #received: Buffer;

  constructor(maxPayloadBytes: number) {
    this.#received = Buffer.alloc(CARRIED_BYTES + maxPayloadBytes);
  }

  /** The intact tag copies in `source[start, end)` (at most maxPayloadBytes) and before it. */
  read(source: Uint8Array, start: number, end: number): Array<{ at: number; tag: FrameTag }> {
    const received = this.#received;
    const length = Math.max(0, Math.min(end - start, received.length - CARRIED_BYTES));
    received.set(source.subarray(start, start + length), CARRIED_BYTES);
    const found = findTags(received.subarray(0, CARRIED_BYTES + length));
    received.copy(received, 0, length, CARRIED_BYTES + length);
    return found;
  }
}
