/**
 * What one master key does to each packet of one kind of stream (SRTP or SRTCP), whatever its
 * suite: the layout SrtpSession hands to a suite's transform.
 */

/** RTCP's header and sender SSRC stay in the clear (RFC 3711 §3.4). */
export const RTCP_CLEAR_BYTES = 8;
export const SRTCP_INDEX_BYTES = 4;
/** RTP sequence numbers wrap here: a packet's 48-bit index is ROC * 2^16 + SEQ (§3.3.1). */
export const SEQ_MODULUS = 0x10000;
/** The SRTCP index word's top bit: the packet is encrypted (§3.4). */
export const SRTCP_E_FLAG = 0x80000000;

/**
 * One suite's protection of packets laid out by SrtpSession: RTP as header || payload || tag,
 * SRTCP with the E flag and index word and the tag where the suite puts them.
 */
export interface PacketCrypto {
  /** Bytes the tag adds to a packet. */
  readonly tagBytes: number;
  /**
   * Encrypts `packet[headerLength, end)` in place and writes the tag at `end` (the buffer has room
   * for it). `index` is the 48-bit packet index, ROC * 2^16 + SEQ (RFC 3711 §3.3.1).
   */
  protectRtp(packet: Buffer, headerLength: number, end: number, ssrc: number, index: number): void;
  /** Checks the tag at `end` and decrypts `packet[headerLength, end)` in place; false for a bad tag. */
  unprotectRtp(packet: Buffer, headerLength: number, end: number, ssrc: number, index: number): boolean;
  /**
   * Protects the compound RTCP packet in `packet[0, end)` (the buffer has room for the index word
   * and the tag) as SRTCP packet `index`, encrypted (E set).
   */
  protectRtcp(packet: Buffer, end: number, index: number): void;
  /** Where the E flag and index word of an SRTCP packet `length` long starts. */
  rtcpIndexAt(length: number): number;
  /** Where the encrypted part of an SRTCP packet `length` long ends. */
  rtcpPayloadEnd(length: number): number;
  /** Checks the SRTCP packet's tag and decrypts its payload in place when `trailer` has E set. */
  unprotectRtcp(packet: Buffer, trailer: number): boolean;
}
