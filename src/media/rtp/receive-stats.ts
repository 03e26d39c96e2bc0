/**
 * Reception statistics for one RTP source (RFC 3550 Appendix A.1, A.3, A.8): extended
 * highest sequence with wrap cycles, cumulative and interval loss, interarrival jitter,
 * duplicates and reordering. Pure arithmetic: arrival times are passed in.
 */

const SEQ_MOD = 0x10000;
/** RFC 3550 A.1: a jump of more than MAX_DROPOUT ahead, or MAX_MISORDER behind, is a restart. */
export const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
/** Duplicate detection window: flags for the last 1024 extended sequence numbers. */
const SEEN_WINDOW = 1024;

export interface ReportBlockValues {
  /** RFC 3550 §6.4.1: 8-bit fixed point fraction (loss / expected * 256) since the last report. */
  fractionLost: number;
  /** 24-bit signed cumulative loss, clamped. */
  cumulativeLost: number;
  extendedHighestSequence: number;
  /** In timestamp units, as carried in the report. */
  jitter: number;
}

export class ReceiveStats {
  readonly ssrc: number;
  readonly #clockRate: number;
  #baseSeq = 0;
  #maxSeq = 0;
  #cycles = 0;
  #badSeq = SEQ_MOD + 1;
  #received = 0;
  #expectedPrior = 0;
  #receivedPrior = 0;
  #lastFraction = 0;
  #started = false;
  #transit = 0;
  #lastTimestamp: number | undefined;
  #jitterUnits = 0;
  readonly #seen = new Uint8Array(SEEN_WINDOW);
  duplicates = 0;
  outOfOrder = 0;
  bytes = 0;

  constructor(ssrc: number, clockRate: number) {
    if (!(clockRate > 0)) throw new RangeError('clockRate must be > 0');
    this.ssrc = ssrc;
    this.#clockRate = clockRate;
  }

  /** Records one packet. Returns false for a duplicate or a packet not (yet) accepted as in-sequence. */
  update(sequenceNumber: number, timestamp: number, arrivalMs: number, payloadBytes: number): boolean {
    const seq = sequenceNumber & 0xffff;
    if (!this.#started) {
      // No probation (A.1's MIN_SEQUENTIAL): the session only feeds packets from its latched peer.
      this.#started = true;
      this.#restart(seq);
    } else {
      const delta = (seq - this.#maxSeq + SEQ_MOD) % SEQ_MOD;
      if (delta === 0 || (delta > SEQ_MOD - MAX_MISORDER && this.#wasSeen(this.#extend(seq)))) {
        this.duplicates++;
        return false;
      }
      if (delta < MAX_DROPOUT) {
        this.#clearSeen(this.extendedHighestSequence + 1, delta);
        if (seq < this.#maxSeq) this.#cycles += SEQ_MOD; // wrapped past 65535
        this.#maxSeq = seq;
      } else if (delta <= SEQ_MOD - MAX_MISORDER) {
        // A big jump: accept only when the next packet confirms it (the sender restarted).
        if (seq !== this.#badSeq) {
          this.#badSeq = (seq + 1) & 0xffff;
          return false;
        }
        this.#restart(seq);
      } else {
        this.outOfOrder++;
        // Sent before the first packet to arrive (reordered at the start): it was expected too,
        // else a reordered start counts as negative loss.
        this.#baseSeq = Math.min(this.#baseSeq, this.#extend(seq));
      }
    }
    this.#seen[seenSlot(this.#extend(seq))] = 1;
    this.#received++;
    this.bytes += payloadBytes;
    this.#updateJitter(timestamp >>> 0, arrivalMs);
    return true;
  }

  get packetsReceived(): number {
    return this.#received;
  }

  get extendedHighestSequence(): number {
    return this.#cycles + this.#maxSeq;
  }

  get expected(): number {
    return this.extendedHighestSequence - this.#baseSeq + 1;
  }

  get cumulativeLost(): number {
    return this.#started ? this.expected - this.#received : 0;
  }

  /** Fraction lost (0..1) reported by the last makeReportBlock(). */
  get fractionLost(): number {
    return this.#lastFraction / 256;
  }

  get jitterMs(): number {
    return (this.#jitterUnits * 1000) / this.#clockRate;
  }

  /** Values for an RTCP report block; starts a new loss interval (RFC 3550 A.3). */
  makeReportBlock(): ReportBlockValues {
    const expected = this.expected;
    const expectedInterval = expected - this.#expectedPrior;
    const receivedInterval = this.#received - this.#receivedPrior;
    this.#expectedPrior = expected;
    this.#receivedPrior = this.#received;
    const lostInterval = expectedInterval - receivedInterval;
    this.#lastFraction =
      expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval * 256) / expectedInterval);
    return {
      fractionLost: Math.min(255, this.#lastFraction),
      cumulativeLost: Math.max(-0x800000, Math.min(0x7fffff, this.cumulativeLost)),
      extendedHighestSequence: this.extendedHighestSequence >>> 0,
      jitter: Math.floor(this.#jitterUnits),
    };
  }

  #restart(seq: number): void {
    this.#baseSeq = seq;
    this.#maxSeq = seq;
    this.#badSeq = SEQ_MOD + 1;
    this.#cycles = 0;
    this.#received = 0;
    this.#receivedPrior = 0;
    this.#expectedPrior = 0;
    this.#seen.fill(0);
  }

  /** Extended sequence of a packet near maxSeq (it may belong to the previous cycle). */
  #extend(seq: number): number {
    const ahead = (seq - this.#maxSeq + SEQ_MOD) % SEQ_MOD;
    return ahead < SEQ_MOD / 2
      ? this.#cycles + this.#maxSeq + ahead
      : this.#cycles + this.#maxSeq - (SEQ_MOD - ahead);
  }

  #wasSeen(extended: number): boolean {
    return this.extendedHighestSequence - extended < SEEN_WINDOW && this.#seen[seenSlot(extended)] === 1;
  }

  /** Forgets the slots that the window reuses as the highest sequence moves ahead. */
  #clearSeen(fromExtended: number, count: number): void {
    for (let i = 0; i < Math.min(count, SEEN_WINDOW); i++) this.#seen[seenSlot(fromExtended + i)] = 0;
  }

  /**
   * RFC 3550 A.8: J += (|D| - J) / 16, D the change in transit time. Packets sharing a
   * timestamp (RFC 4733 event updates) carry no new sampling instant and are skipped.
   */
  #updateJitter(timestamp: number, arrivalMs: number): void {
    if (timestamp === this.#lastTimestamp) return;
    const arrivalUnits = (arrivalMs * this.#clockRate) / 1000;
    // Transit modulo 2^32 keeps wrap-around of the RTP timestamp harmless.
    const transit = arrivalUnits - timestamp;
    if (this.#lastTimestamp !== undefined) {
      let d = transit - this.#transit;
      // A timestamp wrap shows as a 2^32 jump in transit.
      if (d > 0x80000000) d -= 0x100000000;
      else if (d < -0x80000000) d += 0x100000000;
      this.#jitterUnits += (Math.abs(d) - this.#jitterUnits) / 16;
    }
    this.#transit = transit;
    this.#lastTimestamp = timestamp;
  }
}

/** The duplicate window's slot of an extended sequence (below 0 for one sent before the first). */
function seenSlot(extended: number): number {
  return ((extended % SEEN_WINDOW) + SEEN_WINDOW) % SEEN_WINDOW;
}
