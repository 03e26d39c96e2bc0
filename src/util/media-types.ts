/**
 * Names shared by signalling (SDP in src/sip) and media (src/media), defined once here because
 * neither part may import the other.
 */

/** The audio codecs patchbay negotiates and runs. */
export type AudioCodecName = 'PCMU' | 'PCMA' | 'opus';

/** An SDP media direction attribute (RFC 3264 §6.1); hold is 'sendonly' or 'inactive'. */
export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/**
 * The SRTP crypto suites patchbay runs (RFC 4568 §6.2), in our order of preference. Both take a
 * 128-bit master key and a 112-bit master salt (RFC 4568 §6.2.1, §6.2.2).
 */
export const SRTP_SUITES = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'] as const;
export type SrtpSuiteName = (typeof SRTP_SUITES)[number];
export const SRTP_MASTER_KEY_BYTES = 16;
export const SRTP_MASTER_SALT_BYTES = 14;

/** A trunk's media encryption policy (`media.encryption`). */
export type MediaEncryption = 'none' | 'optional' | 'required';
