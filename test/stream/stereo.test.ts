import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Playout } from '../../src/stream/playout.js';
import { decodeL16, encodeL16, type PcmStreamRate, StereoDialect } from '../../src/stream/stereo.js';
import { sine, tonePower } from '../helpers/audio.js';

const call = {
  callSid: 'CA0123',
  accountSid: 'AC0123',
  from: '+15550001',
  to: '+15550002',
  direction: 'inbound' as const,
  customParameters: { lang: 'en' },
};

/** Splits interleaved L16 stereo bytes into left and right sample arrays. */
function deinterleave(frames: Uint8Array[]): { left: Int16Array; right: Int16Array } {
  const all = decodeL16(Buffer.concat(frames));
  assert.ok(all);
  const left = new Int16Array(all.length / 2);
  const right = new Int16Array(all.length / 2);
  for (let i = 0; i < left.length; i++) {
    left[i] = all[2 * i] as number;
    right[i] = all[2 * i + 1] as number;
  }
  return { left, right };
}

function onset(samples: Int16Array, threshold = 1000): number {
  return samples.findIndex((s) => Math.abs(s) > threshold);
}

test('open sends one JSON text frame in the jambonz listen shape', () => {
  const messages = new StereoDialect(16000).open(call);
  assert.equal(messages.length, 1);
  assert.equal(typeof messages[0], 'string');
  assert.deepEqual(JSON.parse(messages[0] as string), {
    callSid: 'CA0123',
    accountSid: 'AC0123',
    from: '+15550001',
    to: '+15550002',
    direction: 'inbound',
    mixType: 'stereo',
    sampleRate: 16000,
    customParameters: { lang: 'en' },
  });
});

test('callerAudio interleaves caller left and bot right as L16 little-endian', () => {
  const dialect = new StereoDialect(8000);
  const caller = Int16Array.of(1, -2, 0x1234);
  const bot = Int16Array.of(-32768, 32767);
  const frame = dialect.callerAudio(caller, bot);
  assert.ok(frame instanceof Uint8Array);
  // Bot frame shorter than the caller's: padded with silence.
  assert.deepEqual([...frame], [1, 0, 0x00, 0x80, 0xfe, 0xff, 0xff, 0x7f, 0x34, 0x12, 0, 0]);
  // The hot path's form: the same bytes in a buffer reused frame after frame.
  const reused = dialect.callerAudioFrame(caller, bot);
  assert.deepEqual([...reused], [...frame]);
  assert.equal(dialect.callerAudioFrame(Int16Array.of(-32768, 0, 0), caller), reused);
  assert.deepEqual([...reused.subarray(0, 4)], [0x00, 0x80, 1, 0]);
});

test('bot binary L16 is audio; odd length, empty and bad JSON are invalid, never thrown', () => {
  const dialect = new StereoDialect(8000);
  const pcm = Int16Array.of(0, 1000, -1000, 32767);
  const audio = dialect.parse(encodeL16(pcm), true);
  assert.deepEqual(audio, { kind: 'audio', pcm });
  // Unaligned view into a bigger buffer still decodes.
  const shifted = new Uint8Array(9);
  shifted.set(encodeL16(pcm), 1);
  assert.deepEqual(dialect.parse(shifted.subarray(1), true), { kind: 'audio', pcm });
  assert.equal(dialect.parse(Uint8Array.of(1, 2, 3), true).kind, 'invalid');
  assert.equal(dialect.parse(new Uint8Array(0), true).kind, 'invalid');
  for (const bad of [
    '{',
    '[]',
    '"x"',
    '{"type":"nope"}',
    '{"type":"mark"}',
    '{"type":"mark","data":{"name":5}}',
  ])
    assert.equal(dialect.parse(bad, false).kind, 'invalid', bad);
  assert.equal(dialect.parse('{"type":"clearMarks"}', false).kind, 'invalid');
});

test('bot mark, clear (and jambonz killAudio) and patchbay commands parse', () => {
  const dialect = new StereoDialect(24000);
  assert.deepEqual(dialect.parse('{"type":"mark","data":{"name":"m1"}}', false), {
    kind: 'mark',
    name: 'm1',
  });
  assert.deepEqual(dialect.parse('{"type":"clear"}', false), { kind: 'clear' });
  assert.deepEqual(dialect.parse(Buffer.from('{"type":"killAudio"}'), false), { kind: 'clear' });
  assert.deepEqual(dialect.parse('{"type":"patchbay","command":"dtmf","digits":"12#"}', false), {
    kind: 'command',
    command: { command: 'dtmf', digits: '12#' },
  });
  assert.equal(dialect.parse('{"type":"patchbay","command":"dtmf","digits":"x"}', false).kind, 'invalid');
});

test('gateway events: jambonz mark echo and dtmf, extension event, no stop message', () => {
  const dialect = new StereoDialect(8000);
  assert.deepEqual(JSON.parse(dialect.markPlayed('m1') as string), {
    type: 'mark',
    data: { name: 'm1', event: 'playout' },
  });
  assert.deepEqual(JSON.parse(dialect.dtmf('5') as string), { event: 'dtmf', dtmf: '5' });
  assert.deepEqual(JSON.parse(dialect.extensionEvent('speech_started') as string), {
    type: 'patchbay',
    data: { type: 'speech_started' },
  });
  assert.equal(dialect.stop(), undefined);
});

for (const rate of [8000, 16000] as PcmStreamRate[]) {
  test(`caller 440 Hz left, bot 1 kHz right, aligned within a frame at ${rate} Hz`, () => {
    const dialect = new StereoDialect(rate);
    const playout = new Playout({ sampleRate: rate });
    const frameSamples = rate / 50;
    const silentFrames = 10;
    const toneFrames = 50;
    const callerTone = sine(440, rate, toneFrames * frameSamples);
    const frames: Uint8Array[] = [];
    for (let tick = 0; tick < silentFrames + toneFrames; tick++) {
      // The bot sends its whole second of 1 kHz at once, just before the caller starts talking.
      if (tick === silentFrames) {
        const input = dialect.parse(encodeL16(sine(1000, rate, toneFrames * frameSamples)), true);
        assert.equal(input.kind, 'audio');
        if (input.kind === 'audio') playout.enqueue(input.pcm);
      }
      const toneTick = tick - silentFrames;
      const caller =
        toneTick < 0
          ? new Int16Array(frameSamples)
          : callerTone.subarray(toneTick * frameSamples, (toneTick + 1) * frameSamples);
      const out = dialect.callerAudio(caller, playout.pullFrame().frame);
      assert.ok(out instanceof Uint8Array);
      assert.equal(out.length, frameSamples * 4);
      frames.push(out);
    }
    const { left, right } = deinterleave(frames);
    const leftOnset = onset(left);
    const rightOnset = onset(right);
    assert.ok(leftOnset >= silentFrames * frameSamples, `left onset ${leftOnset}`);
    assert.ok(Math.abs(leftOnset - rightOnset) < frameSamples, `onsets ${leftOnset} vs ${rightOnset}`);
    const toneStart = silentFrames * frameSamples;
    const leftTone = left.subarray(toneStart);
    const rightTone = right.subarray(toneStart);
    assert.ok(tonePower(leftTone, rate, 440) > 100 * tonePower(leftTone, rate, 1000), 'left is 440 Hz');
    assert.ok(tonePower(rightTone, rate, 1000) > 100 * tonePower(rightTone, rate, 440), 'right is 1 kHz');
    assert.ok(tonePower(leftTone, rate, 440) > 1000, 'left carries the tone');
    assert.ok(tonePower(rightTone, rate, 1000) > 1000, 'right carries the tone');
  });
}
