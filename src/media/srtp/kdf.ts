/**
 * SRTP key derivation (RFC 3711 §4.3) with the AES-CM PRF (§4.3.3) and a key derivation rate
 * of 0 (the only one SDES signals by default, RFC 4568 §6.3.1): each session key is derived
 * once per master key.
 */
import { SRTP_MASTER_KEY_BYTES, SRTP_MASTER_SALT_BYTES } from '../../util/index.js';
import { AesCounterMode } from './aes-cm.js';

/** RFC 3711 §4.3.2 and §4.3.3. */
const LABELS = {
  rtp: { cipher: 0x00, auth: 0x01, salt: 0x02 },
  rtcp: { cipher: 0x03, auth: 0x04, salt: 0x05 },
} as const;
const CIPHER_KEY_BYTES = 16;
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

/** The three session keys of one master key, for SRTP or SRTCP. `master` is key || salt. */
export function deriveSessionKeys(master: Uint8Array, stream: 'rtp' | 'rtcp'): SessionKeys {
  if (master.length !== SRTP_MASTER_KEY_BYTES + SRTP_MASTER_SALT_BYTES)
    throw new RangeError('SRTP master key || salt must be 30 bytes');
  const prf = new AesCounterMode(master.subarray(0, SRTP_MASTER_KEY_BYTES));
  const masterSalt = master.subarray(SRTP_MASTER_KEY_BYTES);
  const labels = LABELS[stream];
  return {
    cipherKey: deriveKey(prf, masterSalt, labels.cipher, CIPHER_KEY_BYTES),
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
