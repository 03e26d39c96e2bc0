/**
 * AES-GCM for SRTP and SRTCP (RFC 7714): one AEAD operation per packet encrypts the payload and
 * authenticates it with the clear header, giving a 16-byte tag; no HMAC. Node cannot give a GCM
 * cipher a new IV, so each packet gets its own cipher (OpenSSL's), a few microseconds.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { type PacketCrypto, RTCP_CLEAR_BYTES, SRTCP_E_FLAG, SRTCP_INDEX_BYTES } from './packet-crypto.js';

/** RFC 7714 §7: the tag is 16 octets, for SRTP and SRTCP. */
const TAG_BYTES = 16;
const IV_BYTES = 12;

export class AeadCrypto implements PacketCrypto {
  readonly tagBytes = TAG_BYTES;
  readonly #algorithm: 'aes-128-gcm' | 'aes-256-gcm';
  readonly #key: Buffer;
  readonly #salt: Buffer;
  readonly #iv = Buffer.alloc(IV_BYTES);

  /** The session key (16 or 32 bytes) and the 12-byte session salt. */
  constructor(key: Buffer, salt: Buffer) {
    if (salt.length !== IV_BYTES) throw new RangeError('AES-GCM takes a 96-bit session salt');
    if (key.length !== 16 && key.length !== 32) throw new RangeError('AES-GCM takes a 128- or 256-bit key');
    this.#algorithm = key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm';
    this.#key = key;
    this.#salt = salt;
  }

  /** §8.2: the header (CSRCs and extension included) is the associated data. */
  protectRtp(packet: Buffer, headerLength: number, end: number, ssrc: number, index: number): void {
    this.#seal(this.#iv48(ssrc, index), packet.subarray(0, headerLength), packet, headerLength, end);
  }

  unprotectRtp(packet: Buffer, headerLength: number, end: number, ssrc: number, index: number): boolean {
    return this.#open(this.#iv48(ssrc, index), packet.subarray(0, headerLength), packet, headerLength, end);
  }

  /** §9: header || payload || tag || E,index, the header and the E,index word the associated data. */
  protectRtcp(packet: Buffer, end: number, index: number): void {
    const trailer = (SRTCP_E_FLAG | index) >>> 0;
    const iv = this.#iv48(packet.readUInt32BE(4), index);
    this.#seal(iv, this.#rtcpAad(packet, trailer), packet, RTCP_CLEAR_BYTES, end);
    packet.writeUInt32BE(trailer, end + TAG_BYTES);
  }

  rtcpIndexAt(length: number): number {
    return length - SRTCP_INDEX_BYTES;
  }

  rtcpPayloadEnd(length: number): number {
    return length - SRTCP_INDEX_BYTES - TAG_BYTES;
  }

  /**
   * An SRTCP packet sent unencrypted (E clear) is refused: our SDES never agrees to
   * UNENCRYPTED_SRTCP (§9.3's other layout).
   */
  unprotectRtcp(packet: Buffer, trailer: number): boolean {
    if (!(trailer & SRTCP_E_FLAG)) return false;
    const iv = this.#iv48(packet.readUInt32BE(4), (trailer & ~SRTCP_E_FLAG) >>> 0);
    const end = this.rtcpPayloadEnd(packet.length);
    return this.#open(iv, this.#rtcpAad(packet, trailer), packet, RTCP_CLEAR_BYTES, end);
  }

  /** Encrypts `packet[start, end)` in place, authenticating `aad` with it; the tag goes at `end`. */
  #seal(iv: Buffer, aad: Buffer, packet: Buffer, start: number, end: number): void {
    const cipher = createCipheriv(this.#algorithm, this.#key, iv);
    cipher.setAAD(aad);
    cipher.update(packet.subarray(start, end)).copy(packet, start);
    cipher.final();
    cipher.getAuthTag().copy(packet, end);
  }

  /** Checks the tag at `end` over `aad` and `packet[start, end)`, decrypting that in place; false for a bad tag. */
  #open(iv: Buffer, aad: Buffer, packet: Buffer, start: number, end: number): boolean {
    const decipher = createDecipheriv(this.#algorithm, this.#key, iv);
    decipher.setAAD(aad);
    decipher.setAuthTag(packet.subarray(end, end + TAG_BYTES));
    const plain = decipher.update(packet.subarray(start, end));
    try {
      decipher.final();
    } catch {
      return false;
    }
    plain.copy(packet, start);
    return true;
  }

  /**
   * §8.1 and §9.1: (0x0000 || SSRC || the 48-bit index) XOR the session salt; SRTP's index is
   * ROC || SEQ, SRTCP's its 31-bit index.
   */
  #iv48(ssrc: number, index: number): Buffer {
    const iv = this.#iv;
    iv.writeUInt16BE(0, 0);
    iv.writeUInt32BE(ssrc >>> 0, 2);
    iv.writeUIntBE(index, 6, 6);
    for (let i = 0; i < IV_BYTES; i++) iv[i] = (iv[i] as number) ^ (this.#salt[i] as number);
    return iv;
  }

  /** §9.1: the first 8 octets of the RTCP packet, then the E flag and SRTCP index. */
  #rtcpAad(packet: Buffer, trailer: number): Buffer {
    const aad = Buffer.allocUnsafe(RTCP_CLEAR_BYTES + SRTCP_INDEX_BYTES);
    packet.copy(aad, 0, 0, RTCP_CLEAR_BYTES);
    aad.writeUInt32BE(trailer, RTCP_CLEAR_BYTES);
    return aad;
  }
}
