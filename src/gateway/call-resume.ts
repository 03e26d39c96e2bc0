/**
 * A claimed snapshot turned into a call this node runs (CallController.resumed): the trunk and
 * bot credentials from this node's config, the RTP position moved on by the time since the
 * dead node's last write, and the resume step itself: the dialog registered here, our media
 * started towards the caller's last address, and a re-INVITE (next CSeq, same dialog, our
 * Contact as the new target, RFC 3261 §14.1) offering our new port in the next o= version
 * (RFC 3264 §8), for an SRTP call with the same SDES key, so the far end's crypto context goes
 * on. Its 2xx answer may move the caller's media or re-key it; a refusal ends the call.
 */
import type { PatchbayConfig } from '../config/index.js';
import {
  glareRetryDelayMs,
  negotiateAnswer,
  nextVersion,
  parseAnswerToOurs,
  type SipUserAgent,
} from '../sip/index.js';
import type { Clock } from '../util/index.js';
import { configuredTarget } from './bot-connector.js';
import { negotiatedMedia } from './call-media.js';
import type { TakeoverRecord } from './call-progress.js';
import {
  type CallSnapshot,
  callerIdentityOf,
  continuedPosition,
  type SnapshotPosition,
} from './call-snapshot.js';
import type { ResumedCall } from './ports.js';

export interface ResumeContext {
  ua: SipUserAgent;
  clock: Clock;
  config: PatchbayConfig;
  mediaAddress: string;
  frameMs: number;
  nodeId: string;
}

/** How long the takeover's re-INVITE is retried after 491s before the call is given up (64*T1). */
const GLARE_GIVE_UP_MS = 32_000;

/** A ResumedCall for the snapshot, or why this node cannot run it. */
export function resumedCall(
  context: ResumeContext,
  snapshot: CallSnapshot,
  position: SnapshotPosition,
): { ok: true; call: ResumedCall } | { ok: false; reason: string } {
  const trunk = context.config.trunks.get(snapshot.call.trunk);
  if (!trunk) return { ok: false, reason: `trunk ${snapshot.call.trunk} is not configured here` };
  // Credentials and URL tokens never go to Redis: this node's own, for the same bot.
  const { urlHidden, ...shownTarget } = snapshot.target;
  const target = configuredTarget(context.config, shownTarget, urlHidden === true, snapshot.call.route);
  if (!target) return { ok: false, reason: 'the bot URL is not configured here' };
  const { encryption, srtpSuites } = trunk.media;
  const answerOptions = { address: context.mediaAddress, preferences: trunk.codecs, encryption, srtpSuites };
  const probe = negotiateAnswer(snapshot.sdp.remote, { ...answerOptions, port: 9 });
  if (!probe.ok) return { ok: false, reason: `snapshot SDP: ${probe.reason}` };
  const takeover: TakeoverRecord = { node: context.nodeId, fromNode: snapshot.node, gapMs: 0 };
  const { call } = snapshot;
  return {
    ok: true,
    call: {
      ...call,
      route: call.route,
      codec: call.codec,
      callerIdentity: callerIdentityOf(snapshot),
      trunk,
      target,
      position: continuedPosition(
        position,
        context.clock.wallNow(),
        probe.remote.codec.clockRate,
        context.frameMs,
      ),
      takeover,
      resume: (leg, answerer) => {
        const negotiation = negotiateAnswer(snapshot.sdp.remote, {
          ...answerOptions,
          port: leg.localPort,
          previousSdp: snapshot.sdp.local,
          ...nextVersion(snapshot.sdp.local),
        });
        if (!negotiation.ok) throw new Error(`snapshot SDP: ${negotiation.reason}`);
        const offer = negotiation.answer;
        const dialog = { ...snapshot.dialog, remoteSeq: snapshot.dialog.remoteSeq };
        const ownsCallId = call.direction === 'outbound';
        const session = context.ua.resume(dialog, snapshot.sdp, answerer(offer), ownsCallId);
        session.open();
        // A held BYE may end the call as soon as the dialog is registered: nothing more to do then.
        const ended = (): boolean => session.state === 'terminated';
        const done = (async () => {
          if (ended()) return false;
          // Our SDES key as before (previousSdp), so the far end's SRTP context goes on with it.
          await leg.start(negotiatedMedia(negotiation.remote, negotiation.local.crypto));
          if (ended()) return false;
          let response = await session.reinvite(offer);
          // RFC 3261 §14.1: a 491 (the carrier's own re-INVITE crossed ours, e.g. one it sent
          // while the node was dead and a proxy is still failing over) is tried again after a
          // random wait: 2.1-4 s by the side that made the Call-ID (we did, outbound), else 0-2 s.
          const giveUpAt = context.clock.now() + GLARE_GIVE_UP_MS;
          while (response.status === 491 && !ended() && context.clock.now() < giveUpAt) {
            const waitMs = glareRetryDelayMs(ownsCallId);
            await new Promise<void>((resolve) => context.clock.setTimer(waitMs, resolve));
            if (!ended()) response = await session.reinvite(offer);
          }
          takeover.gapMs = Math.max(0, Math.round(context.clock.wallNow() - position.atWall));
          if (response.status < 200 || response.status >= 300) return false;
          const answer = parseAnswerToOurs(response.body.toString(), offer, trunk.codecs, encryption);
          if (answer.ok) await leg.update(negotiatedMedia(answer.remote, answer.localCrypto));
          return true;
        })();
        return { session, done };
      },
    },
  };
}
