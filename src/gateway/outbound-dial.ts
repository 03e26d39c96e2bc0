/**
 * The outbound dialling loop: walk the trunk's failover plan one target at a time (a gateway,
 * or one SRV target of a gateway given by DNS name), each attempt bounded by its own timeout
 * until the target rings (180/183) and by the call's ring deadline, feeding every attempt to
 * its target's health window (ASR, CCR, PDD, AST). An attempt whose name did not resolve sends
 * nothing and fails over.
 */
import type { TrunkConfig } from '../config/index.js';
import {
  createOffer,
  newSdesOffer,
  type OfferAnswerer,
  type OutboundOutcome,
  type OutboundSession,
  offerAsAnswered,
  type ParseAnswerResult,
  parseAnswer,
  q850Reason,
  retryAfterSec,
  type SdesOffer,
  SipParseError,
  type SipResponse,
  signalledReason,
  uriHost,
  userPhoneParam,
} from '../sip/index.js';
import {
  type Attempt,
  type AttemptDestination,
  type AttemptOutcome,
  type AttemptPlan,
  type AttemptSample,
  attemptHealth,
  gatewayName,
  type OutboundIdentity,
  outboundIdentity,
} from '../trunks/index.js';
import type { Clock, TimerHandle } from '../util/index.js';
import { boundedDetail, type CallEnd, causeOfFinalStatus, signalledEnd } from './call-end.js';
import { type CallerIdOverride, type OutboundCaller, outboundCaller } from './caller-id.js';
import type { OutboundDialer } from './ports.js';
import { gatewayDestination, uriTransportParam } from './sip-tls.js';

export interface DialRequest {
  trunk: TrunkConfig;
  /** The trunk's failover plan; the caller keeps it, so a call ended mid-dial still has its attempts. */
  plan: AttemptPlan;
  from: string;
  to: string;
  /** Our RTP port, for the offer. */
  localPort: number;
  ringTimeoutMs: number;
  callerId?: CallerIdOverride;
  /** Headers the API asked the INVITE to carry, after the caller-ID ones. */
  headers?: ReadonlyArray<[string, string]>;
  /** The call ended meanwhile (API hangup, shutdown): stop after the attempt in flight. */
  isEnded(): boolean;
  onSession(session: OutboundSession): void;
  onRinging(): void;
  /**
   * `gateway` is the configured gateway's name (`gatewayName`, an SRV target's too); `status`
   * the final SIP status, or `dns_failure` when nothing could be sent.
   */
  onAttempt(attempt: { trunk: string; gateway: string; status: number | 'dns_failure' }): void;
  /** Answers the callee's re-INVITE/UPDATE offers once answered; `localSdp` is our offer. */
  reofferAnswerer(localSdp: string): OfferAnswerer;
}

export type DialResult =
  | { kind: 'answered'; session: OutboundSession; offer: string; answer: ParseAnswerResult }
  | { kind: 'failed'; end: CallEnd };

type DialPorts = { clock: Clock; mediaAddress: string; outbound: OutboundDialer };

/** How the last attempt ended: a final answer, its timeout, or a name that did not resolve. */
type LastAttempt =
  | { kind: 'failed'; outcome: Extract<OutboundOutcome, { kind: 'failed' }> }
  | { kind: 'timeout' }
  | { kind: 'dns_failure'; detail: string };

/** One attempt, as the plan, the health window, metrics and the call's end see it. */
interface Tried {
  routed: AttemptOutcome;
  /** The number a 3xx redirected the attempt to, whatever became of it then. */
  redirectedTo?: string | undefined;
  /** Undefined for an answered attempt. */
  last: LastAttempt | undefined;
  status: number | 'dns_failure';
  timing: Pick<AttemptSample, 'pddMs' | 'setupMs'>;
  answered: { session: OutboundSession } | undefined;
  /** A 503's Retry-After: the target takes no new calls for that long (RFC 3261 §21.5.4). */
  retryAfterSec?: number | undefined;
}

export async function dialOutbound(ports: DialPorts, request: DialRequest): Promise<DialResult> {
  const { clock } = ports;
  const { trunk, plan } = request;
  const encryption = trunk.media.encryption;
  const identity = outboundIdentity(trunk, request.from, request.to);
  const fromHost = uriHost(identity.fromHost ?? ports.mediaAddress);
  // RFC 3261 §19.1.1: some carriers (IMS interconnects) take a number only marked user=phone.
  const phone = (user: string) => (trunk.outbound?.userPhone ? userPhoneParam(user) : '');
  const callerUri = `sip:${identity.fromUser}@${fromHost}${phone(identity.fromUser)}`;
  const caller = outboundCaller(trunk, request.callerId, callerUri, fromHost);
  caller.headers.push(...extraHeaders(trunk.outbound?.headers, request.headers));
  const deadline = clock.now() + request.ringTimeoutMs;
  let attempt = await plan.next();
  let last: LastAttempt | undefined;
  while (attempt && !request.isEnded()) {
    // Fresh SRTP keys per attempt: a gateway that refused the call must not hold the next one's key.
    const srtp = encryption === 'none' ? undefined : newSdesOffer(encryption, trunk.media.srtpSuites);
    const offer = createOffer({
      address: ports.mediaAddress,
      port: request.localPort,
      codecs: trunk.codecs,
      ...(srtp ? { srtp } : {}),
    });
    const tried: Tried = attempt.destination.ok
      ? await dialTarget(ports, request, {
          attempt,
          to: attempt.destination.to,
          identity,
          userParams: phone,
          caller,
          offer,
          deadline,
        })
      : {
          routed: 'dns_failure',
          last: { kind: 'dns_failure', detail: attempt.destination.detail },
          status: 'dns_failure',
          timing: {},
          answered: undefined,
        };
    last = tried.last;
    // A callee rung until the ring timeout is no fault of the carrier's (no CCR failure).
    const health =
      tried.routed === 'timeout' && tried.timing.pddMs !== undefined
        ? { answered: false, networkFailure: false }
        : attemptHealth(tried.routed);
    const targetHealth = ports.outbound.health(attempt.gatewayId);
    targetHealth?.recordAttempt({ ...health, ...tried.timing });
    if (tried.retryAfterSec !== undefined) targetHealth?.holdOff(tried.retryAfterSec * 1000);
    request.onAttempt({ trunk: trunk.name, gateway: gatewayName(attempt.gateway), status: tried.status });
    if (!tried.answered && clock.now() >= deadline) {
      plan.stop(tried.routed, 'ring timeout', tried.redirectedTo);
      break;
    }
    attempt = await plan.next(tried.routed, tried.redirectedTo);
    if (tried.answered)
      return {
        kind: 'answered',
        session: tried.answered.session,
        offer,
        answer: answerOf(tried.answered.session, offer, trunk, srtp, {
          address: ports.mediaAddress,
          port: request.localPort,
        }),
      };
  }
  return { kind: 'failed', end: failedEnd(last) };
}

interface TargetAttempt {
  attempt: Attempt;
  to: AttemptDestination;
  identity: OutboundIdentity;
  /** `;user=phone` or nothing, for the Request-URI and To, by the number they name. */
  userParams: (user: string) => string;
  caller: OutboundCaller;
  offer: string;
  deadline: number;
}

/** Sends the INVITE to one target and waits for its outcome, within the attempt's timeout. */
async function dialTarget(ports: DialPorts, request: DialRequest, target: TargetAttempt): Promise<Tried> {
  const { clock } = ports;
  const { attempt, to, identity } = target;
  const gateway = attempt.gateway;
  // RFC 3263: the Request-URI keeps the name as configured; only the destination is resolved.
  const host = uriHost(identity.toHost ?? gateway.host);
  const hostPort = gateway.port === undefined ? host : `${host}:${gateway.port}`;
  const started = clock.now();
  const requestUri = (user: string) =>
    `sip:${user}@${hostPort}${target.userParams(user)}${uriTransportParam(gateway.transport)}`;
  let redirects = 0;
  let redirectedTo: string | undefined;
  const session = ports.outbound.dial(request.trunk, {
    requestUri: requestUri(identity.toUser),
    destination: gatewayDestination(gateway.transport, to.address, to.port, gateway.host),
    from: target.caller.from,
    to: `<sip:${identity.toUser}@${host}${target.userParams(identity.toUser)}>`,
    headers: target.caller.headers,
    sdp: target.offer,
    sessionTimer: true,
    answerOffer: request.reofferAnswerer(target.offer),
    // RFC 3261 §8.1.3.4, bounded: a 3xx (a ported or forwarded number) is followed to the number
    // its Contact names, always through this gateway, never to a host the carrier names.
    redirect: (response) => {
      const user = redirects < MAX_REDIRECTS ? redirectedNumber(response) : undefined;
      if (user === undefined) return undefined;
      redirects++;
      redirectedTo = user;
      return requestUri(user);
    },
  });
  request.onSession(session);
  let pddMs: number | undefined;
  let timedOut = false;
  // The attempt ends at its timeout, not at Timer B or C: the session sends its CANCEL as soon
  // as the target has answered anything (RFC 3261 §9.1) and ends a 2xx that comes later.
  let attemptTimer: TimerHandle | undefined;
  let expire: () => void = () => undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    expire = () => {
      timedOut = true;
      // RFC 3326: no answer once the callee was alerted (Q.850 19), else a timer ran out (102).
      session.cancel([
        ['Reason', pddMs === undefined ? q850Reason(102, 'attempt timeout') : q850Reason(19, 'no_answer')],
      ]);
      resolve('timeout');
    };
  });
  attemptTimer = clock.setTimer(Math.min(attempt.timeoutMs, Math.max(0, target.deadline - started)), expire);
  session.on('progress', () => {
    if (timedOut) return;
    if (pddMs === undefined) {
      // A 180/183 means the callee is being alerted: from now on only the ring deadline ends
      // the attempt, and not as a failover, else the callee would ring again elsewhere.
      attemptTimer?.cancel();
      attemptTimer = clock.setTimer(Math.max(0, target.deadline - clock.now()), expire);
    }
    pddMs ??= clock.now() - started;
    request.onRinging();
  });
  const outcome = await Promise.race([session.outcome, timeout]);
  attemptTimer?.cancel();
  if (outcome === 'timeout')
    return {
      routed: 'timeout',
      redirectedTo,
      last: { kind: 'timeout' },
      status: 408,
      timing: { pddMs },
      answered: undefined,
    };
  const answered = outcome.kind === 'answered';
  return {
    routed: routerOutcome(outcome),
    redirectedTo,
    last: outcome.kind === 'answered' ? undefined : { kind: 'failed', outcome },
    status: answered ? outcome.response.status : outcome.status,
    timing: { pddMs, setupMs: answered ? clock.now() - started : undefined },
    answered: answered ? { session } : undefined,
    retryAfterSec:
      outcome.kind === 'failed' && outcome.cause === 'response' && outcome.status === 503
        ? retryAfterSec(outcome.response)
        : undefined,
  };
}

/**
 * The SDP the answered call runs on: the answer to our offer, from the 2xx or from a reliable
 * 18x when the 2xx has none (RFC 3262 §5); or, where the carrier offered anew in an UPDATE of
 * the early dialog (RFC 3311 §5.2), its offer as we answered it (`local`: our media address).
 */
function answerOf(
  session: OutboundSession,
  offer: string,
  trunk: TrunkConfig,
  srtp: SdesOffer | undefined,
  local: { address: string; port: number },
): ParseAnswerResult {
  const remote = session.remoteSdp ?? '';
  const ours = session.lastLocalSdp;
  if (ours === undefined || ours === offer) return parseAnswer(remote, trunk.codecs, srtp);
  return offerAsAnswered(remote, {
    ...local,
    preferences: trunk.codecs,
    encryption: trunk.media.encryption,
    srtpSuites: trunk.media.srtpSuites,
    previousSdp: ours,
  });
}

/** The 3xx responses one attempt follows (RFC 3261 §8.1.3.4) before the next ends it. */
const MAX_REDIRECTS = 2;
/** A number or plain user a redirect may name: no escapes, parameters or headers to carry. */
const REDIRECT_USER = /^[A-Za-z0-9+*._~-]{1,64}$/;

/**
 * The user part (a number) of a 3xx's most preferred Contact (highest q, RFC 3261 §8.1.3.4), a
 * sip, sips or tel URI; undefined when it names none we may dial or does not parse.
 */
function redirectedNumber(response: SipResponse): string | undefined {
  let contacts: ReturnType<SipResponse['contacts']>;
  try {
    contacts = response.contacts();
  } catch (error) {
    if (error instanceof SipParseError) return undefined;
    throw error;
  }
  const q = (params: ReadonlyMap<string, string | null>) => Number(params.get('q') ?? 1) || 0;
  const [best] = [...contacts].sort((a, b) => q(b.params) - q(a.params));
  const user = best?.uri.user;
  return user !== undefined && REDIRECT_USER.test(user) ? user : undefined;
}

/** How the last attempt's failure ends the call. */
function failedEnd(last: LastAttempt | undefined): CallEnd {
  if (!last) return { cause: 'failover_exhausted', sipStatus: 480, detail: 'no gateway' };
  if (last.kind === 'dns_failure') return { cause: 'dns_failure', detail: boundedDetail(last.detail) };
  if (last.kind === 'timeout') return { cause: 'no_answer', sipStatus: 408, detail: 'ring timeout' };
  const { outcome } = last;
  // RFC 6432: a carrier's final response may say its network's Q.850 cause in a Reason; the
  // detail stays its Reason-Phrase.
  const signalled = outcome.cause === 'response' ? signalledReason(outcome.response) : undefined;
  return {
    ...signalledEnd(signalled),
    cause: causeOfFinalStatus(outcome.status),
    sipStatus: outcome.status,
    detail: boundedDetail(outcome.reason),
  };
}

function routerOutcome(outcome: OutboundOutcome): AttemptOutcome {
  if (outcome.kind === 'answered') return { status: outcome.response.status };
  if (outcome.cause !== 'response') return outcome.cause;
  return { status: outcome.status, earlyMedia: outcome.earlyMedia };
}

/** The trunk's own headers, each replaced by the call's header of the same name, then the call's others. */
function extraHeaders(
  trunkHeaders: Readonly<Record<string, string>> | undefined,
  callHeaders: ReadonlyArray<[string, string]> = [],
): Array<[string, string]> {
  const called = new Set(callHeaders.map(([name]) => name.toLowerCase()));
  const fromTrunk = Object.entries(trunkHeaders ?? {}).filter(([name]) => !called.has(name.toLowerCase()));
  return [...fromTrunk, ...callHeaders];
}
