/**
 * The media half of a call, shared by both directions: open the RTP leg, connect the bot
 * (before answering, so a dead backend refuses the call instead of answering into silence),
 * bridge them, renegotiate on re-INVITE, and tear everything down exactly once.
 */
import type { StreamTarget } from '../config/index.js';
import type { InboundSession, Session } from '../sip/index.js';
import {
  type AudioCodecName,
  type MediaDescription,
  negotiateAnswer,
  nextVersion,
  sameDescription,
} from '../sip/sdp.js';
import { createDialect, type StreamConnection } from '../stream/index.js';
import { attachBot } from './bridge.js';
import type { Call } from './call.js';
import type { GatewayContext } from './context.js';
import { type BridgeRate, MediaLeg, type NegotiatedMedia } from './media-leg.js';

export function negotiatedMedia(remote: MediaDescription): NegotiatedMedia {
  return {
    remoteAddress: remote.address,
    remotePort: remote.port,
    ...(remote.rtcpPort === undefined ? {} : { remoteRtcpPort: remote.rtcpPort }),
    rtcpMux: remote.rtcpMux,
    codec: {
      payloadType: remote.codec.payloadType,
      name: remote.codec.name,
      clockRate: remote.codec.clockRate,
      channels: remote.codec.channels,
    },
    ...(remote.telephoneEvent ? { telephoneEvent: remote.telephoneEvent } : {}),
    ptimeMs: remote.ptime,
    direction: remote.direction,
  };
}

export async function openMediaLeg(ctx: GatewayContext, call: Call, target: StreamTarget): Promise<MediaLeg> {
  const leg = await MediaLeg.open({
    portAllocator: ctx.portAllocator,
    bindAddress: ctx.mediaBindAddress,
    clock: ctx.clock,
    mediaClock: ctx.mediaClock,
    logger: ctx.logger.child({ callId: call.id }),
    bridgeRate: bridgeRateOf(target),
  });
  call.media = leg;
  return leg;
}

function bridgeRateOf(target: StreamTarget): BridgeRate {
  return target.dialect === 'twilio' ? 8000 : target.sampleRate;
}

/** Connects the bot for `call`; rejects on timeout or refusal (the caller answers 503/480). */
export async function connectBot(
  ctx: GatewayContext,
  call: Call,
  target: StreamTarget,
): Promise<StreamConnection> {
  const url = ctx.resolveTargetUrl(target.url);
  call.streamUrl = target.url;
  const leg = call.media;
  if (!leg) throw new Error('no media leg');
  const { connection, bridge } = attachBot(
    leg,
    {
      url,
      dialect: createDialect(target.dialect, target.sampleRate),
      call: {
        callSid: call.id,
        accountSid: ctx.accountSid,
        from: call.from,
        to: call.to,
        direction: call.direction,
        customParameters: target.customParameters,
      },
      clock: ctx.clock,
      logger: ctx.logger.child({ callId: call.id }),
      connectTimeoutMs: target.connectTimeoutMs,
      ...(target.auth
        ? {
            auth:
              target.auth.type === 'bearer'
                ? { kind: 'bearer' as const, token: target.auth.token }
                : { kind: 'hmac' as const, secret: target.auth.secret },
          }
        : {}),
      reconnect: {
        policy: target.reconnect.maxAttempts > 0 ? 'reconnect' : 'hangup',
        maxRetries: target.reconnect.maxAttempts,
        backoffMs: target.reconnect.backoffMs,
      },
      onClosed: (reason) => ctx.endCall(call, 'gateway', `stream ${reason}`),
    },
    {
      hangup: (reason) => ctx.endCall(call, 'bot', reason),
      transfer: (targetUri) => void call.session?.refer(targetUri).catch(() => undefined),
      problem: (reason) => ctx.logger.warn({ callId: call.id, reason }, 'bot message ignored'),
    },
    target.vad,
  );
  call.bridge = bridge;
  call.stream = connection;
  await connection.connect();
  return connection;
}

/** Re-INVITE / UPDATE offers on an answered call: same port, new codec or direction. */
export function handleReoffers(
  ctx: GatewayContext,
  call: Call,
  session: Session | InboundSession,
  preferences: AudioCodecName[],
  localSdp: string,
): void {
  let previous = localSdp;
  session.offerHandler = (offer) => {
    const leg = call.media;
    if (!leg) return { status: 488 };
    // RFC 3264 §8: a new answer keeps our o= session id and bumps its version; an unchanged
    // one is sent again as it was.
    const result = negotiateAnswer(offer, {
      address: ctx.mediaAddress,
      port: leg.localPort,
      preferences,
      ...nextVersion(previous),
    });
    if (!result.ok) return { status: result.status };
    if (!sameDescription(result.answer, previous)) previous = result.answer;
    call.codec = result.remote.codec.name;
    leg.update(negotiatedMedia(result.remote)).catch((error: unknown) => {
      ctx.logger.warn({ err: error, callId: call.id }, 're-INVITE media update failed');
    });
    return { sdp: previous };
  };
  // SIP INFO DTMF (application/dtmf-relay) from carriers that do not send RFC 4733.
  session.on('info', (request) => {
    const digit = /Signal\s*=\s*([0-9A-D*#])/i.exec(request.body.toString())?.[1];
    if (digit) call.bridge?.onCallerDtmf(digit.toUpperCase());
  });
}
