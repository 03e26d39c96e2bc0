import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AudioDecoder } from '../../src/media/index.js';
import { DelayManager } from '../../src/media/jitter/delay-manager.js';
import { AudioReceiver, simulatePlayout } from '../../src/media/jitter/index.js';
import { createOpusDecoder, createOpusEncoder } from '../../src/media/opus.js';
import type { ReceivedRtp } from '../../src/media/rtp/index.js';
import { FakeClock } from '../../src/util/index.js';
import { packet, sineDecoder } from './jitter-helpers.js';

const TICKS_PER_S = 8000;

/**
 * A steady 20 ms stream (5 ms transit) whose sequence numbers go on by one per packet, with
 * the timestamps from packet `at` on shifted by `stepS` seconds (a source switch under one SSRC).
 */
function steppedStream(count: number, at: number, stepS: number, marker = false): ReceivedRtp[] {
  return Array.from({ length: count }, (_, i) =>
    packet(i, i * 20 + 5, {
      timestamp: (i * 160 + (i >= at ? stepS * TICKS_PER_S : 0)) >>> 0,
      marker: i === 0 || (marker && i === at),
    }),
  );
}

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

test('a backward timestamp step under 10 s restarts the buffer instead of discarding the audio', () => {
  for (const [stepS, marker] of [
    [-5, false],
    [-5, true],
    [-2, false],
    [-9, true],
  ] as const) {
    const { receiver, decisions, targets } = simulatePlayout(
      sineDecoder(),
      steppedStream(1000, 500, stepS, marker),
      20_000,
    );
    const stats = receiver.stats();
    const silentOrConcealed = decisions
      .slice(490, 1000)
      .filter((d) => d === 'expand' || d === 'comfort_silence');
    assert.ok(silentOrConcealed.length <= 5, `${stepS} s: ${silentOrConcealed.length} frames lost`);
    assert.equal(stats.packetsDuplicated, 0, `${stepS} s`);
    assert.ok(stats.packetsLate <= 1, `${stepS} s: ${stats.packetsLate} late`);
    assert.ok(
      Math.max(...targets.slice(520)) <= 60,
      `${stepS} s: target up to ${Math.max(...targets.slice(520))}`,
    );
  }
});

test('a marker behind the playout point while waiting for a talkspurt starts a new stream', () => {
  const clock = new FakeClock();
  const receiver = new AudioReceiver(sineDecoder(), clock);
  for (let i = 0; i < 10; i++) {
    clock.advanceTo(i * 20);
    receiver.insert(packet(i, i * 20));
    receiver.pull();
  }
  // The far end goes quiet until the receiver waits for a talkspurt ...
  for (let t = 200; t < 600; t += 20) {
    clock.advanceTo(t);
    receiver.pull();
  }
  assert.equal(receiver.lastDecision, 'comfort_silence');
  // ... and its next talkspurt starts a frame behind what was played.
  for (let i = 0; i < 20; i++) {
    clock.advanceTo(600 + i * 20);
    receiver.insert(packet(10 + i, 600 + i * 20, { timestamp: (9 + i) * 160, marker: i === 0 }));
    receiver.pull();
  }
  assert.equal(receiver.stats().packetsLate, 0);
  assert.equal(receiver.stats().packetsDuplicated, 0);
  assert.equal(receiver.lastDecision, 'normal');
});

test('a forward timestamp step well beyond the buffer restarts instead of concealing until a flush', () => {
  const { receiver, decisions } = simulatePlayout(sineDecoder(), steppedStream(1000, 500, 3), 20_000);
  const lost = decisions.slice(490, 1000).filter((d) => d === 'expand' || d === 'comfort_silence');
  assert.ok(lost.length <= 5, `${lost.length} frames lost`);
  assert.ok(receiver.stats().packetsDiscarded <= 2, `${receiver.stats().packetsDiscarded} discarded`);
});

test('a DTX gap (timestamps and arrivals advance together) does not restart: the target is kept', () => {
  const jitter = (i: number) => 5 + ((i * 37) % 80);
  const arrivals = Array.from({ length: 1000 }, (_, i) => {
    const gap = i >= 500 ? 3000 : 0;
    return packet(i, i * 20 + gap + jitter(i), {
      timestamp: i * 160 + gap * 8,
      marker: i === 0 || i === 500,
    });
  });
  const { targets } = simulatePlayout(sineDecoder(), arrivals, 24_000);
  assert.ok((targets[499] ?? 0) >= 40, `target ${targets[499]}`);
  assert.ok((targets[660] ?? 0) >= (targets[499] ?? 0) - 10, `target ${targets[499]} -> ${targets[660]}`);
});

test('an Opus timestamp step that is no multiple of 2.5 ms is not learned as the packet duration', async () => {
  const encoder = await createOpusEncoder({
    sampleRate: 16000,
    application: 'voip',
    fec: true,
    packetLossPercent: 20,
  });
  const opusDecoder = await createOpusDecoder({ sampleRate: 16000 });
  const recoverSizes: number[] = [];
  const decoder: AudioDecoder = {
    name: opusDecoder.name,
    sampleRate: opusDecoder.sampleRate,
    rtpClockRate: opusDecoder.rtpClockRate,
    decode: (payload) => opusDecoder.decode(payload),
    conceal: (samples) => opusDecoder.conceal(samples),
    recoverFromNext: (payload, samples) => {
      recoverSizes.push(samples);
      return opusDecoder.recoverFromNext(payload, samples);
    },
    close: () => opusDecoder.close(),
  };
  const clock = new FakeClock();
  const receiver = new AudioReceiver(decoder, clock);
  const tone = Int16Array.from({ length: 320 }, (_, i) =>
    Math.round(8000 * Math.sin((2 * Math.PI * 300 * i) / 16000)),
  );
  const opus = (sequenceNumber: number, timestamp: number, arrivalMs: number): ReceivedRtp => ({
    sequenceNumber,
    timestamp,
    ssrc: 7,
    marker: sequenceNumber === 0,
    payloadType: 111,
    payload: encoder.encode(tone),
    arrivalMs,
  });
  const arrivals = Array.from({ length: 20 }, (_, i) => opus(i, i * 960, i * 20));
  // Consecutive sequence numbers 100 ticks apart, then a gap with a packet where the step says.
  arrivals.push(opus(20, 19 * 960 + 100, 400), opus(22, 20 * 960 + 100, 420), opus(23, 21 * 960, 440));
  for (let i = 24; i < 40; i++) arrivals.push(opus(i, (i - 2) * 960, (i - 2) * 20));
  let next = 0;
  for (let t = 10; t < 800; t += 20) {
    for (let p = arrivals[next]; p && p.arrivalMs <= t; p = arrivals[++next]) {
      clock.advanceTo(Math.max(clock.now(), p.arrivalMs));
      receiver.insert(p);
    }
    clock.advanceTo(t);
    assert.equal(receiver.pull().length, 320);
  }
  // Every FEC recovery asked for is a size Opus has (2.5 ms is 40 samples at 16 kHz).
  assert.deepEqual(
    recoverSizes.filter((samples) => samples % 40 !== 0),
    [],
  );
  encoder.close();
  decoder.close();
});

test('a decoder that cannot recover a frame from FEC conceals it instead of throwing', () => {
  const base = sineDecoder();
  const decoder: AudioDecoder = {
    ...base,
    decode: (payload) => base.decode(payload),
    conceal: (samples) => base.conceal(samples),
    recoverFromNext: () => {
      throw new RangeError('cannot decode that size');
    },
  };
  const arrivals = Array.from({ length: 100 }, (_, i) => packet(i, i * 20 + 5)).filter(
    (p) => p.sequenceNumber !== 50,
  );
  const { receiver, decisions } = simulatePlayout(decoder, arrivals, 2000, { minDelayMs: 60 });
  assert.ok(decisions.includes('expand'));
  assert.equal(receiver.stats().fecPacketsReceived, 0);
});
