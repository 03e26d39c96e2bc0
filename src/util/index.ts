export { type Clock, FakeClock, SystemClock, type TimerHandle } from './clock.js';
export { type EventMap, type ListenerErrorSink, TypedEmitter } from './emitter.js';
export { createLogger, type Logger, silentLogger } from './log.js';
export type { AudioCodecName, MediaDirection } from './media-types.js';
export { SeededRandom, seededRandom } from './random.js';
