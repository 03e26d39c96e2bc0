/**
 * Drives an AudioReceiver over a packet arrival trace on a FakeClock: packets are
 * inserted at their arrival times and one frame is pulled every frameMs. Used by tests,
 * the jitter bench and offline evaluation.
 */
import { FakeClock } from '../../util/index.js';
import type { AudioDecoder } from '../codec.js';
import type { ReceivedRtp } from '../rtp/types.js';
import { AudioReceiver } from './receiver.js';
import type { JitterBufferOptions, PlayoutDecision } from './types.js';

interface PlayoutTrace {
  receiver: AudioReceiver;
  decisions: PlayoutDecision[];
  /** Target delay (ms) after each pull. */
  targets: number[];
}

export function simulatePlayout(
  decoder: AudioDecoder,
  arrivals: readonly ReceivedRtp[],
  durationMs: number,
  options: JitterBufferOptions = {},
  onPull?: (receiver: AudioReceiver) => void,
): PlayoutTrace {
  const frameMs = options.frameMs ?? 20;
  const sorted = [...arrivals].sort((a, b) => a.arrivalMs - b.arrivalMs);
  const start = sorted[0]?.arrivalMs ?? 0;
  const clock = new FakeClock(start);
  const receiver = new AudioReceiver(decoder, clock, options);
  const decisions: PlayoutDecision[] = [];
  const targets: number[] = [];
  let next = 0;
  for (let tick = start + frameMs / 2; tick <= start + durationMs; tick += frameMs) {
    for (let p = sorted[next]; p && p.arrivalMs <= tick; p = sorted[++next]) {
      clock.advanceTo(Math.max(clock.now(), p.arrivalMs));
      receiver.insert(p);
    }
    clock.advanceTo(tick);
    receiver.pull();
    decisions.push(receiver.lastDecision);
    targets.push(receiver.targetDelayMs());
    onPull?.(receiver);
  }
  return { receiver, decisions, targets };
}
