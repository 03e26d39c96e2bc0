/**
 * The transform of a suite for one kind of stream (SRTP or SRTCP), keyed from a master key: AES
 * counter mode with HMAC-SHA1 (counter-mode-crypto.ts) or AES-GCM (aead-crypto.ts).
 */
import { type SrtpSuiteName, srtpKeyLengths } from '../../util/index.js';
import { AeadCrypto } from './aead-crypto.js';
import { CounterModeCrypto } from './counter-mode-crypto.js';
import { deriveCipherSessionKeys, deriveSessionKeys } from './kdf.js';
import type { PacketCrypto } from './packet-crypto.js';

/** The suite's transform for one kind of stream, keyed from `master` (key || salt). */
export function streamCrypto(master: Uint8Array, suite: SrtpSuiteName, stream: 'rtp' | 'rtcp'): PacketCrypto {
  const lengths = srtpKeyLengths(suite);
  if (suite === 'AEAD_AES_128_GCM' || suite === 'AEAD_AES_256_GCM') {
    const keys = deriveCipherSessionKeys(master, lengths, stream);
    return new AeadCrypto(keys.cipherKey, keys.salt);
  }
  return new CounterModeCrypto(deriveSessionKeys(master, lengths, stream), TAG_BYTES[suite][stream]);
}

/**
 * Authentication tag bytes per suite: RFC 4568 §6.2.2 keeps SRTCP's tag at 80 bits for _32, and
 * RFC 6188 §5 the same for AES-256.
 */
const TAG_BYTES: Record<Exclude<SrtpSuiteName, `AEAD_${string}`>, { rtp: number; rtcp: number }> = {
  AES_CM_128_HMAC_SHA1_80: { rtp: 10, rtcp: 10 },
  AES_CM_128_HMAC_SHA1_32: { rtp: 4, rtcp: 10 },
  AES_256_CM_HMAC_SHA1_80: { rtp: 10, rtcp: 10 },
  AES_256_CM_HMAC_SHA1_32: { rtp: 4, rtcp: 10 },
};
