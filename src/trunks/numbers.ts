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
 * A local number with a phone-context (RFC 3966 §5.1.5, in a SIP URI's user part as RFC 3261
 * §19.1.6 carries it, `5550123;phone-context=+1-415`) is read in that context: after a global
 * number prefix as its continuation (`+14155550123`), with a domain as a number of the trunk's
 * country. Undefined when it is none of these (a short code, an extension, a name, a number
 * with other parameters): it stays as sent.
 */
export function inboundE164(raw: string, country: string): string | undefined {
  const semicolon = raw.indexOf(';');
  if (semicolon >= 0) return localNumberE164(raw.slice(0, semicolon), raw.slice(semicolon + 1), country);
  const normalised = normalizeE164(raw, country);
  if (normalised !== undefined) return normalised;
  const digits = raw.trim();
  if (!/^[0-9]+$/.test(digits) || !digits.startsWith(country)) return undefined;
  return parsePhoneNumberFromString(`+${digits}`)?.isPossible() ? `+${digits}` : undefined;
}

/** RFC 3966 §3: digits with visual separators, at least one digit (no `+`: a local number's). */
const VISUAL_DIGITS = /^[0-9().-]*[0-9][0-9().-]*$/;
/** RFC 3966 §3 domainname: labels, the last one starting with a letter. */
const DOMAIN_CONTEXT = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z](?:[a-z0-9-]*[a-z0-9])?\.?$/i;

/**
 * `local` under `parameters` (after the user part's first ';'): only a lone phone-context is
 * read, a domain (§3 domainname) or a global number prefix (`+` and visual digits).
 */
function localNumberE164(local: string, parameters: string, country: string): string | undefined {
  const match = /^phone-context=([^;]+)$/i.exec(parameters);
  if (!match || !VISUAL_DIGITS.test(local)) return undefined;
  const context = match[1] as string;
  if (DOMAIN_CONTEXT.test(context)) return inboundE164(local, country);
  if (!context.startsWith('+') || !VISUAL_DIGITS.test(context.slice(1))) return undefined;
  const e164 = `+${context.replace(/[^0-9]/g, '')}${local.replace(/[^0-9]/g, '')}`;
  return parsePhoneNumberFromString(e164)?.isPossible() ? e164 : undefined;
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
