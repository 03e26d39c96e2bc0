import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeWav, encodeWav } from '../../src/media/wav.js';

test('WAV mono and stereo round trip', () => {
  for (const channels of [1, 2] as const) {
    const samples = Int16Array.of(0, 1, -1, 32767, -32768, 1234);
    const bytes = encodeWav({ sampleRate: 8000, channels, samples });
    assert.equal(bytes.length, 44 + samples.length * 2);
    assert.deepEqual(decodeWav(bytes), { sampleRate: 8000, channels, samples });
  }
});

test('WAV reader skips unknown chunks, honours pad bytes and rejects other encodings', () => {
  const plain = encodeWav({ sampleRate: 16000, channels: 1, samples: Int16Array.of(7, -7) });
  const list = Uint8Array.of(...Buffer.from('LIST'), 3, 0, 0, 0, 1, 2, 3, 0);
  const withList = new Uint8Array([...plain.subarray(0, 36), ...list, ...plain.subarray(36)]);
  assert.deepEqual(decodeWav(withList).samples, Int16Array.of(7, -7));
  const float = plain.slice();
  float[20] = 3; // WAVE_FORMAT_IEEE_FLOAT
  assert.throws(() => decodeWav(float), TypeError);
  assert.throws(() => decodeWav(new Uint8Array(8)), TypeError);
  assert.throws(() => encodeWav({ sampleRate: 8000, channels: 2, samples: new Int16Array(3) }), RangeError);
});
