import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type VadEvent, VoiceActivityDetector } from '../../src/stream/vad.js';
import { seededRandom } from '../../src/util/index.js';
import { concatPcm, sine } from '../helpers/audio.js';

const dbfs = (db: number) => 32768 * 10 ** (db / 20);

/** Cuts a signal into 20 ms frames. */
function frames(signal: Int16Array, sampleRate: number): Int16Array[] {
  const size = sampleRate / 50;
  const out: Int16Array[] = [];
  for (let offset = 0; offset + size <= signal.length; offset += size)
    out.push(signal.subarray(offset, offset + size));
  return out;
}

const silence = (ms: number, rate: number) => new Int16Array((ms * rate) / 1000);
const tone = (hz: number, ms: number, rate: number, db = -20) => sine(hz, rate, (ms * rate) / 1000, dbfs(db));

function whiteNoise(ms: number, rate: number, db: number, seed = 1): Int16Array {
  const random = seededRandom(seed);
  const out = new Int16Array((ms * rate) / 1000);
  // Uniform noise in [-a, a] has RMS a/sqrt(3).
  const amplitude = dbfs(db) * Math.sqrt(3);
  for (let i = 0; i < out.length; i++) out[i] = Math.round((random() * 2 - 1) * amplitude);
  return out;
}

const concat = (...parts: Int16Array[]): Int16Array => concatPcm(parts);

function add(a: Int16Array, b: Int16Array): Int16Array {
  return a.map((value, i) => Math.max(-32768, Math.min(32767, value + (b[i] ?? 0))));
}

/** Runs a signal through a fresh detector; events with the time (ms) of the frame that raised them. */
function run(signal: Int16Array, rate: 8000 | 16000, vad = new VoiceActivityDetector({ sampleRate: rate })) {
  const events: Array<[number, VadEvent]> = [];
  frames(signal, rate).forEach((frame, index) => {
    const event = vad.process(frame);
    if (event) events.push([(index + 1) * 20, event]);
  });
  return events;
}

for (const rate of [8000, 16000] as const) {
  test(`${rate} Hz: a tone after silence starts after 60 ms and stops 400 ms after it ends`, () => {
    const signal = concat(silence(500, rate), tone(440, 1000, rate), silence(1000, rate));
    assert.deepEqual(run(signal, rate), [
      [560, 'speech_started'],
      [1900, 'speech_stopped'],
    ]);
  });

  test(`${rate} Hz: white noise, even loud, is never speech; a tone 20 dB over it is`, () => {
    const noise = whiteNoise(3000, rate, -25);
    assert.deepEqual(run(noise, rate), []);
    const signal = add(noise, concat(silence(1000, rate), tone(300, 800, rate, -5), silence(1200, rate)));
    assert.deepEqual(run(signal, rate), [
      [1060, 'speech_started'],
      [2200, 'speech_stopped'],
    ]);
  });
}

test('syllables with short pauses are one utterance; a 40 ms click is nothing', () => {
  const rate = 8000;
  const syllables = concat(
    silence(300, rate),
    tone(200, 200, rate),
    silence(160, rate),
    tone(250, 200, rate),
    silence(300, rate),
    tone(220, 200, rate),
    silence(1000, rate),
  );
  assert.deepEqual(run(syllables, rate), [
    [360, 'speech_started'],
    [1760, 'speech_stopped'],
  ]);
  assert.deepEqual(run(concat(silence(300, rate), tone(440, 40, rate, -6), silence(600, rate)), rate), []);
});

test('the noise floor follows the background and absorbs a steady hum; a voice over the hum still counts', () => {
  const rate = 8000;
  const vad = new VoiceActivityDetector({ sampleRate: rate });
  // Uniform white noise at RMS -50 dBFS.
  assert.deepEqual(run(whiteNoise(1000, rate, -50), rate, vad), []);
  assert.ok(Math.abs(vad.noiseFloorDbfs - -50) < 2, `floor ${vad.noiseFloorDbfs.toFixed(1)} dBFS`);

  // A 100 Hz hum (RMS -33 dBFS) passes the crossing test and looks like speech at first, until
  // the floor has risen within 12 dB of it: 5 dB at 3 dB/s, then the 400 ms hangover.
  const hum = (ms: number) => add(whiteNoise(ms, rate, -50, 2), tone(100, ms, rate, -30));
  const humEvents = run(hum(5000), rate, vad);
  assert.equal(humEvents.length, 2, JSON.stringify(humEvents));
  assert.equal(humEvents[0]?.[1], 'speech_started');
  assert.equal(humEvents[0]?.[0], 60);
  assert.equal(humEvents[1]?.[1], 'speech_stopped');
  assert.ok(Math.abs((humEvents[1]?.[0] ?? 0) - 2100) <= 200, `absorbed at ${humEvents[1]?.[0]} ms`);
  assert.ok(Math.abs(vad.noiseFloorDbfs - -33) < 2, `floor rose to ${vad.noiseFloorDbfs.toFixed(1)} dBFS`);

  // A voice 20 dB over the hum is still heard.
  const voice = add(hum(1000), concat(silence(200, rate), tone(400, 600, rate, -10), silence(200, rate)));
  assert.deepEqual(run(voice, rate, vad), [[260, 'speech_started']]);
});

test('DC offset, digital silence and degenerate frames are not speech and never throw', () => {
  const vad = new VoiceActivityDetector({ sampleRate: 8000 });
  const dc = new Int16Array(160).fill(5000);
  for (let i = 0; i < 50; i++) assert.equal(vad.process(dc), undefined);
  for (let i = 0; i < 50; i++) assert.equal(vad.process(new Int16Array(160)), undefined);
  assert.equal(vad.process(new Int16Array(0)), undefined);
  assert.equal(vad.process(new Int16Array(1)), undefined);
  assert.equal(vad.process(new Int16Array(160).fill(-32768)), undefined);
  assert.equal(vad.speaking, false);
  assert.ok(Number.isFinite(vad.noiseFloorDbfs));
});

test('startMs and stopMs set the hangover', () => {
  const rate = 16000;
  const vad = new VoiceActivityDetector({ sampleRate: rate, startMs: 100, stopMs: 200 });
  assert.deepEqual(run(concat(silence(200, rate), tone(440, 500, rate), silence(500, rate)), rate, vad), [
    [300, 'speech_started'],
    [900, 'speech_stopped'],
  ]);
});
