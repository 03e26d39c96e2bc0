/**
 * The SDES keys of an SRTP call's takeover snapshot, sealed with AES-256-GCM under a secret all
 * the cluster's nodes share (`cluster.takeover.snapshotSecret`), so Redis holds no key in the
 * clear and a node without the secret cannot carry the call on. Each sealed text is bound to
 * its call's SIP Call-ID (the GCM additional data), so one call's keys cannot be passed off
 * as another's. The IV is synthetic, an HMAC of the Call-ID and the text (the construction of
 * RFC 5297, with GCM): the same text seals to the same bytes, so an unchanged snapshot is not
 * written again, which shows no more than that it did not change.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** RFC 5869 info: keys derived from the secret for this use only. */
const KEY_INFO = 'patchbay takeover snapshot seal';

interface SealKeys {
  encryption: Buffer;
  iv: Buffer;
}

function keysOf(secret: string): SealKeys {
  const keys = Buffer.from(hkdfSync('sha256', secret, '', KEY_INFO, 2 * KEY_BYTES));
  return { encryption: keys.subarray(0, KEY_BYTES), iv: keys.subarray(KEY_BYTES) };
}

export class SnapshotSeal {
  readonly #keys: SealKeys;
  /** Older secrets' keys, which open what was sealed before a rotation. */
  readonly #previous: SealKeys[];

  /**
   * `secret`: the shared secret as configured (high-entropy text; the config wants 32+
   * characters), which seals and opens; `previous` only open.
   */
  constructor(secret: string, previous: readonly string[] = []) {
    this.#keys = keysOf(secret);
    this.#previous = previous.map(keysOf);
  }

  /** `text` sealed for the call `callId`: base64 of the IV, the GCM tag and the ciphertext. */
  seal(text: string, callId: string): string {
    const iv = createHmac('sha256', this.#keys.iv)
      .update(callId)
      .update('\0')
      .update(text)
      .digest()
      .subarray(0, IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#keys.encryption, iv);
    cipher.setAAD(Buffer.from(callId));
    const ciphertext = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
  }

  /**
   * The text seal() sealed for `callId`, or undefined when it was not sealed for that call under
   * this secret or one of the previous ones.
   */
  open(sealed: string, callId: string): string | undefined {
    const bytes = Buffer.from(sealed, 'base64');
    if (bytes.length < IV_BYTES + TAG_BYTES) return undefined;
    for (const keys of [this.#keys, ...this.#previous]) {
      const text = openWith(keys, bytes, callId);
      if (text !== undefined) return text;
    }
    return undefined;
  }
}

/** GCM refuses (throws on) a tag that does not check: another key, call or a changed byte. */
function openWith(keys: SealKeys, bytes: Buffer, callId: string): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', keys.encryption, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(callId));
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const text = Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
    return text.toString('utf8');
  } catch {
    return undefined;
  }
}
