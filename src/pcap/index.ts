export {
  type CapturedFrame,
  type CaptureReadStats,
  MAX_RECORD_BYTES,
  newReadStats,
  readCapture,
} from './reader.js';
export { type ByteSource, FileSource, MemorySource } from './source.js';
export {
  type CaptureScan,
  type CodecMapping,
  isSipMessage,
  parseRtp,
  type RtpHeader,
  type RtpStreamInfo,
  type ScanOptions,
  scanCapture,
} from './streams.js';
export { decodeUdpFrame, LinkType, type NotUdp, type UdpDatagram, type UdpEndpoint } from './udp.js';
