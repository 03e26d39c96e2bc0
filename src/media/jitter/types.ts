export interface JitterBufferOptions {
  /** Playout tick and packet duration (default 20). */
  frameMs?: number;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Quantile of the relative delay the target covers while late packets are within lateRateGoal (default 0.99). */
  targetQuantile?: number;
  /** Per-packet histogram forget factor (default 0.998, ~10 s of 20 ms packets). */
  forgetFactor?: number;
  /**
   * Late-rate feedback: while more than this fraction of packets arrives after its playout
   * time, the quantile is raised from targetQuantile towards maxTargetQuantile, and lowered
   * back once late packets are below half of it (default 0.005).
   */
  lateRateGoal?: number;
  /** Upper bound of the late-rate feedback on the quantile (default 0.995). */
  maxTargetQuantile?: number;
  /** Bound on buffered packets (default 250, 5 s of 20 ms packets). */
  maxPackets?: number;
}

/** The bounds of the target delay a trunk may set (its `media.jitterBuffer`). */
export type JitterDelayBounds = Pick<JitterBufferOptions, 'minDelayMs' | 'maxDelayMs'>;

export type PlayoutDecision =
  | 'normal'
  | 'expand'
  | 'accelerate'
  | 'preemptive_expand'
  | 'merge'
  | 'comfort_silence';

/** W3C webrtc-stats RTCInboundRtpStreamStats fields for audio (cumulative counters). */
export interface JitterStats {
  /** Seconds, summed over emitted samples, from arrival to leaving the buffer. */
  jitterBufferDelay: number;
  /** Samples that left the buffer decoded (divide jitterBufferDelay by it for the mean). */
  jitterBufferEmittedCount: number;
  /** Seconds, target delay summed per emitted sample. */
  jitterBufferTargetDelay: number;
  concealedSamples: number;
  silentConcealedSamples: number;
  concealmentEvents: number;
  insertedSamplesForDeceleration: number;
  removedSamplesForAcceleration: number;
  packetsReceived: number;
  /** Late, overflow and overtaken discards (duplicates are not included, per W3C). */
  packetsDiscarded: number;
  packetsDuplicated: number;
  /** Packets that arrived after their playout time (extension, also in packetsDiscarded). */
  packetsLate: number;
  /** Lost frames rebuilt from the next packet's in-band FEC (Opus LBRR); FEC never needed is not counted. */
  fecPacketsReceived: number;
  /** Samples played, including concealed ones. */
  totalSamplesReceived: number;
  /** Extension: the rate of every sample count here, the decoder's (the bridge's for Opus). */
  sampleRate: number;
}

/** The figures of a receiver that has counted nothing yet. */
export const NO_JITTER_STATS: Readonly<JitterStats> = {
  jitterBufferDelay: 0,
  jitterBufferEmittedCount: 0,
  jitterBufferTargetDelay: 0,
  concealedSamples: 0,
  silentConcealedSamples: 0,
  concealmentEvents: 0,
  insertedSamplesForDeceleration: 0,
  removedSamplesForAcceleration: 0,
  packetsReceived: 0,
  packetsDiscarded: 0,
  packetsDuplicated: 0,
  packetsLate: 0,
  fecPacketsReceived: 0,
  totalSamplesReceived: 0,
  sampleRate: 0,
};
