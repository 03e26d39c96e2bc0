import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeAlaw,
  decodeMulaw,
  encodeAlaw,
  encodeMulaw,
  mulawPeak,
  mulawToSample,
  sampleToMulaw,
} from '../../src/media/g711.js';

// Reference points from ITU-T G.711 tables (and the Sun g711.c reference implementation).
test('µ-law matches G.711 reference values', () => {
  assert.deepEqual(
    [...encodeMulaw(Int16Array.from([0, -1, 1000, -1000, 32767, -32768]))],
    [0xff, 0x7f, 0xce, 0x4e, 0x80, 0x00],
  );
  assert.deepEqual(
    [...decodeMulaw(Uint8Array.from([0xff, 0x7f, 0x80, 0x00, 0xce]))],
    [0, 0, 32124, -32124, 988],
  );
});

test('A-law matches G.711 reference values', () => {
  assert.deepEqual(
    [...encodeAlaw(Int16Array.from([0, -1, 1000, -1000, 32767, -32768]))],
    [0xd5, 0x55, 0xfa, 0x7a, 0xaa, 0x2a],
  );
  assert.deepEqual([...decodeAlaw(Uint8Array.from([0xd5, 0x55, 0xaa, 0x2a]))], [8, -8, 32256, -32256]);
});

test('every code word round-trips through decode and encode', () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const mu = encodeMulaw(decodeMulaw(all));
  for (let i = 0; i < 256; i++) {
    // 0x7f and 0xff both decode to 0 (negative and positive zero); encode picks 0xff.
    if (i === 0x7f) continue;
    assert.equal(mu[i], i, `µ-law code ${i}`);
  }
  assert.deepEqual([...encodeAlaw(decodeAlaw(all))], [...all]);
});

test('one µ-law sample at a time is what the frame conversions give, and a peak reads the bytes', () => {
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  const samples = decodeMulaw(bytes);
  assert.deepEqual(Array.from(bytes, mulawToSample), [...samples]);
  const pcm = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);
  assert.deepEqual(Array.from(pcm, sampleToMulaw), [...encodeMulaw(pcm)]);
  assert.equal(mulawPeak(bytes, 256), 32124, 'the largest µ-law magnitude');
  const frame = encodeMulaw(Int16Array.from([0, -1000, 500, 30000]));
  assert.equal(
    mulawPeak(frame, 3),
    Math.abs(mulawToSample(frame[1] as number)),
    'only the first count bytes',
  );
});
