/**
 * Which datagrams an impaired network drops, one decision per datagram from a seeded random:
 * uniform (independent) loss, or bursts from a two-state Gilbert-Elliott chain (the simple
 * Gilbert model: the good state forwards every datagram, the bad one drops every one), as
 * netem's `loss gemodel p r` does. RFC 3611 §4.7.2 describes the same two states for VoIP loss.
 */

export interface LossOptions {
  /** Long-run share of datagrams dropped, 0..1. */
  lossRate: number;
  /**
   * Mean run of consecutive drops (packets, ≥ 1): losses come in bursts of geometric length
   * with this mean. Undefined: each datagram dropped on its own (runs of 1/(1 - lossRate)).
   */
  meanBurstPackets?: number;
}

/** A drop decision per call, drawing from `random`. */
export type DropDecision = () => boolean;

/** Throws a RangeError for a rate outside 0..1 or a burst under one packet. */
export function assertLossOptions({ lossRate, meanBurstPackets }: LossOptions): void {
  if (!(lossRate >= 0 && lossRate <= 1)) throw new RangeError('lossRate must be in 0..1');
  if (meanBurstPackets !== undefined && !(meanBurstPackets >= 1))
    throw new RangeError('meanBurstPackets must be ≥ 1');
}

export function lossModel(options: LossOptions, random: () => number): DropDecision {
  assertLossOptions(options);
  const { lossRate, meanBurstPackets } = options;
  if (meanBurstPackets === undefined) return () => random() < lossRate;
  if (lossRate >= 1) return () => true;
  // Bad → good with r = 1/burst makes bursts geometric with that mean; good → bad with p so
  // the stationary bad share p / (p + r) is the loss rate.
  const leaveBad = 1 / meanBurstPackets;
  const enterBad = (lossRate * leaveBad) / (1 - lossRate);
  let bad = false;
  return () => {
    bad = random() < (bad ? 1 - leaveBad : enterBad);
    return bad;
  };
}
