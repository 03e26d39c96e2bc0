/**
 * An RTP session's SRTP state: plain RTP until keys are set, SRTP and SRTCP once they are
 * (RFC 3711), re-keyed in place by a re-INVITE, with counts of what it refused. Its drops are
 * per call and never end one: a forged, replayed or expired packet is counted and skipped.
 */
import type { SrtpSuiteName } from '../../util/index.js';
import { type SrtpDropReason, type SrtpKeying, type SrtpPosition, SrtpSession } from './srtp-session.js';

interface SrtpDropCounts {
  /** Packets on a leg that may only carry SRTP, come before its keys (see the constructor). */
  unkeyed: number;
  auth: number;
  replay: number;
  expired: number;
}

export interface SrtpStats {
  /** The suite in use, or the last one if a re-INVITE turned SRTP off; none before any key. */
  suite?: SrtpSuiteName;
  /** SRTP and SRTCP packets refused: before any key, bad tag, replayed or too old, beyond the key lifetime. */
  dropped: SrtpDropCounts;
}

export class SrtpFilter {
  #session: SrtpSession | undefined;
  readonly #keysRequired: boolean;
  /** A continued stream pair's state, for the session the first keys start (call takeover). */
  #continueFrom: SrtpPosition | undefined;
  #lastSuite: SrtpSuiteName | undefined;
  readonly #dropped: SrtpDropCounts = { unkeyed: 0, auth: 0, replay: 0, expired: 0 };

  /**
   * With `keysRequired` (a leg that may only carry SRTP), packets that arrive while no keys are
   * set are not taken as plain RTP: they cannot be authenticated (RFC 3711 §3.3), so they are
   * dropped and counted as `unkeyed`, apart from `auth`: an outbound call's media can arrive
   * ahead of the 200 OK whose answer carries the key, on a healthy call. With `continueFrom`,
   * the first keys carry on a stream pair another node protected (see SrtpSession).
   */
  constructor(options: { keysRequired?: boolean; continueFrom?: SrtpPosition } = {}) {
    this.#keysRequired = options.keysRequired ?? false;
    this.#continueFrom = options.continueFrom;
  }

  /** New keys (kept crypto state carries on, see SrtpSession.rekey), or undefined for plain RTP. */
  setKeys(keying: SrtpKeying | undefined): void {
    if (!keying) this.#session = undefined;
    else if (this.#session) this.#session.rekey(keying);
    else {
      this.#session = new SrtpSession(keying, this.#continueFrom);
      this.#continueFrom = undefined;
    }
    this.#lastSuite = keying?.suite ?? this.#lastSuite;
  }

  /** Where the SRTP stream pair stands (see SrtpSession.position); undefined for plain RTP. */
  position(nextSeq: number, audioSsrc: number | undefined): SrtpPosition | undefined {
    return this.#session?.position(nextSeq, audioSsrc);
  }

  protectRtp(packet: Uint8Array): Uint8Array {
    return this.#session ? this.#session.protectRtp(packet) : packet;
  }

  protectRtcp(packet: Uint8Array): Uint8Array {
    return this.#session ? this.#session.protectRtcp(packet) : packet;
  }

  /** The clear packet, or 'malformed' / 'dropped' (the latter counted here by reason). */
  unprotectRtp(packet: Buffer): Buffer | 'malformed' | 'dropped' {
    return this.#session ? this.#count(this.#session.unprotectRtp(packet)) : this.#unkeyed(packet);
  }

  unprotectRtcp(packet: Buffer): Buffer | 'malformed' | 'dropped' {
    return this.#session ? this.#count(this.#session.unprotectRtcp(packet)) : this.#unkeyed(packet);
  }

  /** Undefined while the leg has seen no key and dropped nothing: a plain RTP leg's. */
  stats(): SrtpStats | undefined {
    if (!this.#lastSuite && this.#dropped.unkeyed === 0) return undefined;
    return { ...(this.#lastSuite ? { suite: this.#lastSuite } : {}), dropped: { ...this.#dropped } };
  }

  #unkeyed(packet: Buffer): Buffer | 'malformed' | 'dropped' {
    if (!this.#keysRequired) return packet;
    this.#dropped.unkeyed++;
    return 'dropped';
  }

  #count(result: Buffer | SrtpDropReason): Buffer | 'malformed' | 'dropped' {
    if (Buffer.isBuffer(result) || result === 'malformed') return result;
    this.#dropped[result]++;
    return 'dropped';
  }
}
