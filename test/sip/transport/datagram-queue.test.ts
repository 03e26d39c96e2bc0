import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DatagramQueue,
  type DatagramQueueLimits,
  DEFAULT_DATAGRAM_QUEUE_LIMITS,
} from '../../../src/sip/transport/datagram-queue.js';
import type { TransportAddress } from '../../../src/sip/types.js';

function harness(limits: Partial<DatagramQueueLimits> = {}, costMs = 0) {
  let now = 0;
  const deferred: Array<() => void> = [];
  const handled: string[] = [];
  const errors: string[] = [];
  const queue = new DatagramQueue({
    limits: { ...DEFAULT_DATAGRAM_QUEUE_LIMITS, ...limits },
    now: () => now,
    defer: (fn) => deferred.push(fn),
    handle: (data, source) => {
      now += costMs;
      const text = data.toString();
      if (text === 'throw') throw new Error('handler bug');
      handled.push(`${source.address}:${text}`);
    },
    onError: (_error, source) => errors.push(source.address),
  });
  const from = (address: string): TransportAddress => ({ transport: 'udp', address, port: 5060 });
  const push = (address: string, text: string) => queue.push(Buffer.from(text), from(address));
  /** Runs the turns queued so far (one loop turn each); returns how many ran. */
  const turn = () => {
    const due = deferred.splice(0);
    for (const fn of due) fn();
    return due.length;
  };
  return { queue, push, turn, handled, errors, deferred };
}

test('a source with one datagram waiting is served within a round, however much another has queued', () => {
  const h = harness();
  for (let i = 0; i < 100; i++) assert.ok(h.push('10.0.0.1', `flood-${i}`));
  assert.ok(h.push('10.0.0.2', 'options'));
  assert.equal(h.handled.length, 0, 'nothing is handled in the reading turn');
  h.turn();
  assert.deepEqual(h.handled.slice(0, 2), ['10.0.0.1:flood-0', '10.0.0.2:options']);
  assert.equal(h.handled.length, 101);
  // Each source's datagrams keep their order (an ACK after its INVITE, a BYE after its ACK).
  assert.deepEqual(
    h.handled.filter((entry) => entry.startsWith('10.0.0.1')),
    Array.from({ length: 100 }, (_, i) => `10.0.0.1:flood-${i}`),
  );
});

test('work per loop turn is bounded: past the budget the rest waits for a later turn', () => {
  const h = harness({ turnBudgetMs: 4 }, 1);
  for (let i = 0; i < 10; i++) h.push('10.0.0.1', `${i}`);
  assert.equal(h.turn(), 1);
  assert.equal(h.handled.length, 4);
  assert.equal(h.queue.waiting, 6);
  assert.equal(h.deferred.length, 1, 'the rest is scheduled once');
  h.push('10.0.0.3', 'late');
  assert.equal(h.deferred.length, 1, 'a new datagram joins the scheduled turn');
  h.turn();
  assert.deepEqual(h.handled.slice(4, 6).sort(), ['10.0.0.1:4', '10.0.0.3:late'], 'in the next round');
  while (h.turn() > 0);
  assert.equal(h.handled.length, 11);
  assert.equal(h.queue.waiting, 0);
});

test('each source is bounded in bytes, all sources together too, and a quiet source still gets in', () => {
  // An eighth of the total (3 bytes) is kept for sources with nothing queued.
  const h = harness({ maxBytesPerSource: 10, maxBytes: 25, maxSources: 3 });
  assert.ok(h.push('10.0.0.1', '12345'));
  assert.ok(h.push('10.0.0.1', '12345'));
  assert.equal(h.push('10.0.0.1', '1'), false, 'past its own share');
  assert.ok(h.push('10.0.0.2', '1234567890'));
  assert.equal(h.push('10.0.0.2', '12345'), false, 'past its own share');
  assert.ok(h.push('10.0.0.3', '12345'), 'nothing queued from it: taken into the reserve');
  assert.equal(h.push('10.0.0.3', '1'), false, 'past the total');
  assert.equal(h.push('10.0.0.4', '1'), false, 'too many sources waiting');
  h.turn();
  assert.equal(h.handled.length, 4);
  assert.ok(h.push('10.0.0.4', '1'), 'room again once handled');
});

test('the total holds for every datagram, also from sources with nothing queued (spoofed addresses)', () => {
  const h = harness({ maxBytesPerSource: 1000, maxBytes: 800, maxSources: 1000 });
  let taken = 0;
  for (let i = 0; i < 1000; i++) if (h.push(`10.0.${i >> 8}.${i & 255}`, 'x'.repeat(100))) taken++;
  assert.equal(taken, 8, 'eight new sources of 100 bytes fill 800 bytes');
  assert.equal(h.push('10.9.9.9', 'x'), false, 'past the total');
  h.turn();
  assert.equal(h.handled.length, 8);
  assert.ok(h.push('10.9.9.9', 'x'), 'room again once handled');
});

test('sources with datagrams queued leave the last eighth of the total to sources with none', () => {
  const h = harness({ maxBytesPerSource: 1000, maxBytes: 800, maxSources: 1000 });
  for (const source of ['10.0.0.1', '10.0.0.2']) {
    for (let i = 0; i < 7; i++) h.push(source, 'x'.repeat(50));
  }
  assert.equal(h.queue.waiting, 14, '700 bytes queued: the two flooders reached 800 - 800/8');
  assert.equal(h.push('10.0.0.1', 'x'), false);
  assert.ok(h.push('10.0.0.3', 'x'.repeat(100)), "a quiet source's datagram is taken");
  assert.equal(h.push('10.0.0.4', 'x'), false, 'the reserve is full');
});

test('a handler that throws is reported and the turn goes on; close drops what waits', () => {
  const h = harness();
  h.push('10.0.0.1', 'throw');
  h.push('10.0.0.2', 'fine');
  h.turn();
  assert.deepEqual(h.errors, ['10.0.0.1']);
  assert.deepEqual(h.handled, ['10.0.0.2:fine']);
  h.push('10.0.0.1', 'after');
  h.queue.close();
  h.turn();
  assert.equal(h.push('10.0.0.1', 'closed'), false);
  assert.deepEqual(h.handled, ['10.0.0.2:fine']);
  assert.equal(h.queue.waiting, 0);
});

test('a source that never empties its queue keeps a bounded array', () => {
  const h = harness({ turnBudgetMs: 1 }, 1);
  for (let round = 0; round < 200; round++) {
    for (let i = 0; i < 5; i++) h.push('10.0.0.1', `${round}-${i}`);
    h.turn();
  }
  assert.ok(h.queue.waiting <= 1000);
  assert.equal(h.handled.length + h.queue.waiting, 1000);
  assert.equal(h.handled[199], '10.0.0.1:39-4', 'in order throughout');
});
