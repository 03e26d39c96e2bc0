/**
 * AES in counter mode as SRTP uses it (RFC 3711 §4.1.1): keystream block j is E(k, IV + j) for
 * j < 2^16, where the IV's low 16 bits are zero, so IV + j just writes j into its last two
 * bytes. Node cannot give a CTR cipher a new IV; rather than create an `aes-128-ctr` cipher
 * per packet (which made protecting a G.711 packet 1.1-1.3x slower, bench/srtp.ts), one ECB
 * cipher per session key encrypts the counter blocks, laid out in a buffer allocated once, and
 * the keystream is XORed in place. The AES is OpenSSL's, with a 128- or 256-bit key (RFC 6188
 * §4.1 runs the same mode with AES-256).
 */
import { type Cipher, createCipheriv } from 'node:crypto';

const BLOCK_BYTES = 16;
/** Counter blocks encrypted per update(): 2 KiB, more than any packet the RTP socket accepts. */
const CHUNK_BLOCKS = 128;
/** RFC 3711 §4.1.1: at most 2^16 keystream blocks per IV. */
const MAX_BLOCKS = 0x10000;

export class AesCounterMode {
  readonly #ecb: Cipher;
  readonly #counters = Buffer.alloc(CHUNK_BLOCKS * BLOCK_BYTES);

  constructor(key: Uint8Array) {
    if (key.length !== 16 && key.length !== 32) throw new RangeError('AES-CM takes a 128- or 256-bit key');
    this.#ecb = createCipheriv(key.length === 16 ? 'aes-128-ecb' : 'aes-256-ecb', key, null);
    this.#ecb.setAutoPadding(false);
  }

  /** XORs `data[start, end)` in place with the keystream of `iv` (16 bytes, the last two zero). */
  xor(iv: Uint8Array, data: Uint8Array, start = 0, end = data.length): void {
    if (Math.ceil((end - start) / BLOCK_BYTES) > MAX_BLOCKS) throw new RangeError('AES-CM input too long');
    let block = 0;
    let offset = start;
    while (offset < end) {
      const blocks = Math.min(CHUNK_BLOCKS, Math.ceil((end - offset) / BLOCK_BYTES));
      for (let j = 0; j < blocks; j++, block++) {
        const at = j * BLOCK_BYTES;
        this.#counters.set(iv, at);
        this.#counters[at + 14] = block >>> 8;
        this.#counters[at + 15] = block & 0xff;
      }
      const keystream = this.#ecb.update(this.#counters.subarray(0, blocks * BLOCK_BYTES));
      const length = Math.min(end - offset, keystream.length);
      for (let i = 0; i < length; i++)
        data[offset + i] = (data[offset + i] as number) ^ (keystream[i] as number);
      offset += length;
    }
  }
}
