import {
  ByePacket,
  CompoundPacket,
  ReceiverReportPacket,
  ReceptionReport,
  SdesChunk,
  SdesPacket,
  SenderReportPacket,
} from 'rtp.js/packets';
import type { ReportBlockValues } from './receive-stats.js';

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970), RFC 868. */
const NTP_UNIX_OFFSET_S = 2_208_988_800;
/** CNAME item type, RFC 3550 §6.5.1 (the const enum is not importable under isolated modules). */
const SDES_CNAME = 1;

export interface NtpTime {
  seconds: number;
  fraction: number;
}

export function wallMsToNtp(wallMs: number): NtpTime {
  const totalSeconds = wallMs / 1000 + NTP_UNIX_OFFSET_S;
  const seconds = Math.floor(totalSeconds);
  return { seconds: seconds >>> 0, fraction: Math.floor((totalSeconds - seconds) * 0x100000000) >>> 0 };
}

/** The middle 32 bits of an NTP timestamp: the LSR unit (1/65536 s), RFC 3550 §6.4.1. */
export function ntpMiddle32(ntp: NtpTime): number {
  return (((ntp.seconds & 0xffff) << 16) | (ntp.fraction >>> 16)) >>> 0;
}

export interface SenderInfo {
  ntp: NtpTime;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

/** One report block (RFC 3550 §6.4.1), as we send it or as a far end sent it about us. */
export interface ReportBlock extends ReportBlockValues {
  ssrc: number;
  /** Middle 32 bits of the last SR's NTP time from this source, 0 if none (§6.4.1). */
  lastSr: number;
  /** Delay since that SR, in 1/65536 s. */
  delaySinceLastSr: number;
}

/**
 * A compound RTCP packet (RFC 3550 §6.1): SR when given sender info (see SentStream), else
 * RR; then SDES with our CNAME; then BYE when leaving (§6.6).
 */
export function buildCompoundRtcp(args: {
  ssrc: number;
  cname: string;
  sender: SenderInfo | undefined;
  reportBlock: ReportBlock | undefined;
  bye?: boolean;
}): Uint8Array {
  const compound = new CompoundPacket();
  const reports: ReceptionReport[] = [];
  if (args.reportBlock) {
    const block = args.reportBlock;
    const report = new ReceptionReport();
    report.setSsrc(block.ssrc);
    report.setHighestSeqNumber(block.extendedHighestSequence);
    report.setJitter(block.jitter);
    report.setLastSRTimestamp(block.lastSr);
    report.setDelaySinceLastSR(block.delaySinceLastSr);
    writeLoss(report.getView(), block.fractionLost, block.cumulativeLost);
    reports.push(report);
  }
  if (args.sender) {
    const sr = new SenderReportPacket();
    sr.setSsrc(args.ssrc);
    sr.setNtpSeconds(args.sender.ntp.seconds);
    sr.setNtpFraction(args.sender.ntp.fraction);
    sr.setRtpTimestamp(args.sender.rtpTimestamp >>> 0);
    sr.setPacketCount(args.sender.packetCount >>> 0);
    sr.setOctetCount(args.sender.octetCount >>> 0);
    sr.setReports(reports);
    compound.addPacket(sr);
  } else {
    const rr = new ReceiverReportPacket();
    rr.setSsrc(args.ssrc);
    rr.setReports(reports);
    compound.addPacket(rr);
  }
  const sdes = new SdesPacket();
  const chunk = new SdesChunk();
  chunk.setSsrc(args.ssrc);
  chunk.addItem(SDES_CNAME, args.cname);
  sdes.addChunk(chunk);
  compound.addPacket(sdes);
  if (args.bye) {
    const bye = new ByePacket();
    bye.addSsrc(args.ssrc);
    compound.addPacket(bye);
  }
  const view = compound.getView();
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * Fraction lost and the cumulative loss, a 24-bit two's complement integer clamped to its range
 * (RFC 3550 §6.4.1, A.3), written by hand: rtp.js writes a negative one as sign and magnitude
 * and reads only the low 12 bits back.
 */
function writeLoss(block: DataView, fractionLost: number, cumulativeLost: number): void {
  const field = Math.max(-0x800000, Math.min(0x7fffff, Math.trunc(cumulativeLost))) & 0xffffff;
  block.setUint32(4, (((fractionLost & 0xff) << 24) | field) >>> 0);
}

function readCumulativeLost(block: DataView): number {
  const field = block.getUint32(4) & 0xffffff;
  return field & 0x800000 ? field - 0x1000000 : field;
}

/** A report block as it came (RFC 3550 §6.4.1). */
function reportBlockOf(report: ReceptionReport): ReportBlock {
  return {
    ssrc: report.getSsrc(),
    fractionLost: report.getFractionLost(),
    cumulativeLost: readCumulativeLost(report.getView()),
    extendedHighestSequence: report.getHighestSeqNumber(),
    jitter: report.getJitter(),
    lastSr: report.getLastSRTimestamp(),
    delaySinceLastSr: report.getDelaySinceLastSR(),
  };
}

export interface ParsedRtcp {
  /** Sender of the SR, and the SR's NTP time, when the compound carries one. */
  senderReport: { ssrc: number; ntp: NtpTime } | undefined;
  /** The last report block about `forSsrc` (our stream). */
  aboutUs: ReportBlock | undefined;
  byeSsrcs: number[];
}

/** Extracts what a session needs from a compound packet; throws on malformed input. */
export function parseCompoundRtcp(view: DataView, forSsrc: number): ParsedRtcp {
  const result: ParsedRtcp = { senderReport: undefined, aboutUs: undefined, byeSsrcs: [] };
  for (const packet of new CompoundPacket(view).getPackets()) {
    let reports: ReceptionReport[] = [];
    if (packet instanceof SenderReportPacket) {
      result.senderReport = {
        ssrc: packet.getSsrc(),
        ntp: { seconds: packet.getNtpSeconds(), fraction: packet.getNtpFraction() },
      };
      reports = packet.getReports();
    } else if (packet instanceof ReceiverReportPacket) {
      reports = packet.getReports();
    } else if (packet instanceof ByePacket) {
      result.byeSsrcs.push(...packet.getSsrcs());
    }
    const aboutUs = reports.find((r) => r.getSsrc() === forSsrc);
    if (aboutUs) result.aboutUs = reportBlockOf(aboutUs);
  }
  return result;
}
