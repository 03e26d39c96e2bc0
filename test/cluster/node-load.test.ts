import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DelayHistogram, NodeLoad, type OverloadThresholds } from '../../src/cluster/index.js';
import { FakeClock } from '../../src/util/index.js';

class FakeHistogram implements DelayHistogram {
  p99Ns = 0;
  resets = 0;
  enabled = false;
  percentile(): number {
    return this.p99Ns;
  }
  reset(): void {
    this.resets++;
  }
  enable(): void {
    this.enabled = true;
  }
  disable(): void {
    this.enabled = false;
  }
}

function setup(overload?: OverloadThresholds) {
  const clock = new FakeClock();
  const histogram = new FakeHistogram();
  const state = { calls: 0, maxCalls: 3, draining: false };
  const load = new NodeLoad({
    clock,
    histogram,
    activeCalls: () => state.calls,
    maxCalls: () => state.maxCalls,
    draining: () => state.draining,
    overload: () => overload,
  });
  return { clock, histogram, state, load };
}

test('OPTIONS: 200 with the load header, 503 at maxCalls and while draining', () => {
  const { state, load } = setup();
  assert.equal(load.optionsStatus(), undefined);
  assert.deepEqual(load.headers(), [['X-Patchbay-Calls', '0/3']]);
  state.calls = 3;
  assert.equal(load.condition(), 'full');
  assert.equal(load.optionsStatus(), 503);
  assert.deepEqual(load.headers(), [['X-Patchbay-Calls', '3/3']]);
  state.calls = 1;
  state.draining = true;
  assert.equal(load.condition(), 'draining');
  load.close();
});

test('overload: the last window’s p99 event-loop delay over the threshold turns OPTIONS to 503', () => {
  const { clock, histogram, load } = setup({ eventLoopDelayP99Ms: 100, windowSec: 2 });
  histogram.p99Ns = 150e6;
  assert.equal(load.condition(), 'ok', 'no window closed yet');
  clock.advance(2000);
  assert.equal(load.eventLoopDelayP99Ms, 150);
  assert.equal(load.condition(), 'overloaded');
  assert.equal(histogram.resets, 1, 'each window starts afresh');
  histogram.p99Ns = 20e6;
  clock.advance(2000);
  assert.equal(load.condition(), 'ok');
  load.close();
  load.close();
  assert.equal(histogram.enabled, false);
});

test('without overload thresholds the delay alone never refuses', () => {
  const { clock, histogram, load } = setup();
  histogram.p99Ns = 5e9;
  clock.advance(5000);
  assert.equal(load.condition(), 'ok');
  load.close();
});
