/**
 * The outbound dialling loop: walk the trunk's failover plan one gateway at a time, each
 * attempt bounded by its own timeout and by the call's ring deadline, feeding every attempt
 * to its gateway's health window (ASR, CCR, PDD, AST).
 */
import type { TrunkConfig } from '../config/index.js';
import type { OfferAnswerer, OutboundOutcome, OutboundSession } from '../sip/index.js';
import { createOffer, type ParseAnswerResult, parseAnswer } from '../sip/sdp.js';
import { type AttemptOutcome, type AttemptPlan, attemptHealth, outboundIdentity } from '../trunks/index.js';
import type { Clock, TimerHandle } from '../util/index.js';
import { boundedDetail, type CallEnd, causeOfFinalStatus } from './call-end.js';
import type { OutboundDialer } from './ports.js';

export interface DialRequest {
  trunk: TrunkConfig;
  /** The trunk's failover plan; the caller keeps it, so a call ended mid-dial still has its attempts. */
  plan: AttemptPlan;
  from: string;
  to: string;
  /** Our RTP port, for the offer. */
  localPort: number;
  ringTimeoutMs: number;
  /** The call ended meanwhile (API hangup, shutdown): stop after the attempt in flight. */
  isEnded(): boolean;
  onSession(session: OutboundSession): void;
  onRinging(): void;
  onAttempt(attempt: { trunk: string; gatewayId: string; status: number }): void;
  /** Answers the callee's re-INVITE/UPDATE offers once answered; `localSdp` is our offer. */
  reofferAnswerer(localSdp: string): OfferAnswerer;
}

export type DialResult =
  | { kind: 'answered'; session: OutboundSession; offer: string; answer: ParseAnswerResult }
  | { kind: 'failed'; end: CallEnd };

export async function dialOutbound(
  ports: { clock: Clock; mediaAddress: string; outbound: OutboundDialer },
  request: DialRequest,
): Promise<DialResult> {
  const { clock } = ports;
  const { trunk, plan } = request;
  const offer = createOffer({ address: ports.mediaAddress, port: request.localPort, codecs: trunk.codecs });
  const identity = outboundIdentity(trunk, request.from, request.to);
  const deadline = clock.now() + request.ringTimeoutMs;
  let attempt = plan.next();
  let last: OutboundOutcome | 'timeout' | undefined;
  while (attempt && !request.isEnded()) {
    const gateway = attempt.gateway;
    const host = identity.toHost ?? gateway.host;
    const started = clock.now();
    const session = ports.outbound.dial(trunk, {
      requestUri: `sip:${identity.toUser}@${host}:${gateway.port ?? 5060}`,
      destination: {
        transport: gateway.transport === 'tcp' ? 'tcp' : 'udp',
        address: gateway.host,
        port: gateway.port ?? 5060,
      },
      from: `<sip:${identity.fromUser}@${identity.fromHost ?? ports.mediaAddress}>`,
      to: `<sip:${identity.toUser}@${host}>`,
      sdp: offer,
      sessionTimer: true,
      answerOffer: request.reofferAnswerer(offer),
    });
    request.onSession(session);
    let pddMs: number | undefined;
    let timedOut = false;
    session.on('progress', () => {
      if (timedOut) return;
      pddMs ??= clock.now() - started;
      request.onRinging();
    });
    // The attempt ends at its timeout, not at Timer B or C: the session sends its CANCEL as soon
    // as the gateway has answered anything (RFC 3261 §9.1) and ends a 2xx that comes later.
    const timeoutMs = Math.min(attempt.timeoutMs, Math.max(0, deadline - started));
    let attemptTimer: TimerHandle | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      attemptTimer = clock.setTimer(timeoutMs, () => {
        timedOut = true;
        session.cancel();
        resolve('timeout');
      });
    });
    const outcome = await Promise.race([session.outcome, timeout]);
    attemptTimer?.cancel();
    last = outcome;
    const routed = routerOutcome(outcome);
    const answered = outcome !== 'timeout' && outcome.kind === 'answered';
    ports.outbound.health(attempt.gatewayId)?.recordAttempt({
      ...attemptHealth(routed),
      pddMs,
      setupMs: answered ? clock.now() - started : undefined,
    });
    const status = outcome === 'timeout' ? 408 : answered ? outcome.response.status : outcome.status;
    request.onAttempt({ trunk: trunk.name, gatewayId: attempt.gatewayId, status });
    if (!answered && clock.now() >= deadline) {
      plan.stop(routed, 'ring timeout');
      break;
    }
    attempt = plan.next(routed);
    if (outcome !== 'timeout' && outcome.kind === 'answered')
      return {
        kind: 'answered',
        session,
        offer,
        answer: parseAnswer(outcome.response.body.toString(), trunk.codecs),
      };
  }
  return { kind: 'failed', end: failedEnd(last) };
}

/** How the last attempt's failure ends the call. */
function failedEnd(last: OutboundOutcome | 'timeout' | undefined): CallEnd {
  if (last === 'timeout') return { cause: 'no_answer', sipStatus: 408, detail: 'ring timeout' };
  if (!last || last.kind === 'answered')
    return { cause: 'failover_exhausted', sipStatus: 480, detail: 'no gateway' };
  const { status, reason } = last;
  return { cause: causeOfFinalStatus(status), sipStatus: status, detail: boundedDetail(reason) };
}

function routerOutcome(outcome: OutboundOutcome | 'timeout'): AttemptOutcome {
  if (outcome === 'timeout') return 'timeout';
  if (outcome.kind === 'answered') return { status: outcome.response.status };
  if (outcome.cause !== 'response') return outcome.cause;
  return { status: outcome.status, earlyMedia: outcome.earlyMedia };
}
