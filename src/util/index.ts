export { type Clock, FakeClock, SystemClock, type TimerHandle } from './clock.js';
export { createLogger, type Logger, silentLogger } from './log.js';
export { SeededRandom, seededRandom } from './random.js';
