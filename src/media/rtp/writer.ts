/**
 * Outgoing RTP packets (RFC 3550 §5.1) written straight into one buffer per stream, reused
 * for every packet, instead of a packet object, a DataView and a fresh buffer per 20 ms frame.
 */

/** The fixed header: no CSRCs (we are not a mixer, §7.1) and no header extension. */
export const RTP_HEADER_BYTES = 12;
const RTP_VERSION_BITS = 2 << 6; // V=2, P=0, X=0, CC=0
/** Room for one packet: the largest Opus frame is 1275 bytes (RFC 6716 §3.2.1). */
const MAX_RTP_PAYLOAD_BYTES = 1500 - RTP_HEADER_BYTES;

/** Writes the 12-byte fixed header into `out` (RFC 3550 §5.1); numbers are taken modulo their field width. */
export function writeRtpHeader(
  out: Uint8Array,
  payloadType: number,
  marker: boolean,
  sequenceNumber: number,
  timestamp: number,
  ssrc: number,
): void {
  out[0] = RTP_VERSION_BITS;
  out[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  out[2] = (sequenceNumber >>> 8) & 0xff;
  out[3] = sequenceNumber & 0xff;
  writeUint32(out, 4, timestamp);
  writeUint32(out, 8, ssrc);
}

function writeUint32(out: Uint8Array, at: number, value: number): void {
  out[at] = (value >>> 24) & 0xff;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
}

/**
 * One stream's packets: header and payload copied into a reused buffer. The packet handed out
 * is valid until the next write() unless it is still queued for sending: hold()/release()
 * around the socket send, and a write while a packet is held goes to a fresh buffer instead.
 */
export class RtpPacketWriter {
  readonly #buffer = new Uint8Array(RTP_HEADER_BYTES + MAX_RTP_PAYLOAD_BYTES);
  /** Views of the buffer by packet length: a stream of equal-sized packets reuses one. */
  readonly #views: Array<Uint8Array | undefined> = [];
  #held = 0;

  /** The packet just written is queued for sending: it must not be overwritten until release(). */
  hold(): void {
    this.#held++;
  }

  /** A held packet has left (the socket send's callback ran). */
  release(): void {
    this.#held--;
  }

  write(
    payload: Uint8Array,
    payloadType: number,
    marker: boolean,
    sequenceNumber: number,
    timestamp: number,
    ssrc: number,
  ): Uint8Array {
    if (payload.length > MAX_RTP_PAYLOAD_BYTES)
      throw new RangeError(`RTP payload over ${MAX_RTP_PAYLOAD_BYTES} bytes`);
    const length = RTP_HEADER_BYTES + payload.length;
    if (this.#held > 0) {
      // The previous packet has not left yet (a burst in one turn, or a full socket buffer).
      const packet = new Uint8Array(length);
      writeRtpHeader(packet, payloadType, marker, sequenceNumber, timestamp, ssrc);
      packet.set(payload, RTP_HEADER_BYTES);
      return packet;
    }
    const packet = this.#views[length] ?? this.#buffer.subarray(0, length);
    this.#views[length] = packet;
    writeRtpHeader(packet, payloadType, marker, sequenceNumber, timestamp, ssrc);
    packet.set(payload, RTP_HEADER_BYTES);
    return packet;
  }
}
