/**
 * UAS request checks after parsing (RFC 3261 §8.2.1–§8.2.3): what a parsed but unacceptable
 * request is answered with. The parser already rejects what breaks framing or matching.
 */
import { mediaType } from './grammar.js';
import type { SipMessage, SipRequest, SipResponse } from './message.js';

export interface Rejection {
  status: number;
  /** Extra headers for the response, e.g. Unsupported (§8.2.2.3) or Accept (§21.4.13). */
  headers?: Array<[string, string]>;
}

export interface UasCapabilities {
  /** Option tags we support (Require values outside this list get 420). */
  supported: readonly string[];
  /** Body types we understand (others get 415). */
  accept: readonly string[];
}

export const DEFAULT_CAPABILITIES: UasCapabilities = {
  // RFC 4028 session timers, and RFC 3262's 100rel: an INVITE that requires it is answered with
  // no provisional response but 100 (see requiresReliableProvisionals). No Replaces (RFC 3891)
  // or norefersub (RFC 4488): neither is implemented.
  supported: ['timer', '100rel'],
  accept: ['application/sdp'],
};

export function checkRequest(
  request: SipRequest,
  capabilities = DEFAULT_CAPABILITIES,
): Rejection | undefined {
  // RFC 4475 §3.1.2.10 escruri: headers in a Request-URI are meaningless to a UAS.
  if (request.requestUri().headers.size > 0) return { status: 400 };
  if (request.method === 'ACK' || request.method === 'CANCEL') return undefined;
  // The checks below read headers most requests do not carry; absent, they cost a scan each.
  const unsupported = requireRejection(request, capabilities);
  if (unsupported) return unsupported;
  // §8.2.3: a body we cannot read gets 415 with what we accept (RFC 4475 §3.3.4 invut).
  const contentType = request.body.length > 0 ? request.contentType() : undefined;
  if (contentType !== undefined && !isAccepted(contentType, capabilities)) {
    return { status: 415, headers: [['Accept', capabilities.accept.join(', ')]] };
  }
  // §21.4.7: an INVITE whose Accept excludes SDP cannot be answered (RFC 4475 §3.3.12 sdp01).
  if (request.has('accept')) {
    const accept = request.listValues('accept');
    if (
      request.method === 'INVITE' &&
      accept.length > 0 &&
      !accept.some((type) => acceptsAny(type, capabilities))
    ) {
      return { status: 406 };
    }
  }
  return undefined;
}

/** §8.2.2.3: unknown Require option tags get 420 listing them (RFC 4475 §3.3.1 bext01). */
export function requireRejection(request: SipRequest, capabilities: UasCapabilities): Rejection | undefined {
  if (request.method === 'ACK' || request.method === 'CANCEL') return undefined;
  const unsupported = unsupportedRequirements(request, capabilities);
  return unsupported.length > 0
    ? { status: 420, headers: [['Unsupported', unsupported.join(', ')]] }
    : undefined;
}

/** The option tags `message` requires (its Require header) that `capabilities` lack. */
export function unsupportedRequirements(message: SipMessage, capabilities: UasCapabilities): string[] {
  if (!message.has('require')) return [];
  return message.listValues('require').filter((tag) => !capabilities.supported.includes(tag.toLowerCase()));
}

/**
 * RFC 3262 §3: to a request that requires 100rel, every provisional response but 100 must go
 * reliably (retransmitted until PRACKed). We send none: the call is answered straight from
 * 100 Trying, which meets that rule without a PRACK, and a PRACK that comes anyway matches no
 * reliable response (481, §3). A provisional response that requires it was sent reliably, and
 * a 421 that does asks for it (reliable-provisionals.ts).
 */
export function requiresReliableProvisionals(message: SipMessage): boolean {
  return (
    message.has('require') && message.listValues('require').some((tag) => tag.toLowerCase() === '100rel')
  );
}

function isAccepted(contentType: string, capabilities: UasCapabilities): boolean {
  return contentType.startsWith('multipart/') || capabilities.accept.includes(contentType);
}

function acceptsAny(range: string, capabilities: UasCapabilities): boolean {
  const type = mediaType(range);
  if (type === '*/*') return true;
  if (type.endsWith('/*'))
    return capabilities.accept.some((accepted) => accepted.startsWith(type.slice(0, -1)));
  return capabilities.accept.includes(type);
}

/** RFC 3261 §8.1.3.3: a UAC discards responses carrying more than one Via (RFC 4475 bcast). */
export function isResponseForUs(response: SipResponse): boolean {
  return response.vias().length === 1;
}
