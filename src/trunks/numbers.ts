/** Number normalisation to E.164 (ITU-T E.164) and outbound From/To rewriting. */
import { parsePhoneNumberFromString } from 'libphonenumber-js/min';
import type { TrunkConfig } from '../config/index.js';

/**
 * Normalises a dialled number to E.164 (`+<country><national>`):
 * `+44 20 7946 0018` → `+442079460018`; `0044…` → `+44…` (the international prefix 00, or 011
 * from country 1); a national number by its country's own rules (libphonenumber's metadata):
 * `020 7946 0018` with country 44 → `+442079460018` (the trunk prefix 0 dropped), `06 1234 5678`
 * with country 39 → `+390612345678` (Italy keeps it), `(555) 010-0100` with country 1 →
 * `+15550100100`. Returns undefined for text with characters other than digits, spaces and
 * `-.()`, and for digits of no length a national number of that country can have (a short code
 * such as 911 or 116123, an extension): those are not ours to rewrite.
 */
export function normalizeE164(raw: string, defaultCountry: string): string | undefined {
  const trimmed = raw.trim();
  if (!/^\+?[0-9 ().-]+$/.test(trimmed)) return undefined;
  const digits = trimmed.replace(/[^0-9]/g, '');
  if (digits.length === 0) return undefined;
  if (trimmed.startsWith('+')) return `+${digits}`;
  if (digits.startsWith('00')) return `+${digits.slice(2)}`;
  if (defaultCountry === '1' && digits.startsWith('011')) return `+${digits.slice(3)}`;
  const national = parsePhoneNumberFromString(digits, { defaultCallingCode: defaultCountry });
  return national?.isPossible() ? national.number : undefined;
}

/**
 * A number a trunk's call carries, read in the trunk's country (`inboundCountry`): as
 * normalizeE164 reads it, else, for digits that begin with the country's code and make a number
 * of that country as they stand, international without the + (`442079460018` from a UK carrier).
 * Undefined when it is neither (a short code, an extension, a name): it stays as sent.
 */
export function inboundE164(raw: string, country: string): string | undefined {
  const normalised = normalizeE164(raw, country);
  if (normalised !== undefined) return normalised;
  const digits = raw.trim();
  if (!/^[0-9]+$/.test(digits) || !digits.startsWith(country)) return undefined;
  return parsePhoneNumberFromString(`+${digits}`)?.isPossible() ? `+${digits}` : undefined;
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
