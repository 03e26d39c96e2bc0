import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loopDelayMs } from '../../src/util/index.js';

const reading = (ns: number) => ({ percentile: () => ns });

test("an event-loop delay is the monitor's interval less its resolution, never below 0", () => {
  assert.equal(loopDelayMs(reading(10.5e6), 99), 0.5);
  assert.equal(loopDelayMs(reading(160e6), 99), 150);
  assert.equal(loopDelayMs(reading(9e6), 99), 0, 'a timer run early is not a negative delay');
  assert.equal(loopDelayMs(reading(Number.NaN), 99), 0, 'an empty histogram');
});
