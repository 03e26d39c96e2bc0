/**
 * What an inbound INVITE says of STIR/SHAKEN, read as two bounded values for the bot:
 *
 * - `verstat`, the terminating carrier's verification verdict on the calling number, a tel URI
 *   parameter its verification service adds to P-Asserted-Identity or From (3GPP TS 24.229
 *   §7.2A.20, ATIS-1000074 §5.3.1): in a tel URI, in the user part of a SIP URI with
 *   user=phone, or (as some SBCs write it) among the SIP URI's own parameters.
 * - the attestation level the originating carrier signed into the Identity header's SHAKEN
 *   PASSporT (RFC 8224 §4, RFC 8588 §4: A full, B partial, C gateway).
 *
 * The signature is not checked here: that is the verification service's work, and verstat is
 * its verdict. Values outside the standard sets are left out, so the bot sees only these.
 */
import type { SipUri } from './types.js';
import { parseNameAddr } from './uri.js';

export type Verstat = 'TN-Validation-Passed' | 'TN-Validation-Failed' | 'No-TN-Validation';
export type ShakenAttestation = 'A' | 'B' | 'C';

const VERSTATS: ReadonlyMap<string, Verstat> = new Map(
  (['TN-Validation-Passed', 'TN-Validation-Failed', 'No-TN-Validation'] as const).map((value) => [
    value.toLowerCase(),
    value,
  ]),
);
const ATTESTATIONS: ReadonlySet<string> = new Set(['A', 'B', 'C']);

/** Identity headers read at most: a call has one per PASSporT (SHAKEN, a diversion or two). */
const MAX_IDENTITY_HEADERS = 4;
/** A SHAKEN PASSporT in full form is a few hundred characters; anything much longer is not one. */
const MAX_IDENTITY_CHARS = 4096;

/**
 * The verdict in the first of `identities` that has one: the P-Asserted-Identity values, then
 * From (name-addrs as the headers give them).
 */
export function readVerstat(identities: readonly string[]): Verstat | undefined {
  for (const value of identities) {
    const verstat = verstatOf(value);
    if (verstat) return verstat;
  }
  return undefined;
}

function verstatOf(nameAddr: string): Verstat | undefined {
  let uri: SipUri;
  try {
    uri = parseNameAddr(nameAddr).uri;
  } catch {
    return undefined;
  }
  const inUser = uri.scheme === 'tel' ? undefined : userParameter(uri.user, 'verstat');
  const value = inUser ?? uri.params.get('verstat');
  return value ? VERSTATS.get(value.toLowerCase()) : undefined;
}

/** A parameter of a SIP URI's telephone-subscriber user part (`+1555;verstat=…`, RFC 3966 §3). */
function userParameter(user: string | undefined, name: string): string | undefined {
  if (!user) return undefined;
  for (const parameter of user.split(';').slice(1)) {
    const equals = parameter.indexOf('=');
    if (equals > 0 && parameter.slice(0, equals).trim().toLowerCase() === name)
      return parameter.slice(equals + 1).trim();
  }
  return undefined;
}

/** The attestation of the first Identity header value carrying a SHAKEN PASSporT in full form. */
export function readShakenAttestation(identityHeaders: readonly string[]): ShakenAttestation | undefined {
  for (const value of identityHeaders.slice(0, MAX_IDENTITY_HEADERS)) {
    const attestation = attestationOf(value);
    if (attestation) return attestation;
  }
  return undefined;
}

/**
 * RFC 8224 §4.1: the PASSporT (header.payload.signature, base64url, RFC 8225 §6) comes before
 * the header's first `;`. Its protected header names the extension (`"ppt":"shaken"`, RFC 8588
 * §6); the compact form (no payload) carries no claims and gives nothing.
 */
function attestationOf(value: string): ShakenAttestation | undefined {
  if (value.length > MAX_IDENTITY_CHARS) return undefined;
  const parts = value.split(';', 1)[0]?.trim().split('.');
  if (parts?.length !== 3) return undefined;
  const [header, payload] = parts as [string, string, string];
  if (payload.length === 0) return undefined;
  const ppt = jsonObject(header)?.['ppt'];
  const attest = jsonObject(payload)?.['attest'];
  if (ppt !== 'shaken' || typeof attest !== 'string' || !ATTESTATIONS.has(attest)) return undefined;
  return attest as ShakenAttestation;
}

function jsonObject(base64url: string): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(base64url)) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(base64url, 'base64url').toString('utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
