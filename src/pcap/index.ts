export { replayMain } from './cli.js';
export {
  createDecoderFor,
  type Impairment,
  loadMediaPipeline,
  type PacketReceiver,
  type ReceiverFactory,
} from './pipeline.js';
export { type CapturedFrame, newReadStats, readCapture } from './reader.js';
export { replayCapture } from './replay.js';
export { SequentialPlayout } from './sequential-playout.js';
export { FileSource, MemorySource } from './source.js';
export { isSipMessage, scanCapture } from './streams.js';
export { decodeUdpFrame, LinkType, type UdpDatagram } from './udp.js';
