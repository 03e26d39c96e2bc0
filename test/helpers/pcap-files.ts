/** Small libpcap captures built in memory, for the capture reader, scan and replay tests. */

export const LINKTYPE_RAW = 101;

/** A libpcap file (little-endian, microseconds) with one record per frame, `spacingUs` apart. */
export function pcapOfFrames(frames: Uint8Array[], linkType = LINKTYPE_RAW, spacingUs = 20_000): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(linkType, 20);
  const records = frames.map((frame, index) => {
    const record = Buffer.alloc(16);
    const micros = index * spacingUs;
    record.writeUInt32LE(1_700_000_000 + Math.floor(micros / 1e6), 0);
    record.writeUInt32LE(micros % 1e6, 4);
    record.writeUInt32LE(frame.length, 8);
    record.writeUInt32LE(frame.length, 12);
    return Buffer.concat([record, frame]);
  });
  return Buffer.concat([header, ...records]);
}

/** An IPv4 packet (no checksum) from 10.0.0.1 to 10.0.0.2 carrying one UDP datagram. */
export function ipv4Udp(srcPort: number, dstPort: number, payload: Uint8Array): Buffer {
  const packet = Buffer.alloc(28 + payload.length);
  packet.writeUInt8(0x45, 0);
  packet.writeUInt16BE(packet.length, 2);
  packet.writeUInt8(64, 8);
  packet.writeUInt8(17, 9);
  packet.set([10, 0, 0, 1], 12);
  packet.set([10, 0, 0, 2], 16);
  packet.writeUInt16BE(srcPort, 20);
  packet.writeUInt16BE(dstPort, 22);
  packet.writeUInt16BE(8 + payload.length, 24);
  packet.set(payload, 28);
  return packet;
}

/** An RTP packet (RFC 3550 §5.1): 20 ms of 8 kHz audio per sequence number, payload of `fill`. */
export function rtpPacket(ssrc: number, sequence: number, payloadType = 0, fill = 0xff): Buffer {
  const packet = Buffer.alloc(12 + 160, fill);
  packet.writeUInt8(0x80, 0);
  packet.writeUInt8(payloadType, 1);
  packet.writeUInt16BE(sequence & 0xffff, 2);
  packet.writeUInt32BE((sequence * 160) >>> 0, 4);
  packet.writeUInt32BE(ssrc >>> 0, 8);
  return packet;
}
