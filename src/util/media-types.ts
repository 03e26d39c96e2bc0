/**
 * Names shared by signalling (SDP in src/sip) and media (src/media), defined once here because
 * neither part may import the other.
 */

/** The audio codecs patchbay negotiates and runs. */
export type AudioCodecName = 'PCMU' | 'PCMA' | 'opus';

/** An SDP media direction attribute (RFC 3264 §6.1); hold is 'sendonly' or 'inactive'. */
export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/**
 * The SRTP crypto suites patchbay runs, in our order of preference: RFC 4568 §6.2's AES counter
 * mode with HMAC-SHA1, then RFC 6188's with AES-256 (the same transforms and tags, a longer key),
 * then RFC 7714's AES-GCM (AEAD: encryption and a 16-byte tag in one).
 */
export const SRTP_SUITES = [
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
  'AES_256_CM_HMAC_SHA1_80',
  'AES_256_CM_HMAC_SHA1_32',
  'AEAD_AES_128_GCM',
  'AEAD_AES_256_GCM',
] as const;
export type SrtpSuiteName = (typeof SRTP_SUITES)[number];

/** A suite's master key and master salt, in bytes. */
export interface SrtpKeyLengths {
  key: 16 | 32;
  /** 112 bits for AES-CM (RFC 3711 §8.2), 96 for AES-GCM (RFC 7714 §12). */
  salt: 14 | 12;
}

/** RFC 4568 §6.2.1, RFC 6188 §6, RFC 7714 §12. */
const KEY_LENGTHS: Record<SrtpSuiteName, SrtpKeyLengths> = {
  AES_CM_128_HMAC_SHA1_80: { key: 16, salt: 14 },
  AES_CM_128_HMAC_SHA1_32: { key: 16, salt: 14 },
  AES_256_CM_HMAC_SHA1_80: { key: 32, salt: 14 },
  AES_256_CM_HMAC_SHA1_32: { key: 32, salt: 14 },
  AEAD_AES_128_GCM: { key: 16, salt: 12 },
  AEAD_AES_256_GCM: { key: 32, salt: 12 },
};

export function srtpKeyLengths(suite: SrtpSuiteName): SrtpKeyLengths {
  return KEY_LENGTHS[suite];
}

/** Master key || master salt: what one SDES inline key carries for `suite`. */
export function srtpMasterBytes(suite: SrtpSuiteName): number {
  const { key, salt } = KEY_LENGTHS[suite];
  return key + salt;
}

/** A trunk's media encryption policy (`media.encryption`). */
export type MediaEncryption = 'none' | 'optional' | 'required';
