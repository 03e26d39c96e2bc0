/** Number normalisation to E.164 (ITU-T E.164) and outbound From/To rewriting. */
import type { TrunkConfig } from '../config/index.js';

/**
 * Normalises a dialled number to E.164 (`+<country><national>`):
 * `+44 20 7946 0018` → `+442079460018`; `0044…` → `+44…` (international prefix 00);
 * `020 7946 0018` with country 44 → `+442079460018` (national trunk prefix 0 dropped);
 * for country 1 (NANP) a 10-digit number gets `+1` and an 11-digit one starting with 1 gets `+`.
 * Returns undefined for text that has no digits or characters other than digits, spaces, `-.()`.
 */
export function normalizeE164(raw: string, defaultCountry: string): string | undefined {
  const trimmed = raw.trim();
  if (!/^\+?[0-9 ().-]+$/.test(trimmed)) return undefined;
  const digits = trimmed.replace(/[^0-9]/g, '');
  if (digits.length === 0) return undefined;
  if (trimmed.startsWith('+')) return `+${digits}`;
  if (digits.startsWith('00')) return `+${digits.slice(2)}`;
  if (defaultCountry === '1') {
    if (digits.length === 11 && digits.startsWith('1')) return `+${digits}`;
    return `+1${digits}`;
  }
  if (digits.startsWith('0')) return `+${defaultCountry}${digits.slice(1)}`;
  return `+${defaultCountry}${digits}`;
}

export interface OutboundIdentity {
  fromUser: string;
  fromHost: string | undefined;
  toUser: string;
  toHost: string | undefined;
}

/**
 * The From/To user parts to send on an outbound trunk: the called number in E.164, the
 * caller rewritten to the trunk's `fromUser` when set (carriers reject unknown caller IDs),
 * else normalised. A number that cannot be normalised is passed through unchanged.
 */
export function outboundIdentity(trunk: TrunkConfig, caller: string, called: string): OutboundIdentity {
  const outbound = trunk.outbound;
  const country = outbound?.defaultCountry ?? '1';
  return {
    fromUser: outbound?.fromUser ?? normalizeE164(caller, country) ?? caller,
    fromHost: outbound?.fromHost,
    toUser: normalizeE164(called, country) ?? called,
    toHost: outbound?.toHost,
  };
}
