import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../../src/util/index.js';
import { lossModel } from './loss-model.js';

const DRAWS = 200_000;

/** The drop share and the mean run of consecutive drops over DRAWS decisions. */
function measure(drop: () => boolean): { share: number; meanRun: number } {
  let dropped = 0;
  let runs = 0;
  let previous = false;
  for (let i = 0; i < DRAWS; i++) {
    const now = drop();
    dropped += now ? 1 : 0;
    if (now && !previous) runs++;
    previous = now;
  }
  return { share: dropped / DRAWS, meanRun: runs === 0 ? 0 : dropped / runs };
}

test('uniform loss: the share asked for, in runs of 1 / (1 - loss)', () => {
  const { share, meanRun } = measure(lossModel({ lossRate: 0.1 }, seededRandom(1)));
  assert.ok(Math.abs(share - 0.1) < 0.005, `share ${share}`);
  assert.ok(Math.abs(meanRun - 1 / 0.9) < 0.03, `mean run ${meanRun}`);
});

test('Gilbert-Elliott loss: the share asked for, in bursts of the mean length asked for', () => {
  for (const [lossRate, meanBurstPackets] of [
    [0.05, 3],
    [0.1, 3],
    [0.2, 5],
  ] as const) {
    const { share, meanRun } = measure(lossModel({ lossRate, meanBurstPackets }, seededRandom(2)));
    assert.ok(Math.abs(share - lossRate) < lossRate * 0.1, `${lossRate}/${meanBurstPackets}: share ${share}`);
    assert.ok(
      Math.abs(meanRun - meanBurstPackets) < meanBurstPackets * 0.1,
      `${lossRate}/${meanBurstPackets}: mean run ${meanRun}`,
    );
  }
});

test('the same seed gives the same drops', () => {
  const a = lossModel({ lossRate: 0.1, meanBurstPackets: 3 }, seededRandom(7));
  const b = lossModel({ lossRate: 0.1, meanBurstPackets: 3 }, seededRandom(7));
  for (let i = 0; i < 1000; i++) assert.equal(a(), b());
});

test('no loss drops nothing; total loss drops everything', () => {
  assert.equal(measure(lossModel({ lossRate: 0, meanBurstPackets: 3 }, seededRandom(3))).share, 0);
  assert.equal(measure(lossModel({ lossRate: 1, meanBurstPackets: 3 }, seededRandom(3))).share, 1);
  assert.equal(measure(lossModel({ lossRate: 0 }, seededRandom(3))).share, 0);
});

test('a rate outside 0..1 or a burst under one packet is refused', () => {
  assert.throws(() => lossModel({ lossRate: 1.5 }, Math.random), RangeError);
  assert.throws(() => lossModel({ lossRate: 0.1, meanBurstPackets: 0.5 }, Math.random), RangeError);
});
