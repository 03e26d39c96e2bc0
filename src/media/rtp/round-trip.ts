/**
 * Round-trip time from the far end's report blocks about our stream (RFC 3550 §6.4.1):
 * RTT = A - LSR - DLSR, taken only when LSR names one of our own recent sender reports, so a
 * forged or corrupt report cannot set it to hours.
 */
import { type NtpTime, ntpMiddle32 } from './rtcp.js';

/** Our last sender reports remembered: a report block may answer one a few intervals old. */
const REMEMBERED_SENDER_REPORTS = 4;

export class RoundTripTime {
  /** Middle 32 bits of our last sender reports' NTP times, oldest first. */
  readonly #sent: number[] = [];
  #ms: number | undefined;

  /** The last round-trip time measured, in ms. */
  get ms(): number | undefined {
    return this.#ms;
  }

  /** We sent a sender report carrying NTP time `ntp`. */
  senderReportSent(ntp: NtpTime): void {
    this.#sent.push(ntpMiddle32(ntp));
    if (this.#sent.length > REMEMBERED_SENDER_REPORTS) this.#sent.shift();
  }

  /**
   * A report block about our stream with its LSR and DLSR (1/65536 s), arrived at `arrival`:
   * ignored unless LSR is one of our recent sender reports (0: the far end has none yet).
   */
  reportReceived(lsr: number, dlsr: number, arrival: NtpTime): void {
    if (lsr === 0 || !this.#sent.includes(lsr >>> 0)) return;
    // In 1/65536 s, modulo 2^32; a negative result (DLSR too long) is no measurement.
    const rtt = (ntpMiddle32(arrival) - lsr - dlsr) >>> 0;
    if (rtt < 0x80000000) this.#ms = (rtt * 1000) / 65536;
  }
}
