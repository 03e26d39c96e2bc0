/**
 * An outbound call from `POST /v1/calls` : pick a trunk, limit CPS, walk the
 * trunk's gateways with serial failover (the router's AttemptPlan), and on answer open the bot
 * stream and bridge media. Status events go to the optional callback URL.
 */
import { type StreamTarget, streamTargetSchema, type TrunkConfig } from '../config/index.js';
import type { OriginateRequest } from '../control/backend.js';
import type { OutboundOutcome, OutboundSession } from '../sip/index.js';
import { createOffer, parseAnswer } from '../sip/sdp.js';
import { type AttemptOutcome, attemptHealth, callCpsLimits, outboundIdentity } from '../trunks/index.js';
import { Call } from './call.js';
import { connectBot, handleReoffers, negotiatedMedia, openMediaLeg } from './call-media.js';
import type { GatewayContext } from './context.js';
import { StatusCallback } from './status-callback.js';

export class OriginateError extends Error {
  constructor(
    readonly status: 400 | 404 | 503,
    message: string,
  ) {
    super(message);
  }
}

function pickTrunk(ctx: GatewayContext, name: string | undefined): TrunkConfig {
  const trunks = ctx.config().trunks;
  if (name !== undefined) {
    const trunk = trunks.get(name);
    if (!trunk?.outbound) throw new OriginateError(404, `no outbound trunk named '${name}'`);
    return trunk;
  }
  const first = [...trunks.values()].find((trunk) => trunk.outbound);
  if (!first) throw new OriginateError(404, 'no trunk has an outbound section');
  return first;
}

/** Validates, admits and starts the call; dialling continues in the background. */
export async function originate(ctx: GatewayContext, request: OriginateRequest): Promise<Call> {
  const trunk = pickTrunk(ctx, request.trunk);
  const parsedTarget = streamTargetSchema.safeParse(request.stream);
  if (!parsedTarget.success)
    throw new OriginateError(400, parsedTarget.error.issues[0]?.message ?? 'bad stream');
  const target = parsedTarget.data;
  const call = new Call('outbound', request.from, request.to, ctx.clock);
  call.trunk = trunk.name;
  const slot = ctx.concurrency.tryAcquire(trunk.name, trunk.maxConcurrentCalls);
  if (!slot || !ctx.admit(call)) {
    slot?.release();
    throw new OriginateError(503, 'call limit reached');
  }
  call.releaseSlot = () => slot.release();
  const limits = callCpsLimits(trunk, request.to);
  const admission = await ctx.cps.admit(limits.limits, limits.overflow);
  if (admission.action !== 'accept') {
    ctx.metrics.cpsRejectedTotal.inc({ key: limits.limits[0]?.key ?? trunk.name });
    ctx.endCall(call, 'gateway', 'cps_limit', 503);
    throw new OriginateError(503, 'CPS limit reached');
  }
  const callback = request.statusCallback
    ? new StatusCallback(request.statusCallback, ctx.logger)
    : undefined;
  call.onStatus = (status, extra) => callback?.send({ callId: call.id, status, ...extra });
  call.onStatus('initiated', {});
  const timeoutMs = (request.timeoutSeconds ?? 60) * 1000;
  void dial(ctx, call, trunk, target, timeoutMs).catch((error: unknown) => {
    ctx.logger.warn({ err: error, callId: call.id }, 'outbound call failed');
    ctx.endCall(call, 'gateway', `setup failed: ${(error as Error).message}`, 500);
  });
  return call;
}

function routerOutcome(outcome: OutboundOutcome, cancelledByUs: boolean): AttemptOutcome {
  if (outcome.kind === 'answered') return { status: outcome.response.status };
  if (cancelledByUs) return 'timeout';
  if (outcome.status === 408 && outcome.reason === 'timeout') return 'timeout';
  if (outcome.status === 503 && outcome.reason === 'transport error') return 'transport_error';
  return { status: outcome.status, earlyMedia: outcome.earlyMedia };
}

async function dial(
  ctx: GatewayContext,
  call: Call,
  trunk: TrunkConfig,
  target: StreamTarget,
  ringMs: number,
): Promise<void> {
  const outbound = trunk.outbound;
  if (!outbound) return;
  const leg = await openMediaLeg(ctx, call, target);
  const offer = createOffer({ address: ctx.mediaAddress, port: leg.localPort, codecs: trunk.codecs });
  const identity = outboundIdentity(trunk, call.from, call.to);
  const plan = ctx.router().plan(trunk);
  const deadline = ctx.clock.now() + ringMs;
  let attempt = plan.next();
  let lastOutcome: OutboundOutcome | undefined;
  while (attempt && !call.ended) {
    const gateway = attempt.gateway;
    const host = identity.toHost ?? gateway.host;
    const started = ctx.clock.now();
    const session: OutboundSession = ctx.ua.call({
      requestUri: `sip:${identity.toUser}@${host}:${gateway.port}`,
      destination: {
        transport: gateway.transport === 'tcp' ? 'tcp' : 'udp',
        address: gateway.host,
        port: gateway.port,
      },
      from: `<sip:${identity.fromUser}@${identity.fromHost ?? ctx.mediaAddress}>`,
      to: `<sip:${identity.toUser}@${host}>`,
      sdp: offer,
      sessionTimer: true,
      ...(outbound.auth ? { authorize: ctx.digestAuthorizer(outbound.auth) } : {}),
    });
    call.session = session;
    let pddMs: number | undefined;
    session.onProgress = () => {
      pddMs ??= ctx.clock.now() - started;
      if (call.state === 'initiated') {
        call.state = 'ringing';
        call.onStatus?.('ringing', {});
      }
    };
    let cancelledByUs = false;
    const attemptTimer = ctx.clock.setTimer(
      Math.min(attempt.timeoutMs, Math.max(0, deadline - started)),
      () => {
        cancelledByUs = true;
        session.cancel();
      },
    );
    lastOutcome = await session.outcome;
    attemptTimer.cancel();
    const outcome = routerOutcome(lastOutcome, cancelledByUs);
    const setupMs = lastOutcome.kind === 'answered' ? ctx.clock.now() - started : undefined;
    ctx.health.get(attempt.gatewayId)?.recordAttempt({ ...attemptHealth(outcome), pddMs, setupMs });
    const status = lastOutcome.kind === 'answered' ? lastOutcome.response.status : lastOutcome.status;
    ctx.metrics.callAttemptsTotal.inc({
      trunk: trunk.name,
      gateway: attempt.gatewayId,
      status: String(status),
    });
    call.attempts.push({
      gateway: attempt.gatewayId,
      startedAt: new Date(ctx.clock.wallNow() - (ctx.clock.now() - started)).toISOString(),
      durationMs: Math.round(ctx.clock.now() - started),
      outcome: typeof outcome === 'string' ? outcome : String(outcome.status),
    });
    if (lastOutcome.kind === 'answered') break;
    attempt = ctx.clock.now() < deadline ? plan.next(outcome) : undefined;
  }
  if (lastOutcome?.kind !== 'answered' || call.ended) {
    const status = lastOutcome?.kind === 'failed' ? lastOutcome.status : 480;
    ctx.endCall(call, 'callee', lastOutcome?.kind === 'failed' ? lastOutcome.reason : 'no gateway', status);
    return;
  }
  const session = call.session as OutboundSession;
  session.once('terminated', (cause) =>
    ctx.endCall(call, cause.by === 'remote' ? 'callee' : 'gateway', cause.reason),
  );
  const answer = parseAnswer(lastOutcome.response.body.toString(), trunk.codecs);
  if (!answer.ok) {
    ctx.endCall(call, 'gateway', `bad SDP answer: ${answer.reason}`, 488);
    return;
  }
  call.codec = answer.remote.codec.name;
  await leg.start(negotiatedMedia(answer.remote));
  handleReoffers(ctx, call, session, trunk.codecs, offer);
  call.markAnswered();
  call.onStatus?.('answered', {});
  ctx.metrics.callsTotal.inc({ direction: 'outbound', trunk: trunk.name, outcome: 'answered' });
  await connectBot(ctx, call, target);
}
