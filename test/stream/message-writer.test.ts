import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asciiPiece, MessageWriter } from '../../src/stream/message-writer.js';

test('base64 matches Buffer for every length of remainder, and decimals match String()', () => {
  const writer = new MessageWriter(4); // small, so writing grows it
  for (let length = 0; length < 70; length++) {
    const bytes = Uint8Array.from({ length }, (_, i) => (i * 73 + length * 11) & 0xff);
    const text = writer.begin().base64(bytes).message().toString('latin1');
    assert.equal(text, Buffer.from(bytes).toString('base64'), `length ${length}`);
  }
  for (const value of [0, 7, 9, 10, 99, 100, 65535, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
    assert.equal(writer.begin().decimal(value).message().toString('latin1'), String(value));
  }
  assert.throws(() => writer.decimal(-1), RangeError);
  assert.throws(() => writer.decimal(1.5), RangeError);
});

test('pieces are written in order; a message of a length seen before reuses its buffer', () => {
  const writer = new MessageWriter();
  const open = asciiPiece('{"n":"');
  const close = asciiPiece('"}');
  const first = writer.begin().piece(open).decimal(12).piece(close).message();
  assert.equal(first.toString('latin1'), '{"n":"12"}');
  const second = writer.begin().piece(open).decimal(34).piece(close).message();
  assert.equal(second, first);
  assert.equal(second.toString('latin1'), '{"n":"34"}');
  assert.throws(() => asciiPiece('é'), RangeError);
  assert.throws(() => asciiPiece('line\n'), RangeError);
});
