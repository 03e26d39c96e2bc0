/**
 * Names shared by signalling (SDP in src/sip) and media (src/media), defined once here because
 * neither part may import the other.
 */

/** The audio codecs patchbay negotiates and runs. */
export type AudioCodecName = 'PCMU' | 'PCMA' | 'opus';

/** An SDP media direction attribute (RFC 3264 §6.1); hold is 'sendonly' or 'inactive'. */
export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/**
 * The SRTP crypto suites patchbay runs, in our order of preference: RFC 4568 §6.2's with AES-128,
 * then RFC 6188's with AES-256 (the same transforms and tags, a longer key). Each takes a master
 * key of its cipher's size and a 112-bit master salt (RFC 4568 §6.2.1, RFC 6188 §6).
 */
export const SRTP_SUITES = [
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
  'AES_256_CM_HMAC_SHA1_80',
  'AES_256_CM_HMAC_SHA1_32',
] as const;
export type SrtpSuiteName = (typeof SRTP_SUITES)[number];
export const SRTP_MASTER_SALT_BYTES = 14;

/** The master key's bytes for `suite`: its AES key size. */
export function srtpMasterKeyBytes(suite: SrtpSuiteName): 16 | 32 {
  return suite.startsWith('AES_256_') ? 32 : 16;
}

/** A trunk's media encryption policy (`media.encryption`). */
export type MediaEncryption = 'none' | 'optional' | 'required';
