/**
 * SRTP key derivation (RFC 3711 §4.3) with the AES-CM PRF (§4.3.3), or RFC 6188 §7's
 * AES_256_CM_PRF for a 256-bit master key, and a key derivation rate of 0 (the only one SDES
 * signals by default, RFC 4568 §6.3.1): each session key is derived once per master key. AES-GCM's
 * 96-bit master salt enters the PRF multiplied by 2^16, its session salt is 96 bits too (RFC 7714
 * §11 with erratum 4938), and it needs no authentication key.
 */
import type { SrtpKeyLengths } from '../../util/index.js';
import { AesCounterMode } from './aes-cm.js';

/** RFC 3711 §4.3.2 and §4.3.3. */
const LABELS = {
  rtp: { cipher: 0x00, auth: 0x01, salt: 0x02 },
  rtcp: { cipher: 0x03, auth: 0x04, salt: 0x05 },
} as const;
/** HMAC-SHA1 takes a 160-bit session authentication key (RFC 3711 §4.2.1, RFC 4568 §6.2.1). */
const AUTH_KEY_BYTES = 20;
/** key_id = label || r is 56 bits, aligned to the right of the 112-bit salt: the label is byte 7. */
const LABEL_BYTE = 7;

/** What AES-GCM keys itself with (RFC 7714 §11: no authentication key). */
export interface CipherSessionKeys {
  cipherKey: Buffer;
  salt: Buffer;
}

/** What AES-CM with HMAC-SHA1 keys itself with. */
export interface SessionKeys extends CipherSessionKeys {
  authKey: Buffer;
}

/**
 * The session cipher key and salt of one master key, for SRTP or SRTCP. `master` is key ||
 * salt; the session cipher key is as long as the master key (RFC 6188 §7: 256 bits for AES-256)
 * and the session salt as the master salt.
 */
export function deriveCipherSessionKeys(
  master: Uint8Array,
  lengths: SrtpKeyLengths,
  stream: 'rtp' | 'rtcp',
): CipherSessionKeys {
  const { prf, masterSalt } = masterParts(master, lengths);
  return cipherKeys(prf, masterSalt, lengths, LABELS[stream]);
}

/** The three session keys of one master key: deriveCipherSessionKeys' and the HMAC-SHA1 key. */
export function deriveSessionKeys(
  master: Uint8Array,
  lengths: SrtpKeyLengths,
  stream: 'rtp' | 'rtcp',
): SessionKeys {
  const { prf, masterSalt } = masterParts(master, lengths);
  const labels = LABELS[stream];
  return {
    ...cipherKeys(prf, masterSalt, lengths, labels),
    authKey: deriveKey(prf, masterSalt, labels.auth, AUTH_KEY_BYTES),
  };
}

function cipherKeys(
  prf: AesCounterMode,
  masterSalt: Uint8Array,
  lengths: SrtpKeyLengths,
  labels: (typeof LABELS)[keyof typeof LABELS],
): CipherSessionKeys {
  return {
    cipherKey: deriveKey(prf, masterSalt, labels.cipher, lengths.key),
    salt: deriveKey(prf, masterSalt, labels.salt, lengths.salt),
  };
}

function masterParts(
  master: Uint8Array,
  lengths: SrtpKeyLengths,
): { prf: AesCounterMode; masterSalt: Uint8Array } {
  if (master.length !== lengths.key + lengths.salt)
    throw new RangeError(`SRTP master key || salt must be ${lengths.key + lengths.salt} bytes`);
  return {
    prf: new AesCounterMode(master.subarray(0, lengths.key)),
    masterSalt: master.subarray(lengths.key),
  };
}

/**
 * §4.3.1: x = key_id XOR master_salt, and the key is the first `length` bytes of PRF(x * 2^16).
 * A 96-bit salt lands in the same bytes with the two below it zero: the salt times 2^16.
 */
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
