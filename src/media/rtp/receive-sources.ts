/**
 * The RTP sources one session receives from its latched peer, each with its own reception
 * statistics (RFC 3550 §8.2: a new SSRC is a new source), and which one is the audio source:
 * audio and RFC 4733 telephone events may come on different SSRCs, and then neither resets
 * the other's sequence, loss and jitter state.
 */
import { ReceiveStats } from './receive-stats.js';

/** Sources kept at once: audio, telephone events and a source replacing one of them. */
export const MAX_RECEIVE_SOURCES = 4;

export interface ReceiveSource {
  readonly stats: ReceiveStats;
  /** The middle 32 bits of its last sender report's NTP time, and when it came (RFC 3550 §6.4.1). */
  lastSr: { middle32: number; atMs: number } | undefined;
}

export class ReceiveSources {
  /** In the order last seen, least recently seen first. */
  readonly #sources = new Map<number, ReceiveSource>();
  #clockRate: number;
  #audioPayloadType: number | undefined;
  #audio: ReceiveSource | undefined;
  #newest: ReceiveSource | undefined;
  /** Times the audio source was replaced by another SSRC. */
  ssrcChanges = 0;

  constructor(clockRate: number) {
    this.#clockRate = clockRate;
  }

  /** The source carrying audio: the last SSRC seen with the audio payload type. */
  get audio(): ReceiveSource | undefined {
    return this.#audio;
  }

  get size(): number {
    return this.#sources.size;
  }

  /**
   * The audio payload type (until it is known, every packet counts as audio) and clock rate: a
   * new clock rate starts every source over (jitter in the old units means nothing).
   */
  setFormat(audioPayloadType: number, clockRate: number): void {
    this.#audioPayloadType = audioPayloadType;
    if (clockRate === this.#clockRate) return;
    this.#clockRate = clockRate;
    this.#sources.clear();
    this.#audio = undefined;
    this.#newest = undefined;
  }

  /** The statistics of a packet's source, which becomes the audio source if it carries audio. */
  receive(ssrc: number, payloadType: number): ReceiveSource {
    let source = this.#newest?.stats.ssrc === ssrc ? this.#newest : this.#sources.get(ssrc);
    if (!source) {
      source = { stats: new ReceiveStats(ssrc, this.#clockRate), lastSr: undefined };
      this.#evict();
    } else if (source !== this.#newest) this.#sources.delete(ssrc);
    if (source !== this.#newest) this.#sources.set(ssrc, source);
    this.#newest = source;
    const isAudio = this.#audioPayloadType === undefined || payloadType === this.#audioPayloadType;
    if (isAudio && source !== this.#audio) {
      if (this.#audio) this.ssrcChanges++;
      this.#audio = source;
    }
    return source;
  }

  /** A sender report from the far end: kept for the source's report block (LSR, DLSR). */
  noteSenderReport(ssrc: number, middle32: number, atMs: number): void {
    const source = this.#sources.get(ssrc);
    if (source) source.lastSr = { middle32, atMs };
  }

  /** Makes room for one more: the least recently seen source other than audio goes. */
  #evict(): void {
    if (this.#sources.size < MAX_RECEIVE_SOURCES) return;
    for (const [ssrc, source] of this.#sources) {
      if (source === this.#audio) continue;
      this.#sources.delete(ssrc);
      return;
    }
  }
}
