export { LateFrameWait } from './late-frame-wait.js';
export { AudioReceiver } from './receiver.js';
export { type PlayoutTrace, simulatePlayout } from './simulate.js';
export { accelerate, mergeAfterConcealment, preemptiveExpand, type StretchResult } from './time-stretch.js';
export type { JitterBufferOptions, JitterDelayBounds, JitterStats, PlayoutDecision } from './types.js';
