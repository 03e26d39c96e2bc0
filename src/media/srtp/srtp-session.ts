/**
 * SRTP and SRTCP for one RTP session (RFC 3711): our stream protected with our master key, the
 * far end's streams checked and decrypted with theirs. Keys come from SDES (RFC 4568), one per
 * direction, so one master key covers every SSRC of its direction (the SSRC is in the IV).
 *
 * Receiving follows §3.3 in its order: estimate the index (Appendix A), refuse replays (§3.3.2)
 * before spending an HMAC, check the tag, decrypt in place, and only then move the rollover
 * counter and the replay window, so a forged packet changes nothing.
 */
import type { SecretBytes, SrtpSuiteName } from '../../util/index.js';
import {
  type PacketCrypto,
  RTCP_CLEAR_BYTES,
  SEQ_MODULUS,
  SRTCP_E_FLAG,
  SRTCP_INDEX_BYTES,
} from './packet-crypto.js';
import { ReplayWindow } from './replay.js';
import { streamCrypto } from './stream-crypto.js';

/** What a protected packet turned out to be when it is not delivered. */
export type SrtpDropReason = 'auth' | 'replay' | 'expired' | 'malformed';

export interface SrtpKeying {
  suite: SrtpSuiteName;
  /** Our master key || master salt, from our a=crypto. */
  sendKey: SecretBytes;
  /** The far end's master key || master salt, from its a=crypto. */
  receiveKey: SecretBytes;
  /**
   * The far end's key lifetime in packets (RFC 4568 §6.1), counted for SRTP and SRTCP each:
   * packets beyond it are dropped until a re-INVITE brings a new key.
   */
  receiveLifetime?: number;
}

/**
 * Where an SRTP stream pair stands, so that another node holding the same keys can carry it on
 * (call takeover): the far end then sees one stream, and its packets keep authenticating here.
 */
export interface SrtpPosition {
  /** RFC 3711 §3.3.1: our stream's rollover counter at the next sequence number we send. */
  rolloverCount: number;
  /** §3.4: the SRTCP index of the next report we send. */
  srtcpIndex: number;
  /**
   * The far end's audio source as last authenticated: its ROC and highest sequence number (s_l),
   * and the highest SRTCP index authenticated from that SSRC, once one was.
   */
  received?: { ssrc: number; rolloverCount: number; highestSeq: number; srtcpIndex?: number };
}

/** RFC 3711 §9.2: a master key protects at most 2^48 SRTP and 2^31 SRTCP packets. */
const MAX_RTP_PACKETS = 2 ** 48;
const MAX_RTCP_PACKETS = 2 ** 31;
const RTP_HEADER_BYTES = 12;
const HALF_SEQ = 0x8000;
/** Far-end SSRCs whose rollover state is kept (a source change keeps a few old ones in reach). */
const MAX_SOURCES = 4;

interface KeyCrypto {
  key: SecretBytes;
  rtp: PacketCrypto;
  rtcp: PacketCrypto;
}

/** Appendix A state of one far-end SSRC. */
interface SourceState {
  roc: number;
  highestSeq: number;
  window: ReplayWindow;
}

function keyCrypto(key: SecretBytes, suite: SrtpSuiteName): KeyCrypto {
  return {
    key,
    rtp: streamCrypto(key.bytes, suite, 'rtp'),
    rtcp: streamCrypto(key.bytes, suite, 'rtcp'),
  };
}

/** §5.1 of RFC 3550: fixed header, CSRCs and the extension; undefined if the packet is shorter. */
function rtpHeaderLength(packet: Uint8Array, available: number): number | undefined {
  if (available < RTP_HEADER_BYTES) return undefined;
  const first = packet[0] as number;
  let length = RTP_HEADER_BYTES + 4 * (first & 0x0f);
  if (first & 0x10) {
    if (available < length + 4) return undefined;
    length += 4 + 4 * (((packet[length + 2] as number) << 8) | (packet[length + 3] as number));
  }
  return length <= available ? length : undefined;
}

/** Keeps a map to `limit` entries by dropping the oldest inserted. */
function remember<V>(map: Map<number, V>, key: number, value: V, limit: number): void {
  if (map.size >= limit && !map.has(key)) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

export class SrtpSession {
  #suite: SrtpSuiteName;
  #send: KeyCrypto;
  #receive: KeyCrypto;
  #rtpPacketsLeft = MAX_RTP_PACKETS;
  #rtcpPacketsLeft = MAX_RTCP_PACKETS;
  // Our stream: the rollover counter follows our sequence numbers (§3.3.1).
  #sendRoc = 0;
  #lastSentSeq: number | undefined;
  /** §3.4: 31 bits, from 0, one per SRTCP packet sent. */
  #srtcpIndex = 0;
  readonly #sources = new Map<number, SourceState>();
  readonly #rtcpWindows = new Map<number, ReplayWindow>();

  /**
   * `from` carries on a stream pair another instance protected with these keys: our next packet
   * uses its rollover counter and the SRTCP index goes on from its own, and the far end's source
   * is estimated from its ROC and s_l (Appendix A), so a stream whose sequence numbers wrapped
   * before still authenticates. Its replay windows, SRTP's and SRTCP's, start at the highest
   * index the position names, nothing up to it taken again (§3.3.2).
   */
  constructor(keying: SrtpKeying, from?: SrtpPosition) {
    this.#suite = keying.suite;
    this.#send = keyCrypto(keying.sendKey, keying.suite);
    this.#receive = keyCrypto(keying.receiveKey, keying.suite);
    this.#setLifetime(keying.receiveLifetime);
    if (!from) return;
    this.#sendRoc = from.rolloverCount >>> 0;
    this.#srtcpIndex = from.srtcpIndex % MAX_RTCP_PACKETS;
    const received = from.received;
    if (received) {
      this.#sources.set(received.ssrc, {
        roc: received.rolloverCount,
        highestSeq: received.highestSeq,
        window: ReplayWindow.takenThrough(received.rolloverCount * SEQ_MODULUS + received.highestSeq),
      });
      if (received.srtcpIndex !== undefined)
        this.#rtcpWindows.set(received.ssrc, ReplayWindow.takenThrough(received.srtcpIndex));
    }
  }

  /**
   * Where the pair stands when our next packet carries `nextSeq`; `audioSsrc` is the far end's
   * audio source, whose receive state goes with it when this session has authenticated it.
   */
  position(nextSeq: number, audioSsrc: number | undefined): SrtpPosition {
    const source = audioSsrc === undefined ? undefined : this.#sources.get(audioSsrc);
    const rtcpWindow = audioSsrc === undefined ? undefined : this.#rtcpWindows.get(audioSsrc);
    return {
      rolloverCount: this.#sendRocFor(nextSeq),
      srtcpIndex: this.#srtcpIndex,
      ...(source && audioSsrc !== undefined
        ? {
            received: {
              ssrc: audioSsrc,
              rolloverCount: source.roc,
              highestSeq: source.highestSeq,
              ...(rtcpWindow ? { srtcpIndex: rtcpWindow.highest } : {}),
            },
          }
        : {}),
    };
  }

  /** §3.3.1: the rollover counter our packet `seq` goes with: one more once our sequence wraps. */
  #sendRocFor(seq: number): number {
    const last = this.#lastSentSeq;
    return last !== undefined && seq < last && last - seq > HALF_SEQ
      ? (this.#sendRoc + 1) >>> 0
      : this.#sendRoc;
  }

  get suite(): SrtpSuiteName {
    return this.#suite;
  }

  /**
   * New keys from a re-INVITE. A key that did not change keeps its crypto; the rollover
   * counters, SRTCP index and replay windows carry on, since the SSRCs and sequence numbers do.
   */
  rekey(keying: SrtpKeying): void {
    const suiteChanged = keying.suite !== this.#suite;
    this.#suite = keying.suite;
    if (suiteChanged || !keying.sendKey.equals(this.#send.key))
      this.#send = keyCrypto(keying.sendKey, keying.suite);
    if (suiteChanged || !keying.receiveKey.equals(this.#receive.key)) {
      this.#receive = keyCrypto(keying.receiveKey, keying.suite);
      this.#setLifetime(keying.receiveLifetime);
    }
  }

  /** §3.3: a serialised RTP packet in, the SRTP packet (payload encrypted, tag appended) out. */
  protectRtp(packet: Uint8Array): Buffer {
    const headerLength = rtpHeaderLength(packet, packet.length);
    if (headerLength === undefined) throw new RangeError('not an RTP packet');
    const view = Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
    const seq = view.readUInt16BE(2);
    this.#sendRoc = this.#sendRocFor(seq);
    this.#lastSentSeq = seq;
    const crypto = this.#send.rtp;
    const out = Buffer.allocUnsafe(packet.length + crypto.tagBytes);
    out.set(packet);
    crypto.protectRtp(
      out,
      headerLength,
      packet.length,
      view.readUInt32BE(8),
      this.#sendRoc * SEQ_MODULUS + seq,
    );
    return out;
  }

  /** §3.4: a compound RTCP packet in; encrypted after its first 8 bytes, E || index and tag added. */
  protectRtcp(packet: Uint8Array): Buffer {
    if (packet.length < RTCP_CLEAR_BYTES) throw new RangeError('not an RTCP packet');
    const crypto = this.#send.rtcp;
    const index = this.#srtcpIndex;
    this.#srtcpIndex = (index + 1) % MAX_RTCP_PACKETS;
    const out = Buffer.allocUnsafe(packet.length + SRTCP_INDEX_BYTES + crypto.tagBytes);
    out.set(packet);
    crypto.protectRtcp(out, packet.length, index);
    return out;
  }

  /** §3.3: the RTP packet decrypted in place (a view of `packet` without the tag), or why not. */
  unprotectRtp(packet: Buffer): Buffer | SrtpDropReason {
    const crypto = this.#receive.rtp;
    const end = packet.length - crypto.tagBytes;
    const headerLength = rtpHeaderLength(packet, end);
    if (headerLength === undefined) return 'malformed';
    if (this.#rtpPacketsLeft <= 0) return 'expired';
    const seq = packet.readUInt16BE(2);
    const ssrc = packet.readUInt32BE(8);
    const source = this.#sources.get(ssrc);
    const roc = source ? estimateRoc(source, seq) : 0;
    if (roc < 0) return 'replay';
    const index = roc * SEQ_MODULUS + seq;
    if (source && !source.window.accepts(index)) return 'replay';
    if (!crypto.unprotectRtp(packet, headerLength, end, ssrc, index)) return 'auth';
    this.#rtpPacketsLeft--;
    const state = source ?? { roc, highestSeq: seq, window: new ReplayWindow() };
    if (!source) remember(this.#sources, ssrc, state, MAX_SOURCES);
    advance(state, roc, seq);
    state.window.mark(index);
    return packet.subarray(0, end);
  }

  /** §3.4: the compound RTCP packet decrypted in place (without index and tag), or why not. */
  unprotectRtcp(packet: Buffer): Buffer | SrtpDropReason {
    const crypto = this.#receive.rtcp;
    const payloadEnd = crypto.rtcpPayloadEnd(packet.length);
    if (payloadEnd < RTCP_CLEAR_BYTES) return 'malformed';
    if (this.#rtcpPacketsLeft <= 0) return 'expired';
    const trailer = packet.readUInt32BE(crypto.rtcpIndexAt(packet.length));
    const index = trailer & ~SRTCP_E_FLAG;
    const ssrc = packet.readUInt32BE(4);
    const window = this.#rtcpWindows.get(ssrc);
    if (window && !window.accepts(index)) return 'replay';
    if (!crypto.unprotectRtcp(packet, trailer)) return 'auth';
    this.#rtcpPacketsLeft--;
    const marked = window ?? new ReplayWindow();
    if (!window) remember(this.#rtcpWindows, ssrc, marked, MAX_SOURCES);
    marked.mark(index);
    return packet.subarray(0, payloadEnd);
  }

  #setLifetime(lifetime: number | undefined): void {
    this.#rtpPacketsLeft = Math.min(lifetime ?? MAX_RTP_PACKETS, MAX_RTP_PACKETS);
    this.#rtcpPacketsLeft = Math.min(lifetime ?? MAX_RTCP_PACKETS, MAX_RTCP_PACKETS);
  }
}

/** Appendix A: the ROC the sender used for `seq`, guessed from the highest sequence seen (s_l). */
function estimateRoc(source: SourceState, seq: number): number {
  if (source.highestSeq < HALF_SEQ) return seq - source.highestSeq > HALF_SEQ ? source.roc - 1 : source.roc;
  return source.highestSeq - HALF_SEQ > seq ? source.roc + 1 : source.roc;
}

/** §3.3.1: after authentication, s_l and the ROC move forward (never back). */
function advance(source: SourceState, roc: number, seq: number): void {
  if (roc === source.roc + 1) {
    source.roc = roc;
    source.highestSeq = seq;
  } else if (roc === source.roc && seq > source.highestSeq) {
    source.highestSeq = seq;
  }
}
