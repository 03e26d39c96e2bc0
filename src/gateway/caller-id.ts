/**
 * Caller ID at the trunk edge. Outbound: the trunk's `outbound.callerId`, overridden field by
 * field per call, gives the From and the identity headers of the INVITE; a call with Privacy
 * `id` or `user` goes out as Anonymous (RFC 3323 §4.1.1.3) with the real caller asserted in
 * P-Asserted-Identity (RFC 3325 §9.1). Inbound: the caller's identity headers become custom
 * parameters of the bot's `start`; P-Asserted-Identity only from trunks in our trust domain
 * (`trustPai`, RFC 3325 §2.3), since anyone else can write one; with them the headers the trunk
 * names in `passHeaders`, as `sipHeader_<name>`.
 */
import { type CallerIdConfig, parseCallerIdentity, type TrunkConfig } from '../config/index.js';
import {
  ANONYMOUS_FROM,
  callerIdHeaders,
  isAnonymous,
  readCallerIdentity,
  readPassedHeaders,
  type SipRequest,
} from '../sip/index.js';

/** What one call may override (`POST /v1/calls` `callerId`). */
export type CallerIdOverride = Partial<CallerIdConfig>;

export interface OutboundCaller {
  /** The From name-addr (without tag). */
  from: string;
  headers: Array<[string, string]>;
}

/**
 * `callerUri` is who the call is from (the From URI without privacy); `host` is the domain an
 * E.164 identity is written in (`sip:+15551230000@host;user=phone`).
 */
export function outboundCaller(
  trunk: TrunkConfig,
  override: CallerIdOverride | undefined,
  callerUri: string,
  host: string,
): OutboundCaller {
  const configured = trunk.outbound?.callerId;
  const asserted = override?.assertedIdentity ?? configured?.assertedIdentity;
  const privacy = override?.privacy ?? configured?.privacy;
  const diversion = override?.diversion ?? configured?.diversion;
  const anonymous = isAnonymous(privacy);
  const assertedUri =
    asserted === undefined ? (anonymous ? callerUri : undefined) : identityUri(asserted, host);
  const headers = callerIdHeaders({
    ...(assertedUri === undefined ? {} : { assertedIdentity: assertedUri }),
    ...(privacy ? { privacy } : {}),
    ...(diversion
      ? { diversion: { uri: identityUri(diversion.identity, host), reason: diversion.reason } }
      : {}),
    remotePartyId: configured?.remotePartyId ?? false,
  });
  return { from: anonymous ? ANONYMOUS_FROM : `<${callerUri}>`, headers };
}

/** An E.164 number as a SIP URI in `host` (RFC 3261 §19.1.6 user=phone); a URI as it is. */
function identityUri(text: string, host: string): string {
  const identity = parseCallerIdentity(text);
  if (!identity) throw new RangeError(`not a caller identity: ${JSON.stringify(text)}`);
  return identity.kind === 'uri' ? identity.uri : `sip:${identity.number}@${host};user=phone`;
}

/**
 * The caller identity headers of an inbound call as the bot's `start` custom parameters. The
 * names are part of the bot interface (README, "Caller ID"); each value is at most 512
 * printable characters, and a parameter is absent when its header is.
 */
export interface CallerIdentityParameters {
  /** The From header, without its tag. */
  sipFrom?: string;
  /** P-Asserted-Identity, only from a trunk with `trustPai`. */
  sipPAssertedIdentity?: string;
  /** Privacy values, `;`-separated (e.g. `id` means: do not reveal the caller). */
  sipPrivacy?: string;
  /** Diversion entries, newest first. */
  sipDiversion?: string;
  /** Remote-Party-ID, only from a trunk with `trustPai` (an assertion, as P-Asserted-Identity). */
  sipRemotePartyId?: string;
  /** STIR/SHAKEN verification verdict (`TN-Validation-Passed`...), only from a trunk with `trustPai`. */
  sipVerstat?: string;
  /** STIR/SHAKEN attestation level (`A`, `B` or `C`), only from a trunk with `trustPai`. */
  sipAttestation?: string;
  /** A header the trunk's `passHeaders` names (`sipHeader_User-to-User`...), when the INVITE has it. */
  [passed: `sipHeader_${string}`]: string;
}

export function callerIdentityParameters(invite: SipRequest, trunk: TrunkConfig): CallerIdentityParameters {
  const identity = readCallerIdentity(invite);
  const parameters: CallerIdentityParameters = {};
  const put = (name: keyof CallerIdentityParameters & `sip${string}`, value: string | undefined): void => {
    if (value !== undefined) parameters[name] = value;
  };
  put('sipFrom', identity.from);
  put('sipPrivacy', identity.privacy);
  put('sipDiversion', identity.diversion);
  // Assertions: only a carrier in our trust domain can vouch for them (RFC 3325 §2.3).
  if (trunk.trustPai) {
    put('sipPAssertedIdentity', identity.assertedIdentity);
    put('sipRemotePartyId', identity.remotePartyId);
    put('sipVerstat', identity.verstat);
    put('sipAttestation', identity.attestation);
  }
  for (const [name, text] of readPassedHeaders(invite, trunk.passHeaders))
    parameters[`sipHeader_${name}`] = text;
  return parameters;
}
