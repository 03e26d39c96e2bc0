import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRtp } from '../../../src/media/rtp/index.js';

test('RTP parse: CSRCs, extension and padding; RTCP and bad versions rejected', () => {
  const base = [0x80, 0x08, 0x12, 0x34, 0, 0, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef];
  const plain = parseRtp(Uint8Array.from([...base, 1, 2, 3]), 42);
  assert.deepEqual(plain && { ...plain, payload: [...plain.payload] }, {
    marker: false,
    payloadType: 8,
    sequenceNumber: 0x1234,
    timestamp: 256,
    ssrc: 0xdeadbeef,
    payload: [1, 2, 3],
    arrivalMs: 42,
  });
  // One CSRC, a one-word extension, two bytes of padding.
  const full = Uint8Array.from([
    0xb1,
    0xe0,
    ...base.slice(2),
    0,
    0,
    0,
    9,
    0xbe,
    0xde,
    0,
    1,
    7,
    7,
    7,
    7,
    5,
    6,
    0,
    2,
  ]);
  const parsed = parseRtp(full, 0);
  assert.equal(parsed?.marker, true);
  assert.equal(parsed?.payloadType, 96);
  assert.deepEqual([...(parsed?.payload ?? [])], [5, 6]);
  for (const rtcpType of [200, 201, 202, 203, 204])
    assert.equal(parseRtp(Uint8Array.from([0x80, rtcpType, ...base.slice(2)]), 0), undefined);
  assert.equal(parseRtp(Uint8Array.from([0x40, ...base.slice(1)]), 0), undefined);
  assert.equal(parseRtp(Uint8Array.from([0xa0, 0x08, ...base.slice(2), 1, 40]), 0), undefined); // padding > packet
  assert.equal(parseRtp(Uint8Array.of(0x80, 0), 0), undefined);
});

test('RTP parse: a padding count of 0, or past the payload, makes the packet invalid (RFC 3550 §5.1, A.1)', () => {
  const header = [0xa0, 0x08, 0x12, 0x34, 0, 0, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef];
  assert.equal(parseRtp(Uint8Array.from([...header, 1, 2, 3, 0]), 0), undefined);
  assert.equal(parseRtp(Uint8Array.from([...header, 1, 2, 3, 5]), 0), undefined);
  // With a CSRC: the count may not reach into the header either.
  assert.equal(parseRtp(Uint8Array.from([0xa1, ...header.slice(1), 0, 0, 0, 9, 1, 6]), 0), undefined);
  // The count covers itself: a packet of only padding carries an empty payload.
  assert.deepEqual([...(parseRtp(Uint8Array.from([...header, 1, 2, 3, 4]), 0)?.payload ?? [9])], []);
  assert.deepEqual([...(parseRtp(Uint8Array.from([...header, 1, 2, 3, 1]), 0)?.payload ?? [])], [1, 2, 3]);
});
