/**
 * The session keys of one master key for one kind of stream (SRTP or SRTCP) and the two things
 * each packet needs of them: the AES-CM keystream at its IV (RFC 3711 §4.1.1) and its
 * HMAC-SHA1 tag (§4.2.1). The IV buffer is reused, so nothing here is reentrant: one packet at
 * a time, as the event loop delivers them.
 */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { type SrtpSuiteName, srtpMasterKeyBytes } from '../../util/index.js';
import { AesCounterMode } from './aes-cm.js';
import { deriveSessionKeys } from './kdf.js';

interface TagLengths {
  rtp: number;
  rtcp: number;
}

/**
 * Authentication tag bytes per suite: RFC 4568 §6.2.2 keeps SRTCP's tag at 80 bits for _32, and
 * RFC 6188 §5 the same for AES-256.
 */
const TAG_BYTES: Record<SrtpSuiteName, TagLengths> = {
  AES_CM_128_HMAC_SHA1_80: { rtp: 10, rtcp: 10 },
  AES_CM_128_HMAC_SHA1_32: { rtp: 4, rtcp: 10 },
  AES_256_CM_HMAC_SHA1_80: { rtp: 10, rtcp: 10 },
  AES_256_CM_HMAC_SHA1_32: { rtp: 4, rtcp: 10 },
};

export class StreamCrypto {
  readonly tagBytes: number;
  readonly #cipher: AesCounterMode;
  readonly #authKey: KeyObject;
  readonly #salt: Buffer;
  readonly #iv = Buffer.alloc(16);

  constructor(master: Uint8Array, suite: SrtpSuiteName, stream: 'rtp' | 'rtcp') {
    const keys = deriveSessionKeys(master, srtpMasterKeyBytes(suite), stream);
    this.tagBytes = TAG_BYTES[suite][stream];
    this.#cipher = new AesCounterMode(keys.cipherKey);
    this.#authKey = createSecretKey(keys.authKey);
    this.#salt = keys.salt;
  }

  /**
   * En- or decrypts `data[start, end)` in place. §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64)
   * XOR (i * 2^16), with the 48-bit index i given as its high 32 and low 16 bits (ROC and SEQ
   * for SRTP, the SRTCP index split the same way).
   */
  crypt(
    data: Uint8Array,
    start: number,
    end: number,
    ssrc: number,
    indexHigh: number,
    indexLow: number,
  ): void {
    const iv = this.#iv;
    iv.set(this.#salt);
    iv[14] = 0;
    iv[15] = 0;
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    iv.writeUInt32BE((iv.readUInt32BE(8) ^ indexHigh) >>> 0, 8);
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ indexLow, 12);
    this.#cipher.xor(iv, data, start, end);
  }

  /** The full HMAC-SHA1 of `authenticated` followed by `trailer` (the ROC for SRTP, §4.2). */
  mac(authenticated: Uint8Array, trailer?: Uint8Array): Buffer {
    const hmac = createHmac('sha1', this.#authKey).update(authenticated);
    if (trailer) hmac.update(trailer);
    return hmac.digest();
  }

  /** Compares the truncated MAC with the received tag in constant time. */
  verify(mac: Buffer, tag: Uint8Array): boolean {
    return timingSafeEqual(mac.subarray(0, this.tagBytes), tag);
  }
}
