/**
 * AES counter mode with an HMAC-SHA1 tag (RFC 3711 §4.1.1, §4.2.1; RFC 6188 with AES-256). The
 * IV and ROC buffers are reused, so nothing here is reentrant: one packet at a time, as the
 * event loop delivers them.
 */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { AesCounterMode } from './aes-cm.js';
import {
  type PacketCrypto,
  RTCP_CLEAR_BYTES,
  SEQ_MODULUS,
  SRTCP_E_FLAG,
  SRTCP_INDEX_BYTES,
} from './packet-crypto.js';

/** AES-CM and HMAC-SHA1: SRTCP is header || payload || E,index || tag (RFC 3711 §3.4). */
export class CounterModeCrypto implements PacketCrypto {
  readonly tagBytes: number;
  readonly #cipher: AesCounterMode;
  readonly #authKey: KeyObject;
  readonly #salt: Buffer;
  readonly #iv = Buffer.alloc(16);
  readonly #roc = Buffer.alloc(4);

  constructor(keys: { cipherKey: Buffer; authKey: Buffer; salt: Buffer }, tagBytes: number) {
    this.tagBytes = tagBytes;
    this.#cipher = new AesCounterMode(keys.cipherKey);
    this.#authKey = createSecretKey(keys.authKey);
    this.#salt = keys.salt;
  }

  protectRtp(packet: Buffer, headerLength: number, end: number, ssrc: number, index: number): void {
    this.#crypt(packet, headerLength, end, ssrc, index);
    this.#roc.writeUInt32BE(Math.floor(index / SEQ_MODULUS));
    this.#mac(packet.subarray(0, end), this.#roc).copy(packet, end, 0, this.tagBytes);
  }

  unprotectRtp(packet: Buffer, headerLength: number, end: number, ssrc: number, index: number): boolean {
    this.#roc.writeUInt32BE(Math.floor(index / SEQ_MODULUS));
    if (!this.#verify(this.#mac(packet.subarray(0, end), this.#roc), packet.subarray(end))) return false;
    this.#crypt(packet, headerLength, end, ssrc, index);
    return true;
  }

  protectRtcp(packet: Buffer, end: number, index: number): void {
    this.#crypt(packet, RTCP_CLEAR_BYTES, end, packet.readUInt32BE(4), index);
    packet.writeUInt32BE((SRTCP_E_FLAG | index) >>> 0, end);
    const authenticatedEnd = end + SRTCP_INDEX_BYTES;
    this.#mac(packet.subarray(0, authenticatedEnd)).copy(packet, authenticatedEnd, 0, this.tagBytes);
  }

  rtcpIndexAt(length: number): number {
    return length - this.tagBytes - SRTCP_INDEX_BYTES;
  }

  rtcpPayloadEnd(length: number): number {
    return this.rtcpIndexAt(length);
  }

  unprotectRtcp(packet: Buffer, trailer: number): boolean {
    const authenticatedEnd = packet.length - this.tagBytes;
    if (!this.#verify(this.#mac(packet.subarray(0, authenticatedEnd)), packet.subarray(authenticatedEnd)))
      return false;
    // E = 0: sent authenticated but unencrypted (§3.4), so there is nothing to decrypt.
    if (trailer & SRTCP_E_FLAG) {
      const index = trailer & ~SRTCP_E_FLAG;
      const end = this.rtcpPayloadEnd(packet.length);
      this.#crypt(packet, RTCP_CLEAR_BYTES, end, packet.readUInt32BE(4), index);
    }
    return true;
  }

  /**
   * En- or decrypts `data[start, end)` in place. §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64)
   * XOR (i * 2^16), i the 48-bit index (ROC || SEQ for SRTP, the SRTCP index the same way).
   */
  #crypt(data: Uint8Array, start: number, end: number, ssrc: number, index: number): void {
    const iv = this.#iv;
    iv.set(this.#salt);
    iv[14] = 0;
    iv[15] = 0;
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    iv.writeUInt32BE((iv.readUInt32BE(8) ^ Math.floor(index / SEQ_MODULUS)) >>> 0, 8);
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ (index % SEQ_MODULUS), 12);
    this.#cipher.xor(iv, data, start, end);
  }

  /** The full HMAC-SHA1 of `authenticated` followed by `trailer` (the ROC for SRTP, §4.2). */
  #mac(authenticated: Uint8Array, trailer?: Uint8Array): Buffer {
    const hmac = createHmac('sha1', this.#authKey).update(authenticated);
    if (trailer) hmac.update(trailer);
    return hmac.digest();
  }

  /** Compares the truncated MAC with the received tag in constant time. */
  #verify(mac: Buffer, tag: Uint8Array): boolean {
    return timingSafeEqual(mac.subarray(0, this.tagBytes), tag);
  }
}
