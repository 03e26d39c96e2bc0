/**
 * The first look at an inbound INVITE, before it takes any slot: the trunk and route it belongs
 * to, or the end that refuses it (unknown source 403, number or route 403/404), then the
 * trunk's digest check (401/407 challenge, 403).
 */
import type { RouteConfig, TrunkConfig } from '../config/index.js';
import type { InboundSession, SipRequest, TransportAddress } from '../sip/index.js';
import type { InboundMatcher } from '../trunks/index.js';
import type { CallEnd } from './call-end.js';
import { type CallerIdentityParameters, callerIdentityParameters } from './caller-id.js';
import type { InboundPolicy } from './ports.js';

export type InboundScreen =
  | {
      ok: true;
      trunk: TrunkConfig;
      route: RouteConfig;
      routeIndex: number;
      callerIdentity: CallerIdentityParameters;
    }
  | {
      ok: false;
      end: CallEnd;
      headers?: Array<[string, string]>;
      /** Set when the refusal is the trunk's digest check: the record names trunk and route. */
      matched?: { trunk: TrunkConfig; route: RouteConfig; callerIdentity: CallerIdentityParameters };
    };

/** `called`: the number the INVITE calls (InboundPolicy.numbersOf). */
export function screenInbound(
  inbound: InboundPolicy,
  session: InboundSession,
  called: string,
): InboundScreen {
  const requestUser = session.invite.requestUri().user ?? called;
  const decision = inbound.match(session.source, called, requestUser);
  if (!decision.ok) {
    // 'drop' sources never get here: the transport's admission hook drops them.
    if (decision.reason === 'unknown_source')
      return {
        ok: false,
        end: {
          cause: 'rejected_source',
          sipStatus: 403,
          ...(decision.detail ? { detail: decision.detail } : {}),
        },
      };
    const cause = decision.reason === 'no_route' ? 'rejected_route' : 'rejected_number';
    return { ok: false, end: { cause, sipStatus: decision.status } };
  }
  const { trunk, route, routeIndex } = decision;
  const callerIdentity = callerIdentityParameters(session.invite, trunk);
  const challenge = inbound.authenticate(trunk, session.invite);
  if (!challenge) return { ok: true, trunk, route, routeIndex, callerIdentity };
  const end: CallEnd = {
    cause: challenge.status === 403 ? 'auth_failed' : 'auth_challenge',
    sipStatus: challenge.status,
    ...(challenge.reason ? { detail: challenge.reason } : {}),
  };
  return { ok: false, end, headers: challenge.headers, matched: { trunk, route, callerIdentity } };
}

/**
 * Transport admission (before any transaction state): requests from sources no trunk knows are
 * dropped silently when the trunk set says so, which costs scanners nothing. An in-dialog request
 * passes when `dialogHere` says its call is here (outbound carriers send BYE from their own
 * addresses): a To tag alone would get a scanner its answer (481).
 */
export function admitsRequest(
  inbound: Pick<InboundMatcher, 'match'>,
  source: TransportAddress,
  request: SipRequest,
  dialogHere: (request: SipRequest) => boolean,
): boolean {
  if (request.method === 'ACK' || request.method === 'CANCEL') return true;
  if (request.toTag() !== undefined && dialogHere(request)) return true;
  const decision = inbound.match(source, request.requestUri().user ?? '');
  return !(decision.ok === false && decision.reason === 'unknown_source' && decision.action === 'drop');
}
