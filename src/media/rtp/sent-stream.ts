/**
 * What a sender report says about the stream we send (RFC 3550 §6.4.1): packet and payload
 * octet counts, and the RTP time of a wall-clock instant, extrapolated from the newest sampling
 * instant sent. Counted per packet without allocating.
 */
export class SentStream {
  packets = 0;
  octets = 0;
  /** Reports sent since the last RTP packet, counted up to 2 (2 also while none was sent). */
  #reportsSinceMedia = 2;
  #timestamp = 0;
  #atMs = 0;

  /** One RTP packet with `payloadBytes` of payload left at `nowMs`. */
  sent(timestamp: number, payloadBytes: number, nowMs: number): void {
    // A packet repeating an earlier timestamp (RFC 4733 §2.5.1.2: an event's updates and end
    // packets carry its start) samples no new instant: the SR's RTP time would fall behind.
    if (this.packets === 0 || ((timestamp - this.#timestamp) | 0) > 0) {
      this.#timestamp = timestamp;
      this.#atMs = nowMs;
    }
    this.packets++;
    this.octets += payloadBytes;
    this.#reportsSinceMedia = 0;
  }

  /**
   * §6.4: the next report is an SR if RTP went out since the second previous report was
   * transmitted, so one quiet interval (a hold, a pause between prompts) still sends an SR.
   */
  get senderReportDue(): boolean {
    return this.#reportsSinceMedia < 2;
  }

  /** A report (SR or RR) was transmitted. */
  reportSent(): void {
    if (this.#reportsSinceMedia < 2) this.#reportsSinceMedia++;
  }

  /** §6.4.1: the RTP timestamp of instant `nowMs` (same clock as `sent`'s) at `clockRate`. */
  rtpTimeAt(nowMs: number, clockRate: number): number {
    return (this.#timestamp + Math.round(((nowMs - this.#atMs) * clockRate) / 1000)) >>> 0;
  }
}
