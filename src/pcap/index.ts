export { replayMain } from './cli.js';
export {
  createDecoderFor,
  type Impairment,
  loadMediaPipeline,
  type MediaPipeline,
  type PacketReceiver,
  type ReceiverFactory,
} from './pipeline.js';
export { renderPlotHtml, Timeline, type TimelinePoint } from './plot.js';
export {
  type CapturedFrame,
  type CaptureReadStats,
  MAX_RECORD_BYTES,
  newReadStats,
  readCapture,
} from './reader.js';
export { type ReplayOptions, type ReplayReport, replayCapture, type StreamReport } from './replay.js';
export { SequentialPlayout } from './sequential-playout.js';
export { type ByteSource, FileSource, MemorySource } from './source.js';
export {
  type CaptureScan,
  type CodecMapping,
  isSipMessage,
  type RtpStreamInfo,
  type ScanOptions,
  scanCapture,
} from './streams.js';
export { decodeUdpFrame, LinkType, type NotUdp, type UdpDatagram, type UdpEndpoint } from './udp.js';
