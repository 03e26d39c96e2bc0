/**
 * Malformed and foreign RTP/RTCP at a live call's ports, seeded, from addresses that are not
 * the caller's: random bytes, RTP with a bad version, headers cut short, well-formed RTP with
 * a stranger's SSRC, a CSRC count the packet cannot hold, and RTCP junk (a valid-looking
 * header with a bad length, BYEs and reports for random SSRCs). Two thirds go to the RTP port,
 * one third to the RTCP port.
 */
import type { Socket as UdpSocket } from 'node:dgram';
import { SeededRandom } from '../../../src/util/index.js';
import { paced, udpSource } from './pace.js';

export const RTP_JUNK_KINDS = [
  'random',
  'bad_version',
  'truncated',
  'wrong_ssrc',
  'huge_csrc_count',
  'rtcp_junk',
] as const;
export type RtpJunkKind = (typeof RTP_JUNK_KINDS)[number];

export interface RtpJunkOptions {
  host: string;
  rtpPort: number;
  rtcpPort: number;
  sources: string[];
  ratePerSec: number;
  durationMs: number;
  seed: number;
  stopped?: () => boolean;
}

export type RtpJunkReport = Record<RtpJunkKind, number>;

/** One junk datagram of the given kind. */
export function rtpJunk(kind: RtpJunkKind, random: SeededRandom): Buffer {
  const bytes = (length: number): Buffer => Buffer.from(Array.from({ length }, () => random.int(0, 255)));
  switch (kind) {
    case 'random':
      return bytes(random.int(1, 1400));
    case 'bad_version': {
      const packet = rtpPacket(random);
      packet[0] = (random.int(0, 2) << 6) | ((packet[0] ?? 0) & 0x3f);
      return packet;
    }
    case 'truncated':
      return rtpPacket(random).subarray(0, random.int(1, 11));
    case 'wrong_ssrc':
      return rtpPacket(random);
    case 'huge_csrc_count': {
      // CC = 15 announces 60 bytes of CSRCs; the packet holds fewer.
      const packet = rtpPacket(random).subarray(0, random.int(12, 60));
      packet[0] = 0x80 | 0x0f;
      return packet;
    }
    case 'rtcp_junk': {
      const packet = bytes(random.int(8, 200));
      // V=2, a report count, then SR/RR/SDES/BYE/APP (RFC 3550 §6.4-6.7) with a random length.
      packet[0] = 0x80 | random.int(0, 31);
      packet[1] = random.int(200, 204);
      return packet;
    }
  }
}

/** A well-formed PCMU RTP packet with a random SSRC, sequence and timestamp. */
function rtpPacket(random: SeededRandom): Buffer {
  const packet = Buffer.alloc(12 + 160, 0xff);
  packet[0] = 0x80;
  packet[1] = 0;
  packet.writeUInt16BE(random.int(0, 0xffff), 2);
  packet.writeUInt32BE(random.int(0, 0xffffffff), 4);
  packet.writeUInt32BE(random.int(0, 0xffffffff), 8);
  return packet;
}

export async function runRtpJunk(options: RtpJunkOptions): Promise<RtpJunkReport> {
  const random = new SeededRandom(options.seed);
  const sockets: UdpSocket[] = await Promise.all(options.sources.map((source) => udpSource(source)));
  const report = Object.fromEntries(RTP_JUNK_KINDS.map((kind) => [kind, 0])) as RtpJunkReport;
  await paced(
    options.ratePerSec,
    options.durationMs,
    (index) => {
      const kind = RTP_JUNK_KINDS[random.int(0, RTP_JUNK_KINDS.length - 1)] as RtpJunkKind;
      const port = index % 3 === 2 ? options.rtcpPort : options.rtpPort;
      report[kind]++;
      (sockets[index % sockets.length] as UdpSocket).send(rtpJunk(kind, random), port, options.host);
    },
    options.stopped,
  );
  for (const socket of sockets) socket.close();
  return report;
}
