import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AudioDecoder } from '../../src/media/index.js';
import { AudioReceiver, simulatePlayout } from '../../src/media/jitter/index.js';
import { FakeClock } from '../../src/util/index.js';
import { noiseDecoder, packet, sineDecoder } from './jitter-helpers.js';

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

/** Decodes a packet to a ramp continuing the previous one: sample k of packet i is i·n + k (mod 2^15). */
function rampDecoder(): AudioDecoder {
  return {
    name: 'ramp',
    sampleRate: 8000,
    rtpClockRate: 8000,
    decode: (payload) => {
      const index = (payload[0] ?? 0) | ((payload[1] ?? 0) << 8) | ((payload[2] ?? 0) << 16);
      return Int16Array.from({ length: payload.length }, (_, k) => (index * payload.length + k) % 0x8000);
    },
    conceal: (samples) => new Int16Array(samples).fill(-1),
    close: () => {},
  };
}

/**
 * `packetMs` packets sent every `packetMs` with ±1 ms uniform jitter, starting `phaseMs`
 * after a 20 ms pull; returns the decisions and the PCM of every pull.
 */
function cleanStream(packetMs: number, phaseMs: number, seconds: number) {
  const samples = packetMs * 8;
  const clock = new FakeClock(0);
  const receiver = new AudioReceiver(rampDecoder(), clock);
  let seed = Math.round(phaseMs * 1000) + 1;
  const uniform = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const arrivals = Array.from({ length: Math.floor((seconds * 1000) / packetMs) }, (_, i) => {
    const payload = new Uint8Array(samples);
    payload.set([i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff]);
    return packet(i, phaseMs + i * packetMs + 1 + (2 * uniform() - 1), { timestamp: i * samples, payload });
  }).sort((a, b) => a.arrivalMs - b.arrivalMs);
  const decisions: string[] = [];
  const frames: Int16Array[] = [];
  let next = 0;
  for (let t = 20; t <= seconds * 1000; t += 20) {
    for (let p = arrivals[next]; p && p.arrivalMs <= t; p = arrivals[++next]) {
      clock.advanceTo(p.arrivalMs);
      receiver.insert(p);
    }
    clock.advanceTo(t);
    frames.push(receiver.pull());
    decisions.push(receiver.lastDecision);
  }
  return { decisions, frames };
}

for (const packetMs of [20, 30, 60]) {
  test(`a clean ${packetMs} ms stream with ±1 ms jitter is never time-stretched, at any phase to the pulls`, () => {
    for (let phaseMs = 0.3; phaseMs < 20; phaseMs += 0.7) {
      const { decisions, frames } = cleanStream(packetMs, phaseMs, 30);
      const after = decisions.slice(50);
      const stretched = after.filter((d) => d !== 'normal');
      assert.deepEqual(
        stretched,
        [],
        `phase ${phaseMs} ms: ${stretched.length} of ${after.length} pulls not normal`,
      );
      const pcm = frames.slice(50).flatMap((f) => [...f]);
      for (let i = 1; i < pcm.length; i++) {
        if (pcm[i] !== ((pcm[i - 1] ?? 0) + 1) % 0x8000)
          assert.fail(`phase ${phaseMs} ms: sample ${i} is ${pcm[i]} after ${pcm[i - 1]}`);
      }
    }
  });
}

test('a packet the playout point has passed is discarded, not played by rewinding', () => {
  const decoder = sineDecoder();
  const decoded: number[] = [];
  const decode = decoder.decode;
  decoder.decode = (payload) => {
    decoded.push(payload[0] ?? -1);
    return decode(payload);
  };
  // Packet 3 decodes to 40 ms although the timestamps step 20 ms: it covers packet 4, which
  // is already buffered (all ten arrive in one burst).
  const arrivals = Array.from({ length: 10 }, (_, i) =>
    packet(i, 5, { payload: new Uint8Array(i === 3 ? 320 : 160).fill(i) }),
  );
  const { receiver } = simulatePlayout(decoder, arrivals, 400);
  assert.deepEqual(decoded, [0, 1, 2, 3, 5, 6, 7, 8, 9]);
  assert.equal(receiver.stats().packetsDiscarded, 1);
});

/**
 * A packet every 20 ms arriving 5 ms late; the pulls stop for `stallMs` from 10 s on (a loop
 * held up past the media clock's catch-up), so that much audio is left standing. The buffer's
 * level (ms) after each pull, by the pull's time.
 */
function levelsAfterStall(decoder: AudioDecoder, stallMs: number, durationMs: number): Map<number, number> {
  const clock = new FakeClock(0);
  const receiver = new AudioReceiver(decoder, clock);
  const levels = new Map<number, number>();
  for (let i = 0; i * 20 < durationMs; i++) {
    clock.advanceTo(i * 20 + 5);
    receiver.insert(packet(i, i * 20 + 5));
    clock.advanceTo(i * 20 + 10);
    if (i * 20 >= 10_000 && i * 20 < 10_000 + stallMs) continue;
    receiver.pull();
    levels.set(i * 20, receiver.currentDelayMs());
  }
  return levels;
}

test('a second a stall left standing in loud noise is given back within two seconds', () => {
  // Noise has no pitch period, so accelerate leaves it alone, and before this the second
  // stood to the end of the call. Far above the limit, every packet gives back as much as
  // one accelerate may (10 ms of 20).
  const levels = levelsAfterStall(noiseDecoder(), 1000, 20_000);
  assert.ok((levels.get(11_000) ?? 0) > 900, `level after the stall ${levels.get(11_000)}`);
  assert.ok((levels.get(13_000) ?? Infinity) < 40, `level 2 s after the stall ${levels.get(13_000)}`);
  assert.ok((levels.get(19_980) ?? Infinity) < 40, `level at the end ${levels.get(19_980)}`);
});

test('a smaller excess standing in noise for a second is given back too', () => {
  // 150 ms: under the far-too-late excess, so only its standing a second marks it.
  const levels = levelsAfterStall(noiseDecoder(), 150, 20_000);
  assert.ok((levels.get(10_200) ?? 0) > 130, `level after the stall ${levels.get(10_200)}`);
  assert.ok((levels.get(12_500) ?? Infinity) < 40, `level 2.3 s after the stall ${levels.get(12_500)}`);
});

test('a clean noise stream is never time-stretched', () => {
  const { decisions } = simulatePlayout(noiseDecoder(), steadyStream(1500), 30_000);
  const stretched = decisions.filter(
    (decision) => decision === 'accelerate' || decision === 'preemptive_expand',
  );
  assert.equal(stretched.length, 0);
});

test('three seconds a stall left are flushed at once to the target, counted, and play resumes from the newest', () => {
  // Beyond three times max(500 ms, target), NetEQ's smart flushing: shortening it packet by
  // packet would cost every such call a pitch search per packet for seconds.
  const clock = new FakeClock(0);
  const receiver = new AudioReceiver(noiseDecoder(), clock);
  const levels: number[] = [];
  for (let i = 0; i < 1000; i++) {
    clock.advanceTo(i * 20 + 5);
    receiver.insert(packet(i, i * 20 + 5));
    clock.advanceTo(i * 20 + 10);
    if (i >= 500 && i < 650) continue; // 3 s without a pull
    receiver.pull();
    levels.push(receiver.currentDelayMs());
  }
  const afterStall = levels[500] ?? Infinity;
  assert.ok(afterStall <= receiver.targetDelayMs() + 20, `level after the stall ${afterStall}`);
  assert.ok(receiver.stats().packetsDiscarded >= 140, `discarded ${receiver.stats().packetsDiscarded}`);
  assert.ok(
    levels.slice(500).every((ms) => ms < 60),
    'and stays near the target',
  );
});
