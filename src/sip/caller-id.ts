/**
 * Caller identity headers: P-Asserted-Identity (RFC 3325 §9.1), Privacy (RFC 3323 §4.2),
 * Diversion (RFC 5806) and Remote-Party-ID (draft-ietf-sip-privacy-04) written on an outbound
 * INVITE, and the identity headers of an inbound INVITE read as bounded, printable text.
 */
import { isToken } from './grammar.js';
import type { SipRequest } from './message.js';
import { readShakenAttestation, readVerstat, type ShakenAttestation, type Verstat } from './stir-shaken.js';
import type { NameAddr } from './types.js';
import { parseNameAddr, serializeNameAddr, withoutTag } from './uri.js';

/** RFC 3323 §4.1.1.3: the From of a call whose caller asked not to be identified. */
export const ANONYMOUS_FROM = '"Anonymous" <sip:anonymous@anonymous.invalid>';

interface OutboundCallerId {
  /** The asserted caller, a SIP or tel URI. */
  assertedIdentity?: string;
  /** priv-values (`id`, `user`, `header`, `session`, `critical`, `none`). */
  privacy?: readonly string[];
  /** Where the call was diverted from, with an RFC 5806 diversion-reason. */
  diversion?: { uri: string; reason: string };
  /** Also send the asserted identity as Remote-Party-ID, for carriers older than RFC 3325. */
  remotePartyId?: boolean;
}

/** Any printable ASCII but the characters that end a URI inside <> or a header value early. */
const SAFE_URI = /^[!#-;=?-~]+$/;

/** A URI to write between <>; throws on anything that could end the header or the name-addr. */
function safeUri(uri: string): string {
  if (!SAFE_URI.test(uri) || uri.includes(','))
    throw new RangeError(`unsafe URI in a caller-ID header: ${JSON.stringify(uri)}`);
  return uri;
}

function safeToken(value: string): string {
  if (!isToken(value)) throw new RangeError(`not a token in a caller-ID header: ${JSON.stringify(value)}`);
  return value;
}

/** Whether `privacy` asks that the caller not be identified to the callee (RFC 3323 §4.2, RFC 3325 §9.3). */
export function isAnonymous(privacy: readonly string[] | undefined): boolean {
  return privacy?.some((value) => value === 'id' || value === 'user') ?? false;
}

/**
 * The caller-ID headers of an outbound INVITE. Throws RangeError on a value that is not safe
 * to write (CR, LF, white space, quotes, <>, commas; non-token privacy values or reasons):
 * callers validate first, this is the last line against header injection.
 */
export function callerIdHeaders(callerId: OutboundCallerId): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  const asserted = callerId.assertedIdentity === undefined ? undefined : safeUri(callerId.assertedIdentity);
  if (asserted !== undefined) headers.push(['P-Asserted-Identity', `<${asserted}>`]);
  if (callerId.privacy && callerId.privacy.length > 0)
    headers.push(['Privacy', callerId.privacy.map(safeToken).join(';')]);
  if (callerId.diversion) {
    const { uri, reason } = callerId.diversion;
    headers.push(['Diversion', `<${safeUri(uri)}>;reason=${safeToken(reason)};counter=1`]);
  }
  if (callerId.remotePartyId && asserted !== undefined) {
    const privacy = isAnonymous(callerId.privacy) ? 'full' : 'off';
    headers.push(['Remote-Party-ID', `<${asserted}>;party=calling;screen=yes;privacy=${privacy}`]);
  }
  return headers;
}

/** The identity headers of an inbound INVITE, each as one line of printable text, and STIR/SHAKEN's two values. */
interface CallerIdentityHeaders {
  /** From without its tag. */
  from?: string;
  assertedIdentity?: string;
  privacy?: string;
  diversion?: string;
  /** Remote-Party-ID (draft-ietf-sip-privacy-04), the asserted caller of carriers older than RFC 3325. */
  remotePartyId?: string;
  /** STIR/SHAKEN: the terminating carrier's verdict on the calling number. */
  verstat?: Verstat;
  /** STIR/SHAKEN: the attestation the originating carrier signed (Identity header). */
  attestation?: ShakenAttestation;
}

/** Longer header text is left out: an identity is a URI or two, not a story. */
export const MAX_IDENTITY_TEXT = 512;
/** RFC 3325 §9.1 allows one SIP and one tel URI; Diversion lists one entry per hop. */
const MAX_VALUES = 4;

/**
 * Reads From, P-Asserted-Identity, Privacy, Diversion, Remote-Party-ID and what they and the Identity header
 * say of STIR/SHAKEN (stir-shaken.ts). Name-addrs are parsed and written
 * again (so nothing but the URI, display name and parameters passes), values that do not parse
 * are skipped, control and format characters become spaces, and a header whose text is over
 * MAX_IDENTITY_TEXT characters is left out. Never throws.
 */
export function readCallerIdentity(request: SipRequest): CallerIdentityHeaders {
  const identity: CallerIdentityHeaders = {};
  const set = (
    name: 'from' | 'assertedIdentity' | 'privacy' | 'diversion' | 'remotePartyId',
    text: string,
  ): void => {
    const clean = boundedText(text);
    if (clean) identity[name] = clean;
  };
  const from = request.get('from') ?? '';
  const asserted = listOf(request, 'p-asserted-identity');
  set('from', nameAddrs([from], withoutTag));
  set('assertedIdentity', nameAddrs(asserted));
  set('diversion', nameAddrs(listOf(request, 'diversion')));
  set('remotePartyId', nameAddrs(listOf(request, 'remote-party-id')));
  const privacy = request
    .getAll('privacy')
    .flatMap((value) => value.split(';'))
    .map((value) => value.trim())
    .filter(isToken);
  set('privacy', privacy.slice(0, MAX_VALUES * 2).join(';'));
  const verstat = readVerstat([...asserted.slice(0, MAX_VALUES), from]);
  if (verstat) identity.verstat = verstat;
  const attestation = readShakenAttestation(request.getAll('identity'));
  if (attestation) identity.attestation = attestation;
  return identity;
}

/**
 * The headers named (an operator's list: `User-to-User`, `X-Customer-Id`...) as bounded,
 * printable text, each header's lines joined with ", "; a header absent, or over
 * MAX_IDENTITY_TEXT characters, is left out.
 */
export function readPassedHeaders(request: SipRequest, names: readonly string[]): Array<[string, string]> {
  const passed: Array<[string, string]> = [];
  for (const name of names) {
    const lines = request
      .getAll(name)
      .map(printable)
      .filter((line) => line.length > 0);
    // Each line is printable already: only the bound is left to check.
    const text = lines.join(', ');
    if (text.length > 0 && text.length <= MAX_IDENTITY_TEXT) passed.push([name, text]);
  }
  return passed;
}

/** Control and format characters as spaces, trimmed. */
function printable(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}]+/gu, ' ').trim();
}

/** Printable text, undefined when empty or over MAX_IDENTITY_TEXT. */
function boundedText(text: string): string | undefined {
  const clean = printable(text);
  return clean.length > 0 && clean.length <= MAX_IDENTITY_TEXT ? clean : undefined;
}

function listOf(request: SipRequest, name: string): string[] {
  try {
    return request.listValues(name);
  } catch {
    return [];
  }
}

/** The values that parse as name-addrs, written again and joined with ", ". */
function nameAddrs(values: readonly string[], edit?: (nameAddr: NameAddr) => NameAddr): string {
  const written: string[] = [];
  for (const value of values.slice(0, MAX_VALUES)) {
    try {
      const nameAddr = parseNameAddr(value);
      written.push(serializeNameAddr(edit ? edit(nameAddr) : nameAddr));
    } catch {
      // Not a name-addr: the bot gets the others.
    }
  }
  return written.join(', ');
}
