/**
 * SRTP key derivation (RFC 3711 §4.3) with the AES-CM PRF (§4.3.3), or RFC 6188 §7's
 * AES_256_CM_PRF for a 256-bit master key, and a key derivation rate of 0 (the only one SDES
 * signals by default, RFC 4568 §6.3.1): each session key is derived once per master key.
 */
import { SRTP_MASTER_SALT_BYTES } from '../../util/index.js';
import { AesCounterMode } from './aes-cm.js';

/** RFC 3711 §4.3.2 and §4.3.3. */
const LABELS = {
  rtp: { cipher: 0x00, auth: 0x01, salt: 0x02 },
  rtcp: { cipher: 0x03, auth: 0x04, salt: 0x05 },
} as const;
/** HMAC-SHA1 takes a 160-bit session authentication key (RFC 3711 §4.2.1, RFC 4568 §6.2.1). */
const AUTH_KEY_BYTES = 20;
const SESSION_SALT_BYTES = 14;
/** key_id = label || r is 56 bits, aligned to the right of the 112-bit salt: the label is byte 7. */
const LABEL_BYTE = 7;

interface SessionKeys {
  cipherKey: Buffer;
  authKey: Buffer;
  salt: Buffer;
}

/**
 * The three session keys of one master key, for SRTP or SRTCP. `master` is key || salt; the
 * session cipher key is as long as the master key (RFC 6188 §7: 256 bits for AES-256).
 */
export function deriveSessionKeys(
  master: Uint8Array,
  keyBytes: 16 | 32,
  stream: 'rtp' | 'rtcp',
): SessionKeys {
  if (master.length !== keyBytes + SRTP_MASTER_SALT_BYTES)
    throw new RangeError(`SRTP master key || salt must be ${keyBytes + SRTP_MASTER_SALT_BYTES} bytes`);
  const prf = new AesCounterMode(master.subarray(0, keyBytes));
  const masterSalt = master.subarray(keyBytes);
  const labels = LABELS[stream];
  return {
    cipherKey: deriveKey(prf, masterSalt, labels.cipher, keyBytes),
    authKey: deriveKey(prf, masterSalt, labels.auth, AUTH_KEY_BYTES),
    salt: deriveKey(prf, masterSalt, labels.salt, SESSION_SALT_BYTES),
  };
}

/** §4.3.1: x = key_id XOR master_salt, and the key is the first `length` bytes of PRF(x * 2^16). */
export function deriveKey(
  prf: AesCounterMode,
  masterSalt: Uint8Array,
  label: number,
  length: number,
): Buffer {
  const iv = Buffer.alloc(16);
  iv.set(masterSalt);
  iv[LABEL_BYTE] = (iv[LABEL_BYTE] as number) ^ label;
  const key = Buffer.alloc(length);
  prf.xor(iv, key);
  return key;
}
