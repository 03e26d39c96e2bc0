import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { trunkSchema } from '../../src/config/index.js';
import { estimateMos, GatewayHealth, rFactor } from '../../src/trunks/index.js';
import { FakeClock } from '../../src/util/index.js';

function healthConfig(overrides: Record<string, unknown> = {}) {
  return trunkSchema.parse({
    name: 't',
    outbound: { gateways: [{ host: 'a' }] },
    health: { windowMs: 3000, bucketMs: 1000, minCalls: 4, minMediaSamples: 2, ...overrides },
  }).health;
}

describe('GatewayHealth', () => {
  it('is unavailable while a Retry-After holds it off, at most 5 minutes however long the carrier asks', () => {
    const clock = new FakeClock();
    const health = new GatewayHealth('t/a', healthConfig(), clock);
    health.holdOff(24 * 3600_000);
    assert.deepEqual(
      [health.available, health.snapshot().score, health.snapshot().retryAfterMs],
      [false, 0, 300_000],
    );
    health.holdOff(1000); // a shorter one does not cut the longer short
    clock.advance(299_999);
    assert.equal(health.available, false);
    clock.advance(1);
    assert.deepEqual(
      [health.available, health.snapshot().score, health.snapshot().retryAfterMs],
      [true, 1, 0],
    );
  });

  it('a hold another cluster node got counts as its own, bounded, only growing, and is never shared back', () => {
    const clock = new FakeClock();
    const told: Array<[string, number]> = [];
    const health = new GatewayHealth('t/a', healthConfig(), clock, (id, ms) => told.push([id, ms]));
    health.setSharedHold(2000);
    assert.deepEqual(
      [health.available, health.snapshot().retryAfterMs, health.ownHoldMs()],
      [false, 2000, 0],
    );
    health.setSharedHold(500); // a later read, or a Redis that lost the key, does not end it early
    health.setSharedHold(Number.NaN);
    clock.advance(1999);
    assert.equal(health.snapshot().retryAfterMs, 1);
    clock.advance(1);
    assert.equal(health.available, true);
    health.setSharedHold(24 * 3600_000);
    assert.equal(health.snapshot().retryAfterMs, 300_000);
    assert.deepEqual(told, [], 'a shared hold is not told again');

    health.holdOff(1500.7);
    health.holdOff(0);
    health.holdOff(Number.NaN);
    health.holdOff(24 * 3600_000);
    assert.deepEqual(told, [
      ['t/a', 1500],
      ['t/a', 300_000],
    ]);
    assert.equal(health.ownHoldMs(), 300_000);
  });

  it('scores on its own window plus the peer sums other cluster nodes shared', () => {
    const clock = new FakeClock();
    const health = new GatewayHealth('t/a', healthConfig(), clock);
    health.recordAttempt({ answered: true, networkFailure: false });
    health.recordAttempt({ answered: false, networkFailure: true });
    const own = health.ownTotals();
    assert.equal(own.seized, 2);
    assert.equal(health.snapshot().metrics.asr.level, 'insufficient');
    // Another node saw 6 calls, none answered: together 8 seized, ASR 1/8.
    health.setPeerTotals([{ ...own, seized: 6, answered: 0, completed: 0 }]);
    const snapshot = health.snapshot();
    assert.deepEqual(snapshot.window, { ms: 3000, calls: 8, answered: 1, completed: 1 });
    assert.equal(snapshot.metrics.asr.value, 1 / 8);
    assert.ok(snapshot.score < 1, 'the cluster-wide ASR penalises the gateway');
    assert.equal(health.ownTotals().seized, 2, 'peer sums are never shared back');
    health.setPeerTotals([]);
    assert.equal(health.snapshot().window.calls, 2);
  });

  it('computes ASR, CCR, PDD, AST, ACD over the window, with minimum samples and penalties', () => {
    const clock = new FakeClock();
    const health = new GatewayHealth('t/a', healthConfig(), clock);
    health.recordAttempt({ answered: true, networkFailure: false, pddMs: 1000, setupMs: 2000 });
    health.recordAttempt({ answered: true, networkFailure: false, pddMs: 3000, setupMs: 4000 });
    health.recordAttempt({ answered: false, networkFailure: true }); // e.g. 503 or timeout
    health.recordAttempt({ answered: false, networkFailure: false }); // e.g. 486: the callee, not the carrier
    clock.advance(1500);
    health.recordAttempt({ answered: true, networkFailure: false, pddMs: 2000, setupMs: 3000 });
    health.recordCallEnded(40);

    const snapshot = health.snapshot();
    assert.deepEqual(snapshot.window, { ms: 3000, calls: 5, answered: 3, completed: 4 });
    assert.equal(snapshot.metrics.asr.value, 0.6);
    assert.equal(snapshot.metrics.asr.level, 'ok');
    assert.equal(snapshot.metrics.ccr.value, 0.8);
    assert.equal(snapshot.metrics.ccr.level, 'warn'); // below 0.9, above 0.7
    assert.deepEqual(
      {
        value: snapshot.metrics.pddMs.value,
        samples: snapshot.metrics.pddMs.samples,
        level: snapshot.metrics.pddMs.level,
      },
      { value: 2000, samples: 3, level: 'insufficient' }, // 3 < minCalls 4: does not count
    );
    assert.equal(snapshot.metrics.astMs.value, 3000);
    assert.equal(snapshot.metrics.acdSec.level, 'insufficient');
    assert.equal(snapshot.score, 0.8);

    // At t=3000 the bucket of t=0 leaves the 3 s window: one call left, too few to count.
    clock.advanceTo(3000);
    const later = health.snapshot();
    assert.equal(later.window.calls, 1);
    assert.equal(later.metrics.asr.level, 'insufficient');
    assert.equal(later.score, 1);
  });

  it('multiplies penalties of several critical metrics', () => {
    const health = new GatewayHealth('t/a', healthConfig(), new FakeClock());
    for (let i = 0; i < 10; i++) {
      health.recordAttempt({ answered: i < 2, networkFailure: i >= 5, pddMs: 9000 });
    }
    const snapshot = health.snapshot();
    assert.equal(snapshot.metrics.asr.level, 'critical'); // 0.2 < 0.3
    assert.equal(snapshot.metrics.ccr.level, 'critical'); // 0.5 < 0.7
    assert.equal(snapshot.metrics.pddMs.level, 'critical'); // 9000 > 8000
    assert.ok(Math.abs(snapshot.score - 0.3 * 0.3 * 0.3) < 1e-12);
  });

  it('takes media quality into a MOS metric, and probing down makes the score 0', () => {
    const health = new GatewayHealth('t/a', healthConfig(), new FakeClock());
    health.recordMedia({ lossFraction: 0.04, jitterMs: 0, rttMs: 0 });
    assert.equal(health.snapshot().metrics.mos.level, 'insufficient');
    health.recordMedia({ lossFraction: 0.06, jitterMs: 0, rttMs: 0 });
    const snapshot = health.snapshot();
    assert.ok(Math.abs((snapshot.media.lossFraction ?? 0) - 0.05) < 1e-12);
    assert.ok(Math.abs((snapshot.metrics.mos.value ?? 0) - 3.913077821796482) < 1e-9);
    assert.equal(snapshot.metrics.mos.level, 'ok');
    health.setLiveness('down');
    assert.equal(health.snapshot().score, 0);
    assert.equal(health.available, false);
    health.setLiveness('up');
    assert.equal(health.available, true);
  });
});

describe('E-model MOS (simplified ITU-T G.107)', () => {
  it('matches hand-computed values', () => {
    // Perfect network: d = 10 ms codec delay, Id = 0.24, R = 92.96.
    assert.ok(Math.abs(rFactor({ lossFraction: 0, jitterMs: 0, rttMs: 0 }) - 92.96) < 1e-9);
    assert.ok(Math.abs(estimateMos({ lossFraction: 0, jitterMs: 0, rttMs: 0 }) - 4.404592027648) < 1e-9);
    // RTT 400 ms: d = 210 ms, past the 177.3 ms knee: Id = 0.024·210 + 0.11·32.7.
    assert.ok(Math.abs(estimateMos({ lossFraction: 0, jitterMs: 0, rttMs: 400 }) - 4.184156614789171) < 1e-9);
    assert.equal(estimateMos({ lossFraction: 1, jitterMs: 500, rttMs: 2000 }), 1);
  });
});
