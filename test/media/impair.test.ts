import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Impairer, impair, parseImpairSpec } from '../../src/media/index.js';

const sent = Array.from({ length: 20000 }, (_, i) => ({ packet: i, sendMs: i * 20 }));

test('the same seed gives the same arrivals; another seed differs', () => {
  const options = {
    lossPercent: 5,
    meanBurstLength: 2,
    jitterMs: 30,
    reorderPercent: 1,
    duplicatePercent: 1,
    seed: 7,
  };
  assert.deepEqual(impair(sent.slice(0, 500), options), impair(sent.slice(0, 500), options));
  assert.notDeepEqual(
    impair(sent.slice(0, 500), options),
    impair(sent.slice(0, 500), { ...options, seed: 8 }),
  );
});

test('Gilbert-Elliott loss matches the loss rate and mean burst length', () => {
  const arrived = new Set(impair(sent, { lossPercent: 5, meanBurstLength: 3, seed: 3 }).map((a) => a.packet));
  const lost = sent.length - arrived.size;
  assert.ok(Math.abs(lost / sent.length - 0.05) < 0.01, `loss ${lost / sent.length}`);
  let bursts = 0;
  for (let i = 0; i < sent.length; i++) if (!arrived.has(i) && arrived.has(i - 1)) bursts++;
  assert.ok(Math.abs(lost / bursts - 3) < 0.4, `burst ${lost / bursts}`);
});

test('jitter has the requested mean for pareto and gaussian; output is sorted by arrival', () => {
  for (const jitterDistribution of ['pareto', 'gaussian'] as const) {
    const arrivals = impair(sent, { jitterMs: 40, jitterDistribution, seed: 5 });
    const meanExtra = arrivals.reduce((sum, a) => sum + a.arrivalMs - a.packet * 20, 0) / arrivals.length;
    assert.ok(Math.abs(meanExtra - 40) < 3, `${jitterDistribution} mean ${meanExtra}`);
    for (let i = 1; i < arrivals.length; i++)
      assert.ok((arrivals[i]?.arrivalMs ?? 0) >= (arrivals[i - 1]?.arrivalMs ?? 0));
  }
});

test('reordering and duplicates appear at the requested rates', () => {
  const arrivals = impair(sent, { reorderPercent: 2, duplicatePercent: 1, seed: 11 });
  const duplicates = arrivals.length - sent.length;
  assert.ok(Math.abs(duplicates / sent.length - 0.01) < 0.003, `dup ${duplicates}`);
  let reordered = 0;
  for (let i = 1; i < arrivals.length; i++)
    if ((arrivals[i]?.packet ?? 0) < (arrivals[i - 1]?.packet ?? 0)) reordered++;
  assert.ok(reordered / sent.length > 0.01 && reordered / sent.length < 0.04, `reorder ${reordered}`);
});

test('drift compresses or stretches the arrival timeline by the ppm', () => {
  const fast = impair(sent, { driftPpm: 100 });
  const slow = impair(sent, { driftPpm: -100 });
  const span = (sent.at(-1)?.sendMs ?? 0) - 0;
  assert.ok(Math.abs((fast.at(-1)?.arrivalMs ?? 0) - span * (1 - 100e-6)) < 0.1);
  assert.ok(Math.abs((slow.at(-1)?.arrivalMs ?? 0) - span * (1 + 100e-6)) < 0.1);
});

/** The replay example `loss=5,burst=2,jitter=40,reorder=1,dup=1,drift=100,seed=7`, parsed. */
const EVERY_IMPAIRMENT = {
  lossPercent: 5,
  meanBurstLength: 2,
  jitterMs: 40,
  reorderPercent: 1,
  duplicatePercent: 1,
  driftPpm: 100,
  seed: 7,
};

test('parseImpairSpec reads the replay syntax and rejects bad input clearly', () => {
  assert.deepEqual(
    parseImpairSpec('loss=5,burst=2,jitter=40,reorder=1,dup=1,drift=100,seed=7'),
    EVERY_IMPAIRMENT,
  );
  assert.deepEqual(parseImpairSpec('jitter=20,dist=gaussian'), {
    jitterMs: 20,
    jitterDistribution: 'gaussian',
  });
  assert.throws(() => parseImpairSpec('los=5'), /unknown impairment "los"/);
  assert.throws(() => parseImpairSpec('constructor=5'), /unknown impairment "constructor"/);
  assert.throws(() => parseImpairSpec('toString=1'), /unknown impairment "toString"/);
  assert.throws(() => parseImpairSpec('loss=abc'), /not a number/);
  assert.throws(() => parseImpairSpec('loss=150'), /out of range/);
  assert.throws(() => parseImpairSpec('seed=1.5'), /integer/);
  assert.throws(() => parseImpairSpec('loss'), /expected key=value/);
  assert.throws(() => parseImpairSpec('loss=1,loss=2'), /twice/);
  assert.throws(() => parseImpairSpec('dist=uniform'), /pareto or gaussian/);
});

test('the streaming Impairer gives the batch model arrivals, packet by packet', () => {
  const options = EVERY_IMPAIRMENT;
  const impairer = new Impairer(options);
  const streamed = sent
    .flatMap(({ packet, sendMs }) => impairer.apply(packet, sendMs))
    .sort((a, b) => a.arrivalMs - b.arrivalMs);
  assert.deepEqual(streamed, impair(sent, options));
});
