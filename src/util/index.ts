export { type BinnedValues, BucketCounts, RTP_TO_WEBSOCKET_BOUNDS } from './bucket-counts.js';
export { type Clock, FakeClock, SystemClock, type TimerHandle } from './clock.js';
export { type EventMap, type ListenerErrorSink, TypedEmitter } from './emitter.js';
export { Fifo } from './fifo.js';
export { canonicalHost } from './hosts.js';
export { createLogger, type LogBindings, type Logger, silentLogger } from './log.js';
export {
  LOOP_DELAY_RESOLUTION_MS,
  type LoopDelayHistogram,
  type LoopTimes,
  loopBusyShare,
  loopDelayMs,
} from './loop-busy.js';
export {
  type AudioCodecName,
  type MediaDirection,
  type MediaEncryption,
  SRTP_SUITES,
  type SrtpKeyLengths,
  type SrtpSuiteName,
  srtpKeyLengths,
  srtpMasterBytes,
} from './media-types.js';
export { SeededRandom, seededRandom } from './random.js';
export { ByteFifo, SampleFifo } from './sample-fifo.js';
export { SecretBytes, shownUrl, shownUrlsIn } from './secret.js';
export { TimerQueues } from './timer-queues.js';
