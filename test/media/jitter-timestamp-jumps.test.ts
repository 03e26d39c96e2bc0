import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DelayManager } from '../../src/media/jitter/delay-manager.js';
import { simulatePlayout } from '../../src/media/jitter/index.js';
import { packet, sineDecoder } from './jitter-helpers.js';

function delayManager(): DelayManager {
  return new DelayManager({
    frameMs: 20,
    minDelayMs: 0,
    maxDelayMs: 1000,
    targetQuantile: 0.99,
    maxTargetQuantile: 0.995,
    lateRateGoal: 0.005,
    forgetFactor: 0.998,
  });
}

test('the delay manager is not fed a packet whose relative delay is a timestamp jump, not jitter', () => {
  for (const strayMs of [5000, -5000, 9000]) {
    const manager = delayManager();
    for (let i = 0; i < 100; i++) manager.update(i * 20 + 5, i * 20, false);
    const before = manager.targetDelayMs();
    // One packet whose timestamp is strayMs away from its neighbours', then the stream goes on.
    manager.update(100 * 20 + 5, 100 * 20 + strayMs, false);
    for (let i = 101; i < 400; i++) manager.update(i * 20 + 5, i * 20, false);
    assert.ok(
      manager.targetDelayMs() <= before + 5,
      `${strayMs} ms stray: target ${before} -> ${manager.targetDelayMs()}`,
    );
  }
});

test('one stray packet seconds ahead adds no lasting latency', () => {
  for (const strayS of [5, 9]) {
    for (const straySequence of [500, 40000]) {
      const arrivals = Array.from({ length: 2000 }, (_, i) => packet(i, i * 20 + 5));
      arrivals.push(
        packet(500, 500 * 20 + 6, { sequenceNumber: straySequence, timestamp: (500 + strayS * 50) * 160 }),
      );
      if (straySequence === 500) for (const p of arrivals.slice(501, 2000)) p.sequenceNumber++;
      const levels: number[] = [];
      const { targets } = simulatePlayout(sineDecoder(), arrivals, 40_000, {}, (r) =>
        levels.push(r.currentDelayMs()),
      );
      const after = (xs: number[]) => Math.max(...xs.slice(620, 2000));
      assert.ok(
        after(targets) <= 60,
        `${strayS} s ahead, seq ${straySequence}: target up to ${after(targets)} ms`,
      );
      assert.ok(
        after(levels) <= 100,
        `${strayS} s ahead, seq ${straySequence}: level up to ${after(levels)} ms`,
      );
    }
  }
});
