/**
 * SDP on an established call: the negotiated description as the media leg takes it, and
 * re-INVITE / UPDATE offers answered on the same port with a new codec, direction or SRTP key.
 */
import type { StreamTarget } from '../config/index.js';
import { type BridgeRate, MEDIA_FRAME_MS, type NegotiatedMedia } from '../media/index.js';
import {
  type AudioCodecName,
  createOffer,
  type MediaDescription,
  negotiateAnswer,
  newSdesOffer,
  nextVersion,
  type OfferAnswerer,
  parseAnswerToOurs,
  type SdesCrypto,
  type Session,
  sameDescription,
} from '../sip/index.js';
import type { Logger, MediaEncryption, SrtpSuiteName } from '../util/index.js';
import type { BotStream, CallMediaLeg } from './ports.js';

/** The media leg's view of a negotiation; `localCrypto` is our SDES key when the far end's is in `remote`. */
export function negotiatedMedia(remote: MediaDescription, localCrypto?: SdesCrypto): NegotiatedMedia {
  const remoteCrypto = remote.crypto;
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
    direction: remote.direction,
    ...(remoteCrypto && localCrypto
      ? {
          srtp: {
            suite: remoteCrypto.suite,
            sendKey: localCrypto.key,
            receiveKey: remoteCrypto.key,
            ...(remoteCrypto.lifetime === undefined ? {} : { receiveLifetime: remoteCrypto.lifetime }),
          },
        }
      : {}),
  };
}

/** How a refused offer or unusable answer ends the call: over SRTP, or over codecs. */
export function refusalCause(refusal: {
  encryptionMismatch?: true;
}): 'encryption_mismatch' | 'no_common_codec' {
  return refusal.encryptionMismatch ? 'encryption_mismatch' : 'no_common_codec';
}

/**
 * What our 200 to an inbound INVITE carries: the answer to its offer, with the media it starts;
 * or, for an INVITE without an offer (RFC 3261 §13.2.1, a "delayed offer"), our offer of every
 * codec the trunk takes, with fresh SDES keys where it encrypts, which the ACK answers
 * (§13.2.2.4; see `ReofferContext.startsLeg`).
 */
export function inboundSdp(
  offer: string | undefined,
  local: {
    address: string;
    port: number;
    codecs: AudioCodecName[];
    encryption: MediaEncryption;
    srtpSuites: readonly SrtpSuiteName[] | undefined;
  },
):
  | { ok: true; sdp: string; media: NegotiatedMedia | undefined; codec: AudioCodecName | undefined }
  | { ok: false; cause: ReturnType<typeof refusalCause>; status: number; reason: string } {
  if (offer === undefined) {
    const srtp = local.encryption === 'none' ? undefined : newSdesOffer(local.encryption, local.srtpSuites);
    const sdp = createOffer({ ...local, ...(srtp ? { srtp } : {}) });
    return { ok: true, sdp, media: undefined, codec: undefined };
  }
  const { codecs: preferences, ...rest } = local;
  const negotiation = negotiateAnswer(offer, { ...rest, preferences });
  if (!negotiation.ok)
    return {
      ok: false,
      cause: refusalCause(negotiation),
      status: negotiation.status,
      reason: negotiation.reason,
    };
  const media = negotiatedMedia(negotiation.remote, negotiation.local.crypto);
  return { ok: true, sdp: negotiation.answer, media, codec: negotiation.remote.codec.name };
}

export interface ReofferContext {
  mediaAddress: string;
  preferences: AudioCodecName[];
  /** The trunk's `media.encryption` and `media.srtpSuites`. */
  encryption: MediaEncryption;
  srtpSuites: readonly SrtpSuiteName[] | undefined;
  /** The SDP we last sent (offer or answer). */
  localSdp: string;
  /** `localSdp` is the offer in our 200 to an INVITE without one: the ACK's answer starts the leg. */
  startsLeg?: boolean;
  leg(): CallMediaLeg | undefined;
  onCodec(codec: AudioCodecName): void;
  logger: Logger;
}

/**
 * Answers re-INVITE / UPDATE offers on an answered call: same port, new codec or direction, new
 * SRTP keys from the far end (ours are kept for the same suite, so a refresh changes nothing).
 * A re-INVITE without an offer gets our last SDP as the offer, and the answer in its ACK moves
 * the media the same way (`takeAnswer`; one we cannot use ends the call).
 */
export function reofferAnswerer(context: ReofferContext): OfferAnswerer {
  let previous = context.localSdp;
  let started = context.startsLeg !== true;
  /** The media leg moves to what the far end's SDP now says (RFC 3264 §8), or starts with it. */
  const moveMedia = (
    leg: CallMediaLeg,
    remote: MediaDescription,
    localCrypto: SdesCrypto | undefined,
  ): void => {
    context.onCodec(remote.codec.name);
    const media = negotiatedMedia(remote, localCrypto);
    (started ? leg.update(media) : leg.start(media)).catch((error: unknown) => {
      context.logger.warn({ err: error }, 'media leg update failed');
    });
    started = true;
  };
  const takeAnswer = (answer: string): string | undefined => {
    const leg = context.leg();
    if (!leg) return 'no media leg';
    const result = parseAnswerToOurs(answer, previous, context.preferences, context.encryption);
    if (!result.ok) return result.reason;
    moveMedia(leg, result.remote, result.localCrypto);
    return undefined;
  };
  const answerOffer = (offer: string): ReturnType<OfferAnswerer> => {
    const leg = context.leg();
    if (!leg) return { status: 488 };
    // RFC 3264 §8: a new answer keeps our o= session id and bumps its version; an unchanged
    // one is sent again as it was.
    const result = negotiateAnswer(offer, {
      address: context.mediaAddress,
      port: leg.localPort,
      preferences: context.preferences,
      encryption: context.encryption,
      srtpSuites: context.srtpSuites,
      previousSdp: previous,
      ...nextVersion(previous),
    });
    if (!result.ok) return { status: result.status };
    if (!sameDescription(result.answer, previous)) previous = result.answer;
    moveMedia(leg, result.remote, result.local.crypto);
    return { sdp: previous };
  };
  return Object.assign(answerOffer, { takeAnswer });
}

/** Digits from SIP INFO (application/dtmf-relay), for carriers that do not send RFC 4733. */
export function watchInfoDigits(
  session: Session,
  onInfoDigit: (digit: string, durationMs: number | undefined) => void,
): void {
  session.on('info', (request) => {
    const info = infoDigit(request.body.toString());
    if (info) onInfoDigit(info.digit, info.durationMs);
  });
}

/** RFC 4733 §3.2's event codes 0-15 as digits: some phones send `Signal=10` for `*`. */
const EVENT_CODE_DIGITS = '0123456789*#ABCD';

/**
 * The digit of an application/dtmf-relay body (`Signal=5` and `Duration=160`, in ms, each on a
 * line of its own), the Signal a digit or its event code; anything else (a flash, 16) is none.
 */
export function infoDigit(body: string): { digit: string; durationMs?: number } | undefined {
  const signal = /^[ \t]*Signal[ \t]*=[ \t]*(\S+)[ \t]*$/im.exec(body)?.[1]?.toUpperCase() ?? '';
  const digit = /^[0-9A-D*#]$/.test(signal)
    ? signal
    : /^\d{1,2}$/.test(signal)
      ? EVENT_CODE_DIGITS[Number(signal)]
      : undefined;
  if (digit === undefined) return undefined;
  const durationMs = Number(/^[ \t]*Duration[ \t]*=[ \t]*(\d{1,5})[ \t]*$/im.exec(body)?.[1]);
  return durationMs > 0 ? { digit, durationMs } : { digit };
}

/** The bridge's sample rate for a stream target: Twilio's protocol is 8 kHz µ-law only. */
export function bridgeRateOf(target: StreamTarget): BridgeRate {
  return target.dialect === 'twilio' ? 8000 : target.sampleRate;
}

/** Bot audio waiting to be played to the caller, in frames at the bot's rate. */
export function queuedFrames(bot: BotStream | undefined, target: StreamTarget | undefined): number {
  if (!bot || !target) return 0;
  return bot.stats().queuedSamples / ((bridgeRateOf(target) * MEDIA_FRAME_MS) / 1000);
}
