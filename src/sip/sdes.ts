/**
 * SDES (RFC 4568): SRTP master keys carried in SDP `a=crypto` attributes, what an audio m= line
 * asks for under a trunk's encryption policy, and the RFC 5939 capability attributes through
 * which an offer makes SRTP optional. Key bytes live in SecretBytes and never appear in a
 * reason string.
 */
import { randomBytes } from 'node:crypto';
import type * as sdpTransform from 'sdp-transform';
import {
  type MediaEncryption,
  SecretBytes,
  SRTP_SUITES,
  type SrtpSuiteName,
  srtpMasterBytes,
} from '../util/index.js';

type ParsedMedia = sdpTransform.SessionDescription['media'][number];
type SdpCrypto = NonNullable<ParsedMedia['crypto']>[number];

/** One a=crypto line's SRTP parameters: the key of the side that wrote it. */
export interface SdesCrypto {
  /** RFC 4568 §9.1: the answer names the offer's tag it accepts. */
  tag: number;
  suite: SrtpSuiteName;
  /** Master key || master salt: 30 bytes, 46 for AES_256_CM, 28 and 44 for AES-GCM. */
  key: SecretBytes;
  /** RFC 4568 §6.1: how many packets this key may protect. */
  lifetime?: number;
}

/** What our offer proposes: `required` offers RTP/SAVP, `optional` RTP/AVP with SAVP as an RFC 5939 capability. */
export interface SdesOffer {
  mode: Exclude<MediaEncryption, 'none'>;
  crypto: SdesCrypto[];
}

/** Both keys of an SRTP stream pair: the far end's (it sends with it) and ours. */
export interface SdesKeys {
  remote: SdesCrypto;
  local: SdesCrypto;
}

export type SecurityResult =
  | { ok: true; keys: SdesKeys | undefined }
  | { ok: false; reason: string; encryptionMismatch?: true };

const PLAIN_PROFILES = new Set(['RTP/AVP', 'RTP/AVPF']);
const SECURE_PROFILES = new Set(['RTP/SAVP', 'RTP/SAVPF']);
/**
 * One inline key in padded base64 (RFC 4568 §6.1: 30 bytes are exactly 40 characters; the other
 * suites' lengths take padding); the decoded length is checked against the suite's.
 */
const INLINE_KEY = /^inline:((?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)(?:\|(.*))?$/;
/** RFC 3711 §9.2: no key protects more than 2^48 packets. */
const MAX_LIFETIME_EXPONENT = 48;
/** RFC 5939 §3.4.1: `a=acap:<n> crypto:<tag> <suite> <key-params>`. */
const CAPABILITY_CRYPTO = /^acap:\d+ crypto:(\d{1,9}) (\S+) (\S+)( .*)?$/;

/** A fresh random key for `suite` (RFC 4568 §6.1 wants a cryptographically random master key). */
function newCrypto(tag: number, suite: SrtpSuiteName): SdesCrypto {
  return { tag, suite, key: new SecretBytes(randomBytes(srtpMasterBytes(suite))) };
}

/**
 * The suites our offers name unless a trunk lists its own: RFC 4568's AES-128 ones, which every
 * SDES peer runs. An offer of the others is answered too, but our own offers stay at two lines:
 * four more add some 500 bytes, and an INVITE over 1300 bytes goes over TCP (RFC 3261 §18.1.1),
 * which not every carrier takes (refused or not up in time, it goes over UDP after all, as IP
 * fragments).
 */
const DEFAULT_OFFERED_SUITES = SRTP_SUITES.filter((suite) => suite.startsWith('AES_CM_128_'));

/**
 * Our offer's keys: one a=crypto per suite, in our order of preference (the trunk's
 * `srtpSuites`, else the AES-128 ones), each its own key.
 */
export function newSdesOffer(
  mode: SdesOffer['mode'],
  suites: readonly SrtpSuiteName[] = DEFAULT_OFFERED_SUITES,
): SdesOffer {
  return { mode, crypto: suites.map((suite, index) => newCrypto(index + 1, suite)) };
}

/** The a=crypto entry sdp-transform writes. */
export function sdpCrypto(crypto: SdesCrypto): SdpCrypto {
  return { id: crypto.tag, suite: crypto.suite, config: `inline:${crypto.key.bytes.toString('base64')}` };
}

/**
 * RFC 5939 §3.3-3.5 for an RTP/AVP offer: RTP/SAVP as transport capability 1, each a=crypto as
 * an attribute capability, and one potential configuration per key, in our order of preference.
 */
export function capabilityAttributes(crypto: SdesCrypto[]): Array<{ value: string }> {
  return [
    { value: 'tcap:1 RTP/SAVP' },
    ...crypto.map((entry, index) => {
      const line = sdpCrypto(entry);
      return { value: `acap:${index + 1} crypto:${line.id} ${line.suite} ${line.config}` };
    }),
    ...crypto.map((_, index) => ({ value: `pcfg:${index + 1} t=1 a=${index + 1}` })),
  ];
}

/**
 * Answerer side: whether an offered audio m= line may be answered under `policy`, and with which
 * keys. RTP/SAVP takes the first a=crypto whose suite the trunk takes (`suites`, default every
 * one we run) and whose parameters we can honour (RFC 4568 §7.1.1: the offerer's order), answered
 * with the same tag and our own key: the one for that suite in `ourPreviousSdp` when there is one
 * (a session refresh must not re-key), else a fresh one.
 */
export function answerSecurity(
  media: ParsedMedia,
  policy: MediaEncryption,
  ourPreviousSdp?: ParsedMedia,
  suites: readonly SrtpSuiteName[] = SRTP_SUITES,
): SecurityResult {
  if (PLAIN_PROFILES.has(media.protocol)) {
    if (policy === 'required')
      return {
        ok: false,
        reason: `${media.protocol} offered but the trunk requires SRTP`,
        encryptionMismatch: true,
      };
    return { ok: true, keys: undefined };
  }
  if (!SECURE_PROFILES.has(media.protocol))
    return { ok: false, reason: `unsupported audio profile ${media.protocol}` };
  if (policy === 'none')
    return {
      ok: false,
      reason: `${media.protocol} offered but the trunk has no SRTP`,
      encryptionMismatch: true,
    };
  let firstRefusal: string | undefined;
  for (const line of media.crypto ?? []) {
    const remote = parseCrypto(line);
    if (typeof remote === 'string' || !suites.includes(remote.suite)) {
      firstRefusal ??= typeof remote === 'string' ? remote : 'crypto suite not taken on this trunk';
      continue;
    }
    const kept = ourPreviousSdp
      ? ourCrypto(ourPreviousSdp).find((ours) => ours.suite === remote.suite)
      : undefined;
    const local = kept
      ? { tag: remote.tag, suite: remote.suite, key: kept.key }
      : newCrypto(remote.tag, remote.suite);
    return { ok: true, keys: { remote, local } };
  }
  return {
    ok: false,
    reason: `no usable a=crypto (${firstRefusal ?? 'none offered'})`,
    encryptionMismatch: true,
  };
}

/**
 * Offerer side: what the answer's audio m= line chose. RTP/SAVP must accept one of our tags with
 * its suite; RTP/AVP is a plain answer, acceptable unless we required SRTP.
 */
export function answeredSecurity(media: ParsedMedia, offer: SdesOffer | undefined): SecurityResult {
  if (PLAIN_PROFILES.has(media.protocol)) {
    if (offer?.mode === 'required')
      return { ok: false, reason: 'the answer declined SRTP', encryptionMismatch: true };
    return { ok: true, keys: undefined };
  }
  if (!SECURE_PROFILES.has(media.protocol) || !offer)
    return { ok: false, reason: `answer uses ${media.protocol}, not what we offered` };
  const lines = media.crypto ?? [];
  const remote =
    lines.length === 1 && lines[0] ? parseCrypto(lines[0]) : 'the answer needs exactly one a=crypto';
  if (typeof remote === 'string') return { ok: false, reason: remote, encryptionMismatch: true };
  const local = offer.crypto.find((ours) => ours.tag === remote.tag && ours.suite === remote.suite);
  if (!local)
    return { ok: false, reason: 'the answer’s a=crypto matches none we offered', encryptionMismatch: true };
  return { ok: true, keys: { remote, local } };
}

/** Every key we wrote into an audio m= line, as a=crypto or as an RFC 5939 capability. */
export function ourCrypto(media: ParsedMedia): SdesCrypto[] {
  const capabilities = (media.invalid ?? []).flatMap(({ value }) => {
    const match = CAPABILITY_CRYPTO.exec(value);
    if (!match) return [];
    const [, id = '', suite = '', config = '', sessionConfig] = match;
    return [{ id: Number(id), suite, config, ...(sessionConfig ? { sessionConfig } : {}) }];
  });
  return [...(media.crypto ?? []), ...capabilities].flatMap((line) => {
    const parsed = parseCrypto(line);
    return typeof parsed === 'string' ? [] : [parsed];
  });
}

/**
 * One a=crypto line (RFC 4568 §9.1), or why we cannot honour it: a suite we do not run, a key
 * that is not its suite's length, an MKI (we send and expect none), several keys, or session
 * parameters (KDR, UNENCRYPTED_*, FEC_*, WSH) that would change the transform.
 */
export function parseCrypto(line: SdpCrypto): SdesCrypto | string {
  // RFC 4568 §9.1: tag = 1*9DIGIT (sdp-transform hands over "" for an empty one).
  if (!/^\d{1,9}$/.test(String(line.id))) return 'bad crypto tag';
  const tag = Number(line.id);
  const suite = SRTP_SUITES.find((name) => name === line.suite);
  if (!suite) return 'unsupported crypto suite';
  if (line.sessionConfig !== undefined) return 'crypto session parameters are not supported';
  const inline = INLINE_KEY.exec(line.config);
  const key = inline ? Buffer.from(inline[1] ?? '', 'base64') : undefined;
  if (!inline || key?.length !== srtpMasterBytes(suite))
    return `crypto key is not one inline ${srtpMasterBytes(suite)}-byte key`;
  const extra = inline[2];
  const crypto: SdesCrypto = { tag, suite, key: new SecretBytes(key) };
  if (extra === undefined) return crypto;
  if (extra.includes('|') || extra.includes(':')) return 'crypto MKI is not supported';
  const lifetime = parseLifetime(extra);
  return lifetime === undefined ? 'bad crypto key lifetime' : { ...crypto, lifetime };
}

/** RFC 4568 §6.1: `2^n` or a decimal count of packets. */
function parseLifetime(text: string): number | undefined {
  const power = /^2\^(\d{1,2})$/.exec(text);
  const value = power ? 2 ** Number(power[1]) : /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  return value >= 1 && value <= 2 ** MAX_LIFETIME_EXPONENT ? value : undefined;
}
