export { parseRtp } from './parse.js';
export { PortAllocator } from './port-allocator.js';
export { ReceiveStats } from './receive-stats.js';
export { buildCompoundRtcp, ntpMiddle32, parseCompoundRtcp, wallMsToNtp } from './rtcp.js';
export { type DatagramSent, SendBatch } from './send-batch.js';
export { RtpSession } from './session.js';
export { readUdpDrops, UdpDropSampler, type UdpDropTable } from './socket-drops.js';
export type { ReceivedRtp, RtpStreamStats } from './types.js';
export { RTP_HEADER_BYTES, RtpPacketWriter, writeRtpHeader } from './writer.js';
