/**
 * SDP on an established call: the negotiated description as the media leg takes it, and
 * re-INVITE / UPDATE offers answered on the same port with a new codec or direction.
 */
import type { NegotiatedMedia } from '../media/index.js';
import type { OfferAnswerer, Session } from '../sip/index.js';
import {
  type AudioCodecName,
  type MediaDescription,
  negotiateAnswer,
  nextVersion,
  sameDescription,
} from '../sip/sdp.js';
import type { Logger } from '../util/index.js';
import type { CallMediaLeg } from './ports.js';

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

export interface ReofferContext {
  mediaAddress: string;
  preferences: AudioCodecName[];
  /** The SDP we last sent (offer or answer). */
  localSdp: string;
  leg(): CallMediaLeg | undefined;
  onCodec(codec: AudioCodecName): void;
  logger: Logger;
}

/** Answers re-INVITE / UPDATE offers on an answered call: same port, new codec or direction. */
export function reofferAnswerer(context: ReofferContext): OfferAnswerer {
  let previous = context.localSdp;
  return (offer) => {
    const leg = context.leg();
    if (!leg) return { status: 488 };
    // RFC 3264 §8: a new answer keeps our o= session id and bumps its version; an unchanged
    // one is sent again as it was.
    const result = negotiateAnswer(offer, {
      address: context.mediaAddress,
      port: leg.localPort,
      preferences: context.preferences,
      ...nextVersion(previous),
    });
    if (!result.ok) return { status: result.status };
    if (!sameDescription(result.answer, previous)) previous = result.answer;
    context.onCodec(result.remote.codec.name);
    leg.update(negotiatedMedia(result.remote)).catch((error: unknown) => {
      context.logger.warn({ err: error }, 're-INVITE media update failed');
    });
    return { sdp: previous };
  };
}

/** Digits from SIP INFO (application/dtmf-relay), for carriers that do not send RFC 4733. */
export function watchInfoDigits(session: Session, onInfoDigit: (digit: string) => void): void {
  session.on('info', (request) => {
    const digit = /Signal\s*=\s*([0-9A-D*#])/i.exec(request.body.toString())?.[1];
    if (digit) onInfoDigit(digit.toUpperCase());
  });
}
