import assert from 'node:assert/strict';
import type { Socket } from 'node:dgram';
import { test } from 'node:test';
import { SendBatch } from '../../../src/media/rtp/send-batch.js';

/** A socket that records its sends (or throws, as a closed dgram socket does). */
function fakeSocket(name: string, sent: string[], closed = false): Socket {
  return {
    send(packet: Uint8Array, port: number, address: string, callback: (error: Error | null) => void) {
      if (closed) throw new Error('Not running');
      sent.push(`${name}:${packet[0]}->${address}:${port}`);
      callback(null);
    },
  } as unknown as Socket;
}

/** A scheduler the test runs by hand: the end of the loop turn. */
function manualTurns(): {
  schedule: (flush: () => void) => void;
  endTurn: () => void;
  pending: () => number;
} {
  const flushes: Array<() => void> = [];
  return {
    schedule: (flush) => flushes.push(flush),
    endTurn: () => {
      for (const flush of flushes.splice(0)) flush();
    },
    pending: () => flushes.length,
  };
}

test('a turn of sends goes out in one run at its end, in the order queued, with one flush scheduled', () => {
  const turns = manualTurns();
  const batch = new SendBatch(turns.schedule);
  const wire: string[] = [];
  const [a, b] = [fakeSocket('a', wire), fakeSocket('b', wire)];
  let freed = 0;
  const done = (error: Error | null) => {
    assert.equal(error, null);
    freed++;
  };
  batch.send(a, Uint8Array.of(1), 4000, '127.0.0.1', done);
  batch.send(b, Uint8Array.of(2), 4002, '127.0.0.2', done);
  batch.send(a, Uint8Array.of(3), 4000, '127.0.0.1', done);
  assert.deepEqual(wire, [], 'nothing leaves before the turn ends');
  assert.equal(batch.queued, 3);
  assert.equal(turns.pending(), 1, 'one flush for the whole turn');
  turns.endTurn();
  assert.deepEqual(wire, ['a:1->127.0.0.1:4000', 'b:2->127.0.0.2:4002', 'a:3->127.0.0.1:4000']);
  assert.equal(freed, 3);
  assert.equal(batch.queued, 0);

  // The next turn schedules its own flush and reuses the entries.
  batch.send(b, Uint8Array.of(4), 4002, '127.0.0.2', done);
  assert.equal(turns.pending(), 1);
  turns.endTurn();
  assert.deepEqual(wire.at(-1), 'b:4->127.0.0.2:4002');
  assert.equal(freed, 4);
});

test('a socket closed before the run fails its own packets; the others still go', () => {
  const turns = manualTurns();
  const batch = new SendBatch(turns.schedule);
  const wire: string[] = [];
  const errors: string[] = [];
  const closed = fakeSocket('closed', wire, true);
  const open = fakeSocket('open', wire);
  batch.send(closed, Uint8Array.of(1), 4000, '127.0.0.1', (error) => errors.push(error?.message ?? 'none'));
  batch.send(open, Uint8Array.of(2), 4002, '127.0.0.1', (error) => errors.push(error?.message ?? 'none'));
  turns.endTurn();
  assert.deepEqual(errors, ['Not running', 'none']);
  assert.deepEqual(wire, ['open:2->127.0.0.1:4002']);
});

test('a turn larger than the kept entries still sends every packet, and the next turns too', () => {
  const turns = manualTurns();
  const batch = new SendBatch(turns.schedule);
  const wire: string[] = [];
  const socket = fakeSocket('s', wire);
  for (let turn = 0; turn < 2; turn++) {
    for (let i = 0; i < 3000; i++) batch.send(socket, Uint8Array.of(i & 0xff), 4000, '127.0.0.1', () => {});
    turns.endTurn();
  }
  assert.equal(wire.length, 6000);
  assert.equal(wire[2999], 's:183->127.0.0.1:4000'); // 2999 & 0xff: in order to the last
});
