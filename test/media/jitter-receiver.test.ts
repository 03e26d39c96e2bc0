import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AudioReceiver, simulatePlayout } from '../../src/media/jitter/index.js';
import { FakeClock } from '../../src/util/index.js';
import { packet, sineDecoder } from './jitter-helpers.js';

function steadyStream(count: number, delayOf: (i: number) => number = () => 5) {
  return Array.from({ length: count }, (_, i) => packet(i, i * 20 + delayOf(i)));
}

function count<T>(items: readonly T[], value: T): number {
  return items.filter((x) => x === value).length;
}

test('steady stream plays normally with a target near the minimum', () => {
  const { receiver, decisions } = simulatePlayout(sineDecoder(), steadyStream(250), 5000);
  const after = decisions.slice(10);
  assert.ok(count(after, 'normal') >= after.length - 2, `decisions: ${[...new Set(after)]}`);
  assert.ok(receiver.targetDelayMs() <= 30, `target ${receiver.targetDelayMs()}`);
  const stats = receiver.stats();
  assert.equal(stats.packetsDiscarded, 0);
  assert.equal(stats.concealmentEvents, 0);
  const meanDelayMs = (stats.jitterBufferDelay / stats.jitterBufferEmittedCount) * 1000;
  assert.ok(meanDelayMs < 40, `mean delay ${meanDelayMs}`);
});

test('a jitter step up raises the target within two seconds, and it decays after', () => {
  // 10 s clean, then 10 s with up to 80 ms jitter, then 50 s clean again: at the default
  // 0.99 quantile and 0.998 forgetting the burst's tail stays above 1 % of the histogram
  // for ~40 s.
  const jitter = (i: number) => (i >= 500 && i < 1000 ? 5 + ((i * 37) % 80) : 5);
  const { targets } = simulatePlayout(sineDecoder(), steadyStream(3500, jitter), 70_000);
  const before = targets[495] ?? 0;
  const twoSecondsIn = targets[600] ?? 0;
  assert.ok(twoSecondsIn >= before + 40, `target ${before} -> ${twoSecondsIn}`);
  const end = targets.at(-1) ?? 0;
  assert.ok(end < twoSecondsIn - 30, `target did not decay: ${end}`);
});

test('a lost packet is concealed with expand, then merged', () => {
  const arrivals = steadyStream(100).filter((p) => p.sequenceNumber !== 50);
  const { receiver, decisions } = simulatePlayout(sineDecoder(), arrivals, 2000);
  const expandAt = decisions.indexOf('expand', 10);
  assert.ok(expandAt > 0);
  assert.equal(decisions[expandAt + 1], 'merge');
  const stats = receiver.stats();
  assert.equal(stats.concealmentEvents, 1);
  assert.equal(stats.concealedSamples, 160);
  assert.equal(stats.packetsLate, 0);
});

test('duplicates, late packets and reordering are counted', () => {
  const clock = new FakeClock();
  const receiver = new AudioReceiver(sineDecoder(), clock);
  receiver.insert(packet(0, 0));
  receiver.insert(packet(0, 1));
  assert.equal(receiver.stats().packetsDuplicated, 1);
  receiver.insert(packet(2, 2));
  receiver.insert(packet(1, 3)); // reordered but in time
  for (let t = 20; t <= 80; t += 20) {
    clock.advanceTo(t);
    receiver.pull();
  }
  receiver.insert(packet(1, 81)); // already played: duplicate
  // Packet 4 never arrives before 5 is due; 5 and 6 are present, so 4 is declared lost.
  receiver.insert(packet(5, 82));
  receiver.insert(packet(6, 83));
  receiver.insert(packet(3, 84));
  for (let t = 100; t <= 160; t += 20) {
    clock.advanceTo(t);
    receiver.pull();
  }
  receiver.insert(packet(4, 161)); // after its playout: late
  const stats = receiver.stats();
  assert.equal(stats.packetsDuplicated, 2);
  assert.equal(stats.packetsLate, 1);
  assert.equal(stats.packetsDiscarded, 1);
  assert.equal(stats.packetsReceived, 9);
});

test('sequence and timestamp wrap play through without loss', () => {
  const base = 0xffffffff - 160 * 20;
  const arrivals = Array.from({ length: 100 }, (_, i) =>
    packet(i, i * 20 + 5, {
      sequenceNumber: (65500 + i) & 0xffff,
      timestamp: (base + i * 160) >>> 0,
      marker: i === 0,
    }),
  );
  const { receiver, decisions } = simulatePlayout(sineDecoder(), arrivals, 2000);
  const stats = receiver.stats();
  assert.equal(
    stats.packetsLate + stats.packetsDiscarded + stats.concealmentEvents,
    0,
    JSON.stringify(stats),
  );
  assert.ok(count(decisions.slice(5), 'normal') >= 90);
});

test('an SSRC change restarts the stream', () => {
  const first = steadyStream(50);
  const second = Array.from({ length: 50 }, (_, i) =>
    packet(i, 1000 + i * 20 + 5, { ssrc: 2, timestamp: 123456 + i * 160, marker: i === 0 }),
  );
  const { receiver, decisions } = simulatePlayout(sineDecoder(), [...first, ...second], 2000);
  assert.equal(receiver.stats().packetsLate, 0);
  assert.ok(count(decisions.slice(-40), 'normal') >= 38);
});

test('the buffer stays bounded under a flood and pull always returns one frame', () => {
  const clock = new FakeClock();
  const receiver = new AudioReceiver(sineDecoder(), clock, { maxPackets: 50 });
  for (let i = 0; i < 1000; i++) receiver.insert(packet(i, 0));
  assert.ok(receiver.currentDelayMs() <= 50 * 20);
  assert.equal(receiver.stats().packetsDiscarded, 950);
  for (let t = 20; t < 2000; t += 20) {
    clock.advanceTo(t);
    assert.equal(receiver.pull().length, 160);
  }
});

test('a DTX gap plays comfort silence, and the next talkspurt starts without late packets', () => {
  const talk = (from: number, to: number) =>
    steadyStream(to)
      .slice(from)
      .map((p, k) => ({ ...p, marker: k === 0 }));
  const { receiver, decisions } = simulatePlayout(sineDecoder(), [...talk(0, 100), ...talk(150, 250)], 5000);
  assert.ok(count(decisions, 'comfort_silence') >= 40);
  const stats = receiver.stats();
  assert.equal(stats.packetsLate, 0);
  assert.ok(stats.silentConcealedSamples > 0 && stats.silentConcealedSamples <= stats.concealedSamples);
});

test('stats are consistent: mean delay equals jitterBufferDelay / emitted, totals add up', () => {
  const { receiver, decisions } = simulatePlayout(
    sineDecoder(),
    steadyStream(200, (i) => (i * 13) % 40),
    4000,
  );
  const stats = receiver.stats();
  assert.equal(stats.totalSamplesReceived, decisions.length * 160);
  assert.ok(stats.jitterBufferEmittedCount <= stats.totalSamplesReceived);
  const meanDelay = stats.jitterBufferDelay / stats.jitterBufferEmittedCount;
  assert.ok(meanDelay > 0 && meanDelay < 0.2);
  assert.ok(stats.jitterBufferTargetDelay > 0);
});

test('malformed input is counted as discarded, never thrown', () => {
  const clock = new FakeClock();
  const receiver = new AudioReceiver(sineDecoder(), clock);
  receiver.insert(packet(0, Number.NaN));
  receiver.insert(packet(1, 0, { timestamp: 1.5 }));
  assert.equal(receiver.stats().packetsDiscarded, 2);
  clock.advanceTo(20);
  assert.equal(receiver.pull().length, 160);
});
