import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runFecExperiment, SPEECH_FIXTURE } from '../../bench/opus-fec.js';
import { decodeWav } from '../../src/media/wav.js';

test('in-band FEC recovers every single loss whose next packet carries it and beats PLC only on segmental SNR', async () => {
  const wav = decodeWav(readFileSync(SPEECH_FIXTURE));
  assert.equal(wav.sampleRate, 16000);
  // First 4 s of speech keeps the test fast; the bench runs the whole fixture.
  const result = await runFecExperiment({
    pcm: wav.samples.subarray(0, 4 * 16000),
    sampleRate: 16000,
    lossPercent: 10,
    seed: 1,
  });
  assert.ok(result.lostFrames >= 10, `only ${result.lostFrames} losses`);
  assert.ok(result.lostWithFecInNext >= 10, `only ${result.lostWithFecInNext} recoverable losses`);
  assert.equal(result.recoveredWhereFecSent, result.lostWithFecInNext);
  assert.ok(result.recoveredFromFec / result.lostWithNext >= 0.75);
  assert.ok(result.segmentalSnrFecDb > result.segmentalSnrPlcDb + 2);
  assert.ok(result.lostSegmentSnrFecDb > result.lostSegmentSnrPlcDb);
});
