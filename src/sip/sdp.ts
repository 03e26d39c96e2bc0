/**
 * SDP offer/answer for one audio stream (RFC 3264 over RFC 4566 SDP), via sdp-transform.
 * Pure functions: the caller owns sockets, ports and the o= session id/version across a dialog.
 */
import { randomInt } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import * as sdpTransform from 'sdp-transform';

import type { AudioCodecName, MediaDirection, MediaEncryption, SrtpSuiteName } from '../util/index.js';
import {
  answeredSecurity,
  answerSecurity,
  capabilityAttributes,
  ourCrypto,
  type SdesCrypto,
  type SdesKeys,
  type SdesOffer,
  type SecurityResult,
  sdpCrypto,
} from './sdes.js';
import {
  CODECS,
  channelsField,
  DTMF_EVENTS,
  matches,
  type OpusParams,
  opusFmtp,
  opusParams,
  parseFmtp,
  payloadList,
  pickTelephoneEvent,
  positive,
  rtpmapOf,
  TELEPHONE_EVENT_PT,
} from './sdp-formats.js';

export type { AudioCodecName, MediaDirection };

export interface MediaDescription {
  address: string;
  port: number;
  codec: {
    name: AudioCodecName;
    payloadType: number;
    clockRate: number;
    channels: number;
    /** The a=fmtp parameters by lower-case name: an open set per format (RFC 4566 §6). */
    fmtp: ReadonlyMap<string, string>;
  };
  telephoneEvent?: { payloadType: number; clockRate: number };
  ptime: number;
  /** This side's direction attribute, as it wrote it (after the c=0.0.0.0 hold rule). */
  direction: MediaDirection;
  /** True only when both sides agreed on RTP/RTCP multiplexing (RFC 5761 §5.1.1). */
  rtcpMux: boolean;
  rtcpPort?: number;
  opus?: OpusParams;
  /** This side's SRTP key (RFC 4568); absent for plain RTP. */
  crypto?: SdesCrypto;
}

export interface OfferOptions {
  address: string;
  port: number;
  /** Preference order; the answerer should favour the first (RFC 3264 §5.1). */
  codecs: AudioCodecName[];
  ptime?: number;
  direction?: MediaDirection;
  rtcpMux?: boolean;
  sessionId?: string | number;
  sessionVersion?: number;
  opus?: { useInbandFec: boolean; maxAverageBitrate?: number };
  /** SRTP keys to offer (sdes.ts `newSdesOffer`); absent: plain RTP/AVP. */
  srtp?: SdesOffer;
}

export interface AnswerOptions {
  address: string;
  port: number;
  preferences: AudioCodecName[];
  ptime?: number;
  /** Accept an offered a=rtcp-mux (RFC 5761). Default true. */
  rtcpMux?: boolean;
  sessionId?: string | number;
  sessionVersion?: number;
  /** The trunk's SRTP policy; default 'none' (plain RTP only). */
  encryption?: MediaEncryption;
  /** The SDES suites the trunk takes (its `media.srtpSuites`); default every one we run. */
  srtpSuites?: readonly SrtpSuiteName[] | undefined;
  /** Our previous SDP on this call: its SRTP key for the chosen suite is kept, not replaced. */
  previousSdp?: string;
}

/** `encryptionMismatch`: refused over SRTP (profile or a=crypto), not over codecs. */
export type AnswerResult =
  | { ok: true; answer: string; remote: MediaDescription; local: MediaDescription }
  | { ok: false; status: 488 | 400; reason: string; encryptionMismatch?: true };

/** `localCrypto` is our offered key the answer accepted, for what we send. */
export type ParseAnswerResult =
  | { ok: true; remote: MediaDescription; localCrypto?: SdesCrypto }
  | { ok: false; reason: string; encryptionMismatch?: true };

const DEFAULT_PTIME = 20;
const MAX_SDP_LENGTH = 32 * 1024;

type ParsedSdp = sdpTransform.SessionDescription;
type ParsedMedia = ParsedSdp['media'][number];

class MalformedSdp extends Error {}
/** Well-formed SDP asking for what the media engine does not do: 488 rather than 400. */
class UnacceptableSdp extends Error {}

const isPort = (port: unknown): boolean =>
  Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65535;

/** Our offer for one audio stream (RFC 3264 §5). */
export function createOffer(options: OfferOptions): string {
  const codecs = [...new Set(options.codecs)];
  if (codecs.length === 0) throw new RangeError('createOffer needs at least one codec');
  assertPort(options.port);
  const rtcpMux = options.rtcpMux ?? false;
  const rtp: ParsedMedia['rtp'] = [];
  const fmtp: ParsedMedia['fmtp'] = [];
  for (const name of codecs) {
    const info = CODECS[name];
    rtp.push({
      payload: info.payloadType,
      codec: name,
      rate: info.clockRate,
      ...channelsField(info.channels),
    });
    if (name === 'opus') fmtp.push({ payload: info.payloadType, config: opusFmtp(options.opus) });
  }
  // RFC 4733 §2.1: the event clock rate follows the audio clock, so opus gets its own 48 kHz entry.
  const rates = codecs.includes('opus') ? ([8000, 48000] as const) : ([8000] as const);
  for (const rate of rates) {
    const payload = TELEPHONE_EVENT_PT[rate];
    rtp.push({ payload, codec: 'telephone-event', rate });
    fmtp.push({ payload, config: DTMF_EVENTS });
  }
  const srtp = options.srtp;
  return writeSdp(options, {
    type: 'audio',
    port: options.port,
    protocol: srtp?.mode === 'required' ? 'RTP/SAVP' : 'RTP/AVP',
    payloads: rtp.map((entry) => entry.payload).join(' '),
    rtp,
    fmtp,
    ptime: options.ptime ?? DEFAULT_PTIME,
    direction: options.direction ?? 'sendrecv',
    // RFC 5761 §5.1.3: keep a separate RTCP port ready in case the answer declines mux.
    rtcp: { port: options.port + 1 },
    ...(rtcpMux ? { rtcpMux: 'rtcp-mux' } : {}),
    ...(srtp?.mode === 'required' ? { crypto: srtp.crypto.map(sdpCrypto) } : {}),
    ...(srtp?.mode === 'optional' ? { invalid: capabilityAttributes(srtp.crypto) } : {}),
  });
}

/** The same offer with the same o= session id and the version bumped (RFC 3264 §8), e.g. for hold. */
export function createReoffer(previousSdp: string, options: OfferOptions): string {
  return createOffer({ ...options, ...nextVersion(previousSdp) });
}

/** Session id and version+1 from our previous SDP, or undefined if it does not parse. */
export function nextVersion(previousSdp: string): { sessionId: string; sessionVersion: number } | undefined {
  try {
    const origin = parseSdp(previousSdp).origin;
    return { sessionId: String(origin.sessionId), sessionVersion: origin.sessionVersion + 1 };
  } catch {
    return undefined;
  }
}

/**
 * Whether two descriptions differ only in their o= line: then RFC 3264 §8 wants the earlier one
 * sent again, version unchanged (a session refresh repeats the offer and must not look like a
 * media change).
 */
export function sameDescription(a: string, b: string): boolean {
  const withoutOrigin = (sdp: string) => sdp.split(/\r?\n/).filter((line) => !line.startsWith('o='));
  const [left, right] = [withoutOrigin(a), withoutOrigin(b)];
  return left.length === right.length && left.every((line, i) => line === right[i]);
}

/** UAS side: answer an offer (RFC 3264 §6). Never throws. */
export function negotiateAnswer(offerSdp: string, local: AnswerOptions): AnswerResult {
  let offer: ParsedSdp;
  try {
    offer = parseSdp(offerSdp);
  } catch (error) {
    return { ok: false, status: 400, reason: `malformed SDP: ${(error as Error).message}` };
  }
  let chosen: { index: number; remote: MediaDescription; keys: SdesKeys | undefined } | undefined;
  let refusal: Extract<SecurityResult, { ok: false }> = { ok: false, reason: 'no audio stream' };
  try {
    const previous = local.previousSdp === undefined ? undefined : audioOf(local.previousSdp);
    for (const [index, media] of offer.media.entries()) {
      if (media.type !== 'audio' || media.port === 0) continue;
      const security = answerSecurity(media, local.encryption ?? 'none', previous, local.srtpSuites);
      if (!security.ok) {
        refusal = security;
        continue;
      }
      const remote = describeMedia(offer, media, local.preferences);
      if (remote) {
        chosen = { index, remote, keys: security.keys };
        break;
      }
      refusal = { ok: false, reason: 'no common codec' };
    }
  } catch (error) {
    if (error instanceof UnacceptableSdp) return { ok: false, status: 488, reason: error.message };
    return { ok: false, status: 400, reason: `malformed SDP: ${(error as Error).message}` };
  }
  if (!chosen) return { ...refusal, status: 488 };

  const { remote, keys } = chosen;
  if (keys) remote.crypto = keys.remote;
  const offered = offer.media[chosen.index] as ParsedMedia;
  const rtcpMux = remote.rtcpMux && (local.rtcpMux ?? true);
  remote.rtcpMux = rtcpMux;
  const opus = remote.codec.name === 'opus';
  const localMedia: MediaDescription = {
    address: local.address,
    port: local.port,
    codec: { ...remote.codec, fmtp: opus ? parseFmtp(opusFmtp(undefined)) : new Map() },
    ...(remote.telephoneEvent ? { telephoneEvent: { ...remote.telephoneEvent } } : {}),
    ptime: local.ptime ?? DEFAULT_PTIME,
    direction: ANSWER_DIRECTION[remote.direction],
    rtcpMux,
    ...(rtcpMux ? {} : { rtcpPort: local.port + 1 }),
    ...(opus ? { opus: { useInbandFec: true, stereo: false } } : {}),
    ...(keys ? { crypto: keys.local } : {}),
  };
  const media = offer.media.map((m, index): ParsedMedia => {
    if (index === chosen.index) return answerAudio(localMedia, offered.protocol, offered);
    // RFC 3264 §6: every offered stream gets an m= line, declined ones with port 0.
    return { type: m.type, port: 0, protocol: m.protocol, payloads: m.payloads ?? '', rtp: [], fmtp: [] };
  });
  return { ok: true, answer: writeSdp(local, ...media), remote, local: localMedia };
}

/** UAC side: read the answer to our offer (`srtp`: the keys we offered). Never throws. */
export function parseAnswer(
  answerSdp: string,
  offeredCodecs: AudioCodecName[],
  srtp?: SdesOffer,
): ParseAnswerResult {
  try {
    const answer = parseSdp(answerSdp);
    const media = answer.media.find((m) => m.type === 'audio' && m.port !== 0);
    if (!media) return { ok: false, reason: 'audio stream rejected' };
    const security = answeredSecurity(media, srtp);
    if (!security.ok) return security;
    // RFC 3264 §6.1: the answer lists its formats in its own preference order; use the first we offered.
    const order = payloadList(media).flatMap((pt) => {
      const codec = rtpmapOf(media, pt);
      const name = offeredCodecs.find((n) => matches(n, codec));
      return name ? [name] : [];
    });
    const remote = describeMedia(answer, media, order);
    if (!remote) return { ok: false, reason: 'answer has none of the offered codecs' };
    if (!security.keys) return { ok: true, remote };
    remote.crypto = security.keys.remote;
    return { ok: true, remote, localCrypto: security.keys.local };
  } catch (error) {
    return { ok: false, reason: `malformed SDP: ${(error as Error).message}` };
  }
}

/**
 * The answer to an SDP of ours offered again (in the 2xx to a re-INVITE without an offer, RFC
 * 3264 §8): parseAnswer, with the keys written in `ourSdp` as the ones offered, SRTP required
 * or optional as the trunk's `encryption` says.
 */
export function parseAnswerToOurs(
  answerSdp: string,
  ourSdp: string,
  offeredCodecs: AudioCodecName[],
  encryption: MediaEncryption,
): ParseAnswerResult {
  const ours = audioOf(ourSdp);
  const crypto = ours ? ourCrypto(ours) : [];
  const mode = encryption === 'required' ? 'required' : 'optional';
  return parseAnswer(answerSdp, offeredCodecs, crypto.length > 0 ? { mode, crypto } : undefined);
}

/**
 * The peer's offer as we answered it (an offer in an UPDATE of the early dialog, RFC 3311 §5.2,
 * once the call is answered): negotiateAnswer again with `local` as for that answer and our
 * answer as `previousSdp`, so the same codec, the same a=crypto line and our answer's key.
 */
export function offerAsAnswered(offerSdp: string, local: AnswerOptions): ParseAnswerResult {
  const again = negotiateAnswer(offerSdp, local);
  if (!again.ok)
    return {
      ok: false,
      reason: again.reason,
      ...(again.encryptionMismatch ? { encryptionMismatch: true } : {}),
    };
  return {
    ok: true,
    remote: again.remote,
    ...(again.local.crypto ? { localCrypto: again.local.crypto } : {}),
  };
}

/** RFC 3264 §6.1 direction table. */
const ANSWER_DIRECTION: Record<MediaDirection, MediaDirection> = {
  sendrecv: 'sendrecv',
  sendonly: 'recvonly',
  recvonly: 'sendonly',
  inactive: 'inactive',
};

function parseSdp(text: string): ParsedSdp {
  if (typeof text !== 'string' || text.length === 0) throw new MalformedSdp('empty body');
  if (text.length > MAX_SDP_LENGTH) throw new MalformedSdp('body too large');
  const lines = text.split(/\r?\n/).filter((line) => line !== '');
  if (lines[0] !== 'v=0') throw new MalformedSdp('missing v=0');
  const bad = lines.find((line) => !/^[a-z]=/.test(line));
  if (bad !== undefined) throw new MalformedSdp(`bad line ${JSON.stringify(bad.slice(0, 40))}`);
  const parsed = sdpTransform.parse(text);
  if (!parsed.origin || typeof parsed.origin.sessionVersion !== 'number')
    throw new MalformedSdp('bad o= line');
  parsed.media ??= [];
  for (const media of parsed.media) {
    if (typeof media.port !== 'number' || !media.protocol) throw new MalformedSdp('bad m= line');
  }
  return parsed;
}

/** The first audio m= block of an SDP we wrote, or undefined if it does not parse. */
function audioOf(sdp: string): ParsedMedia | undefined {
  try {
    return parseSdp(sdp).media.find((m) => m.type === 'audio');
  } catch {
    return undefined;
  }
}

/** The remote stream as described by one m= block, using the first codec of `preferences` present. */
function describeMedia(
  sdp: ParsedSdp,
  media: ParsedMedia,
  preferences: AudioCodecName[],
): MediaDescription | undefined {
  const payloads = payloadList(media);
  if (payloads.some((pt) => !Number.isInteger(pt) || pt < 0 || pt > 127)) {
    throw new MalformedSdp('bad payload type');
  }
  let codec: MediaDescription['codec'] | undefined;
  for (const name of preferences) {
    const pt = payloads.find((p) => matches(name, rtpmapOf(media, p)));
    if (pt === undefined) continue;
    const info = CODECS[name];
    const fmtp = media.fmtp.find((f) => f.payload === pt);
    codec = {
      name,
      payloadType: pt,
      clockRate: info.clockRate,
      channels: info.channels,
      fmtp: parseFmtp(fmtp?.config ?? ''),
    };
    break;
  }
  if (!codec) return undefined;

  const connection = media.connection?.ip ?? sdp.connection?.ip;
  if (!connection) throw new MalformedSdp('no c= line for audio');
  const address = connection.split('/')[0] ?? connection;
  // RTP goes to an IP literal: a name would be looked up for every packet (RFC 4566 §5.7 allows one).
  if (isIPv6(address)) throw new UnacceptableSdp('IPv6 media is not supported');
  if (!isIPv4(address))
    throw new MalformedSdp(`c= address ${JSON.stringify(address.slice(0, 40))} is not an IP address`);
  if (!isPort(media.port)) throw new MalformedSdp(`bad m= port ${media.port}`);
  if (media.rtcp !== undefined && !isPort(media.rtcp.port))
    throw new MalformedSdp(`bad a=rtcp port ${media.rtcp.port}`);
  const declared = (media.direction ?? sdp.direction ?? 'sendrecv') as MediaDirection;
  const telephoneEvent = pickTelephoneEvent(media, payloads, codec.clockRate);
  return {
    address,
    port: media.port,
    codec,
    ...(telephoneEvent ? { telephoneEvent } : {}),
    ptime: positive(Number(media.ptime)) ?? DEFAULT_PTIME,
    direction: address === '0.0.0.0' ? HOLD_DIRECTION[declared] : declared,
    rtcpMux: media.rtcpMux === 'rtcp-mux',
    ...(positive(media.rtcp?.port) ? { rtcpPort: media.rtcp?.port as number } : {}),
    ...(codec.name === 'opus' ? { opus: opusParams(codec.fmtp) } : {}),
  };
}

/** RFC 3264 §8.4: c=0.0.0.0 (RFC 2543 hold) means the sender does not want to receive. */
const HOLD_DIRECTION: Record<MediaDirection, MediaDirection> = {
  sendrecv: 'sendonly',
  sendonly: 'sendonly',
  recvonly: 'inactive',
  inactive: 'inactive',
};

function answerAudio(local: MediaDescription, protocol: string, offered: ParsedMedia): ParsedMedia {
  const { codec, telephoneEvent } = local;
  const rtp: ParsedMedia['rtp'] = [
    {
      payload: codec.payloadType,
      codec: codec.name,
      rate: codec.clockRate,
      ...channelsField(codec.channels),
    },
  ];
  const fmtp: ParsedMedia['fmtp'] = [];
  const codecFmtp = [...codec.fmtp].map(([key, value]) => `${key}=${value}`);
  if (codecFmtp.length > 0) fmtp.push({ payload: codec.payloadType, config: codecFmtp.join(';') });
  if (telephoneEvent) {
    const pt = telephoneEvent.payloadType;
    rtp.push({ payload: pt, codec: 'telephone-event', rate: telephoneEvent.clockRate });
    // Echo the offered event range; without one RFC 4733 §2.4.1 implies 0-15.
    const events = offered.fmtp.find((f) => f.payload === pt)?.config;
    if (events) fmtp.push({ payload: pt, config: events });
  }
  return {
    type: 'audio',
    port: local.port,
    protocol,
    payloads: rtp.map((entry) => entry.payload).join(' '),
    rtp,
    fmtp,
    ptime: local.ptime,
    direction: local.direction,
    ...(local.rtcpPort === undefined ? {} : { rtcp: { port: local.rtcpPort } }),
    ...(local.rtcpMux ? { rtcpMux: 'rtcp-mux' } : {}),
    ...(local.crypto ? { crypto: [sdpCrypto(local.crypto)] } : {}),
  };
}

function writeSdp(
  session: { address: string; sessionId?: string | number; sessionVersion?: number },
  ...media: ParsedMedia[]
): string {
  const ipVer = session.address.includes(':') ? 6 : 4;
  return sdpTransform.write({
    version: 0,
    origin: {
      username: 'patchbay',
      // RFC 4566 §5.2: sess-id is a numeric string; random when the caller has none yet.
      sessionId: String(session.sessionId ?? randomInt(1, 2 ** 47)),
      sessionVersion: session.sessionVersion ?? 1,
      netType: 'IN',
      ipVer,
      address: session.address,
    },
    name: 'patchbay',
    connection: { version: ipVer, ip: session.address },
    timing: { start: 0, stop: 0 },
    media,
  });
}

function assertPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65534) throw new RangeError(`bad RTP port ${port}`);
}
