/**
 * Names shared by signalling (SDP in src/sip) and media (src/media), defined once here because
 * neither part may import the other.
 */

/** The audio codecs patchbay negotiates and runs. */
export type AudioCodecName = 'PCMU' | 'PCMA' | 'opus';

/** An SDP media direction attribute (RFC 3264 §6.1); hold is 'sendonly' or 'inactive'. */
export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
