/**
 * An inbound call: trunk by source address, digest if the trunk asks for it, route
 * by called number, concurrency and CPS, SDP negotiation, 180 while the bot connects, then
 * 200 with the answer and media bridged both ways.
 */

import type { InboundSession } from '../sip/index.js';
import { negotiateAnswer } from '../sip/sdp.js';
import { callCpsLimits } from '../trunks/index.js';
import { Call } from './call.js';
import { connectBot, handleReoffers, negotiatedMedia, openMediaLeg } from './call-media.js';
import type { GatewayContext } from './context.js';

/** The user part of a URI, as the called/calling number (tel: or sip:). */
function numberOf(user: string | undefined): string {
  return user ?? '';
}

export async function handleInbound(ctx: GatewayContext, session: InboundSession): Promise<void> {
  const invite = session.invite;
  const called = numberOf(invite.requestUri().user ?? invite.to().uri.user);
  const caller = numberOf(invite.from().uri.user);
  const decision = ctx.inbound().match(session.source.address, called);
  if (!decision.ok) {
    ctx.metrics.callsTotal.inc({ direction: 'inbound', trunk: 'unknown', outcome: decision.reason });
    // 'drop' sources never reach here (the transport's admission hook drops them).
    session.reject(decision.reason === 'unknown_source' ? 403 : decision.status);
    return;
  }
  const { trunk, route, routeIndex } = decision;
  const call = new Call('inbound', caller, called, ctx.clock);
  call.trunk = trunk.name;
  call.route = route.match;
  call.session = session;

  const challenge = ctx.authenticate(trunk, session);
  if (challenge) {
    const outcome = challenge.status === 403 ? 'auth_failed' : 'auth_challenge';
    ctx.metrics.callsTotal.inc({ direction: 'inbound', trunk: trunk.name, outcome });
    if (challenge.reason)
      ctx.logger.warn({ trunk: trunk.name, reason: challenge.reason }, 'digest credentials refused');
    session.reject(challenge.status, challenge.headers);
    return;
  }
  const slot = ctx.concurrency.tryAcquire(trunk.name, trunk.maxConcurrentCalls);
  if (!slot || !ctx.admit(call)) {
    slot?.release();
    ctx.metrics.callsTotal.inc({ direction: 'inbound', trunk: trunk.name, outcome: 'concurrency_limit' });
    session.reject(503, [['Retry-After', '5']]);
    return;
  }
  call.releaseSlot = () => slot.release();
  session.once('terminated', (cause) => {
    const by = cause.by === 'remote' ? 'caller' : 'gateway';
    ctx.endCall(call, by, cause.reason, cause.status);
  });
  /** Refuses the INVITE; the call record keeps why (endCall runs from 'terminated'). */
  const refuse = (status: number, reason: string, headers: Array<[string, string]> = []): void => {
    call.disposition = reason;
    call.sipStatus = status;
    session.reject(status, headers);
  };

  const limits = callCpsLimits(trunk, called, { id: String(routeIndex), config: route });
  const admission = await ctx.cps.admit(limits.limits, limits.overflow);
  if (admission.action !== 'accept') {
    ctx.metrics.cpsRejectedTotal.inc({ key: limits.limits[0]?.key ?? trunk.name });
    const retryAfter = admission.action === 'reject' ? admission.retryAfterSec : 1;
    refuse(503, admission.action === 'reject' ? admission.reason : 'cps_reroute', [
      ['Retry-After', String(retryAfter)],
    ]);
    return;
  }
  if (session.state === 'terminated') return;

  const offer = session.remoteSdp;
  if (offer === undefined) {
    // An offer-less INVITE (RFC 3264 §5) would need our offer in the 200; carriers always offer.
    refuse(488, 'no SDP offer');
    return;
  }
  try {
    const leg = await openMediaLeg(ctx, call, route.target);
    const negotiation = negotiateAnswer(offer, {
      address: ctx.mediaAddress,
      port: leg.localPort,
      preferences: trunk.codecs,
    });
    if (!negotiation.ok) {
      refuse(negotiation.status, negotiation.reason);
      return;
    }
    call.codec = negotiation.remote.codec.name;
    session.progress(180);
    call.state = 'ringing';
    await connectBot(ctx, call, route.target);
    if (call.ended) return;
    await leg.start(negotiatedMedia(negotiation.remote));
    handleReoffers(ctx, call, session, trunk.codecs, negotiation.answer);
    session.accept(negotiation.answer);
    call.markAnswered();
    ctx.metrics.callsTotal.inc({ direction: 'inbound', trunk: trunk.name, outcome: 'answered' });
  } catch (error) {
    ctx.logger.warn({ err: error, callId: call.id }, 'inbound call setup failed');
    refuse(503, `setup failed: ${(error as Error).message}`);
    ctx.endCall(call, 'gateway', call.disposition ?? 'setup failed', 503);
  }
}
