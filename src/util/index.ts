export { type Clock, FakeClock, SystemClock, type TimerHandle } from './clock.js';
