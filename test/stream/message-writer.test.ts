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

test('pieces left in place from the message before are right whatever the shape and widths that follow', () => {
  const writer = new MessageWriter(8); // small, so some messages grow it midway
  const head = asciiPiece('{"seq":"');
  const middle = asciiPiece('","payload":"');
  const other = asciiPiece('","other":"');
  const tail = asciiPiece('"}');
  const expected: string[] = [];
  const written: string[] = [];
  let seed = 1;
  const next = (bound: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % bound;
  };
  for (let i = 0; i < 2000; i++) {
    // Mostly one shape with numbers that sometimes change width; now and then another shape,
    // or a message with fewer pieces, whose bytes land where the usual pieces were.
    const value = [7, 42, 999, 1000, 123456][next(5)] as number;
    const payload = Uint8Array.from({ length: [3, 4, 160][next(3)] as number }, () => next(256));
    const shape = next(10);
    writer.begin().piece(head).decimal(value);
    let json = `{"seq":"${value}`;
    if (shape === 0) {
      writer.base64(payload).piece(tail);
      json += `${Buffer.from(payload).toString('base64')}"}`;
    } else {
      writer
        .piece(shape === 1 ? other : middle)
        .base64(payload)
        .piece(tail);
      json += `${shape === 1 ? '","other":"' : '","payload":"'}${Buffer.from(payload).toString('base64')}"}`;
    }
    expected.push(json);
    written.push(writer.message().toString('latin1'));
  }
  assert.deepEqual(written, expected);
});
