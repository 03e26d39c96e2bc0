export { LateFrameWait } from './late-frame-wait.js';
export { AudioReceiver } from './receiver.js';
export { simulatePlayout } from './simulate.js';
export { accelerate, mergeAfterConcealment, preemptiveExpand } from './time-stretch.js';
export type { JitterDelayBounds, JitterStats } from './types.js';
