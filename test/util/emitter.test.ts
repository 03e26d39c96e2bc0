import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TypedEmitter } from '../../src/util/index.js';

class Door extends TypedEmitter<{ opened: [by: string]; closed: [] }> {
  open(by: string): void {
    this.safeEmit('opened', by);
  }
  close(): void {
    this.safeEmit('closed');
  }
}

test('a throwing listener is reported and the listeners after it still run', () => {
  const errors: string[] = [];
  const door = new Door((event, error) => errors.push(`${event}: ${(error as Error).message}`));
  const seen: string[] = [];
  door.on('opened', () => {
    throw new Error('boom');
  });
  door.on('opened', (by) => seen.push(by));
  door.open('alice');
  assert.deepEqual(seen, ['alice']);
  assert.deepEqual(errors, ['opened: boom']);
});

test('once listeners run once; off removes', () => {
  const door = new Door();
  let closes = 0;
  let opens = 0;
  const onOpen = (): void => {
    opens++;
  };
  door.once('closed', () => closes++);
  door.on('opened', onOpen);
  door.close();
  door.close();
  door.open('bob');
  door.off('opened', onOpen);
  door.open('bob');
  assert.equal(closes, 1);
  assert.equal(opens, 1);
  assert.equal(door.listenerCount('closed'), 0);
});
