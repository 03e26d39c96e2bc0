import type { ReceivedRtp } from './types.js';

/** The fixed RTP header (RFC 3550 §5.1). */
const FIXED_HEADER_BYTES = 12;
const RTP_VERSION = 2;

/** RFC 5761 §4: a second byte of 192-223 is an RTCP packet type (SR 200, RR 201, BYE 203...). */
export function isRtcpPacketType(secondByte: number): boolean {
  return secondByte >= 192 && secondByte <= 223;
}

/**
 * The one RTP parser: the packet (RFC 3550 §5.1) when the bytes plausibly are RTP: version 2,
 * CSRCs, header extension (§5.3.1) and padding (a count of 1 or more) inside the packet, and
 * not RTCP (marker plus payload types 64-95 would collide with RTCP's packet types, RFC 5761
 * §4). The payload is a view into `bytes`, not a copy; reads bytes directly so the only
 * allocations are the result and its payload view.
 */
export function parseRtp(bytes: Uint8Array, arrivalMs: number): ReceivedRtp | undefined {
  const length = bytes.length;
  if (length < FIXED_HEADER_BYTES) return undefined;
  const first = bytes[0] as number;
  const second = bytes[1] as number;
  if (first >> 6 !== RTP_VERSION || isRtcpPacketType(second)) return undefined;
  let offset = FIXED_HEADER_BYTES + (first & 0x0f) * 4;
  if (first & 0x10) {
    if (offset + 4 > length) return undefined;
    offset += 4 + (((bytes[offset + 2] as number) << 8) | (bytes[offset + 3] as number)) * 4;
  }
  // §5.1: the last octet of the padding counts the padding octets, itself included, so a count
  // of 0 or one reaching into the header makes the packet invalid (A.1).
  let end = length;
  if (first & 0x20) {
    const padding = bytes[length - 1] as number;
    if (padding === 0) return undefined;
    end -= padding;
  }
  if (offset > end) return undefined;
  return {
    payloadType: second & 0x7f,
    sequenceNumber: ((bytes[2] as number) << 8) | (bytes[3] as number),
    timestamp: readUint32(bytes, 4),
    ssrc: readUint32(bytes, 8),
    marker: (second & 0x80) !== 0,
    payload: bytes.subarray(offset, end),
    arrivalMs,
  };
}

function readUint32(bytes: Uint8Array, at: number): number {
  return (
    (((bytes[at] as number) << 24) |
      ((bytes[at + 1] as number) << 16) |
      ((bytes[at + 2] as number) << 8) |
      (bytes[at + 3] as number)) >>>
    0
  );
}
