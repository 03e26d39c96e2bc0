import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReceiveStats } from '../../../src/media/rtp/receive-stats.js';

test('interarrival jitter matches a hand computation (RFC 3550 A.8)', () => {
  const stats = new ReceiveStats(1, 8000);
  // 20 ms packets; the third arrives 5 ms late. Transit (units): -1000, -1000, -960, -1000, -1000.
  const arrivals = [0, 20, 45, 60, 80];
  arrivals.forEach((ms, i) => {
    stats.update(100 + i, 1000 + 160 * i, ms, 160);
  });
  // |D| = 0, 40, 40, 0 -> J = 0, 2.5, 4.84375, 4.541015625 timestamp units.
  assert.equal(stats.jitterMs, 4.541015625 / 8);
  assert.equal(stats.makeReportBlock().jitter, 4);
});

test('jitter ignores packets repeating a timestamp (RFC 4733 event updates)', () => {
  const stats = new ReceiveStats(1, 8000);
  for (let i = 0; i < 5; i++) stats.update(i, 5000, i * 20, 4);
  assert.equal(stats.jitterMs, 0);
});

test('loss, extended highest sequence and fraction across the 65535 wrap (RFC 3550 A.1, A.3)', () => {
  const stats = new ReceiveStats(1, 8000);
  const sent = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const lost = new Set([65534, 3]);
  for (const seq of sent) if (!lost.has(seq)) stats.update(seq, seq * 160, 0, 160);
  assert.equal(stats.extendedHighestSequence, 65536 + 9);
  assert.equal(stats.expected, 16);
  assert.equal(stats.packetsReceived, 14);
  assert.equal(stats.cumulativeLost, 2);
  const block = stats.makeReportBlock();
  assert.equal(block.fractionLost, 32); // 2/16 * 256
  assert.equal(block.cumulativeLost, 2);
  assert.equal(block.extendedHighestSequence, 65545);
  assert.equal(stats.fractionLost, 0.125);
  // Next interval: no loss -> fraction 0, cumulative unchanged.
  for (let seq = 10; seq < 20; seq++) stats.update(seq, seq * 160, 0, 160);
  assert.equal(stats.makeReportBlock().fractionLost, 0);
  assert.equal(stats.cumulativeLost, 2);
});

test('a reordered start: a packet sent before the first to arrive is expected too, not negative loss', () => {
  const stats = new ReceiveStats(1, 8000);
  for (const seq of [2, 1, 1, 3, 4]) stats.update(seq, seq * 160, 0, 160);
  assert.equal(stats.outOfOrder, 1);
  assert.equal(stats.duplicates, 1);
  assert.equal(stats.expected, 4);
  assert.equal(stats.cumulativeLost, 0);
  // Across the wrap: 65535 was sent before 0, and 65534 is lost.
  const wrapped = new ReceiveStats(1, 8000);
  for (const seq of [0, 65535, 65533, 1]) wrapped.update(seq, seq * 160, 0, 160);
  assert.equal(wrapped.expected, 5);
  assert.equal(wrapped.cumulativeLost, 1);
  assert.equal(wrapped.makeReportBlock().cumulativeLost, 1);
});

test('a late packet fills its gap and counts as out of order; a repeat is a duplicate', () => {
  const stats = new ReceiveStats(1, 8000);
  for (const seq of [1, 2, 4, 5, 3, 5, 3, 2]) stats.update(seq, seq * 160, 0, 160);
  assert.equal(stats.outOfOrder, 1);
  assert.equal(stats.duplicates, 3);
  assert.equal(stats.packetsReceived, 5);
  assert.equal(stats.cumulativeLost, 0);
});

test('duplicate window survives wrap and long runs without false duplicates', () => {
  const stats = new ReceiveStats(1, 8000);
  let delivered = 0;
  // 5000 packets from 64000, with every 10th lost then delivered 3 packets late.
  for (let i = 0; i < 5000; i++) {
    const seq = (64000 + i) & 0xffff;
    if (i % 10 === 5) continue;
    if (stats.update(seq, i * 160, i * 20, 160)) delivered++;
    if (i % 10 === 8) if (stats.update((seq - 3) & 0xffff, (i - 3) * 160, i * 20, 160)) delivered++;
  }
  assert.equal(delivered, 5000);
  assert.equal(stats.duplicates, 0);
  assert.equal(stats.outOfOrder, 500);
  assert.equal(stats.cumulativeLost, 0);
});

test('a large jump is accepted as a restart only when the next packet confirms it', () => {
  const stats = new ReceiveStats(1, 8000);
  for (let seq = 0; seq < 10; seq++) stats.update(seq, seq * 160, 0, 160);
  assert.equal(stats.update(30000, 0, 0, 160), false); // stray packet
  assert.equal(stats.update(12, 12 * 160, 0, 160), true);
  assert.equal(stats.update(40000, 0, 0, 160), false);
  assert.equal(stats.update(40001, 160, 0, 160), true); // confirmed: sequence restarted
  assert.equal(stats.extendedHighestSequence, 40001);
  assert.equal(stats.cumulativeLost, 0);
});
