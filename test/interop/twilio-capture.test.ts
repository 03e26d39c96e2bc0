/**
 * The twilio dialect on real captured calls: SIPp's g711a.pcap (A-law speech) decoded by the
 * src/pcap replay pipeline into 20 ms caller frames, and the RFC 4733 digits of SIPp's
 * dtmf_2833_*.pcap decoded by DtmfReceiver, all sent through TwilioDialect and checked
 * message by message by the strict Twilio-protocol checker.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DtmfReceiver } from '../../src/media/dtmf.js';
import { decodeAlaw, decodeMulaw } from '../../src/media/g711.js';
import { G711Concealer } from '../../src/media/g711-plc.js';
import { parseRtp, type ReceivedRtp } from '../../src/media/rtp/index.js';
import { decodeWav } from '../../src/media/wav.js';
import { loadMediaPipeline, type ReceiverFactory } from '../../src/pcap/pipeline.js';
import { readCapture } from '../../src/pcap/reader.js';
import { replayCapture } from '../../src/pcap/replay.js';
import { SequentialPlayout } from '../../src/pcap/sequential-playout.js';
import { FileSource } from '../../src/pcap/source.js';
import { decodeUdpFrame } from '../../src/pcap/udp.js';
import { TwilioDialect } from '../../src/stream/index.js';
import { skipUnlessPresent } from '../helpers/peers.js';
import { TwilioStrictChecker } from '../helpers/twilio-strict.js';

const SIPP_CAPTURES = '/usr/share/sip-tester';
const G711A = join(SIPP_CAPTURES, 'g711a.pcap');
const DTMF_CAPTURES = [...'0123456789'].map((d) => `dtmf_2833_${d}.pcap`);
DTMF_CAPTURES.push('dtmf_2833_star.pcap', 'dtmf_2833_pound.pcap');
const ALL_DIGITS = [...'0123456789*#'];
const skip = skipUnlessPresent(
  [G711A, ...DTMF_CAPTURES.map((f) => join(SIPP_CAPTURES, f))].every((f) => existsSync(f)),
  'SIPp captures not installed (sip-tester)',
);
const FRAME = 160;
/** RFC 4733 payload type in SIPp's dtmf_2833_*.pcap captures (no SDP in them). */
const EVENT_PAYLOAD_TYPE = 101;
const call = {
  callSid: `CA${'1'.repeat(32)}`,
  accountSid: `AC${'2'.repeat(32)}`,
  customParameters: { from: 'sipp' },
};

/** Every RTP packet of a capture, arriving at its capture time. */
function rtpPackets(path: string): ReceivedRtp[] {
  const out: ReceivedRtp[] = [];
  const source = new FileSource(path);
  for (const frame of readCapture(source)) {
    const datagram = decodeUdpFrame(frame.linkType, frame.data);
    const rtp = typeof datagram === 'string' ? undefined : parseRtp(datagram.payload, frame.timestampMs);
    if (rtp) out.push(rtp);
  }
  source.close();
  return out;
}

/** The digits DtmfReceiver reports for one capture (a fresh receiver, as for a fresh call). */
function capturedDigits(file: string): string[] {
  const receiver = new DtmfReceiver({ clockRate: 8000 });
  const digits: string[] = [];
  let lastMs = 0;
  for (const rtp of rtpPackets(join(SIPP_CAPTURES, file))) {
    if (rtp.payloadType !== EVENT_PAYLOAD_TYPE) continue;
    lastMs = rtp.arrivalMs;
    const event = receiver.push(rtp);
    if (event) digits.push(event.digit);
  }
  const late = receiver.poll(lastMs + 10_000);
  if (late) digits.push(late.digit);
  return digits;
}

/** g711a.pcap through replayCapture with `factory`, cut into the 20 ms frames it pulled. */
async function callerFrames(factory: ReceiverFactory): Promise<Int16Array[]> {
  const out = mkdtempSync(join(tmpdir(), 'twilio-capture-'));
  try {
    const report = await replayCapture({ input: G711A, outDir: out, receiverFactory: factory });
    const stream = report.streams[0];
    assert.ok(stream?.wav);
    const { samples, sampleRate } = decodeWav(readFileSync(stream.wav));
    assert.equal(sampleRate, 8000);
    const frames: Int16Array[] = [];
    for (let at = 0; at + FRAME <= samples.length; at += FRAME) frames.push(samples.slice(at, at + FRAME));
    return frames;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** Twilio messages for a call: caller frames, `digits` spread between them, a mark, stop. */
function twilioStream(frames: Int16Array[], digits: string[]): string[] {
  const dialect = new TwilioDialect();
  const messages = [...dialect.open(call)];
  const every = Math.max(1, Math.floor(frames.length / (digits.length + 1)));
  let nextDigit = 0;
  frames.forEach((frame, i) => {
    messages.push(dialect.callerAudio(frame));
    if (i > 0 && i % every === 0 && nextDigit < digits.length)
      messages.push(dialect.dtmf(digits[nextDigit++] as string));
    if (i === 25) messages.push(dialect.markPlayed('greeting-done'));
  });
  messages.push(dialect.stop());
  return messages.map((m) => {
    assert.equal(typeof m, 'string');
    return m as string;
  });
}

// biome-ignore lint/suspicious/noExplicitAny: wire JSON read back for assertions
function events(messages: string[], event: string): Record<string, any>[] {
  return messages.map((m) => JSON.parse(m)).filter((m) => m.event === event);
}

function sentAudio(messages: string[]): Int16Array {
  const payloads = events(messages, 'media').map((m) => Buffer.from(m['media'].payload, 'base64'));
  return decodeMulaw(Buffer.concat(payloads));
}

/** µ-law requantisation error: within 1/16 of the amplitude plus 4 (checked over every int16). */
function assertWithinMulawError(actual: Int16Array, expected: Int16Array): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    const want = expected[i] as number;
    const error = Math.abs((actual[i] as number) - want);
    if (error > 4 + Math.abs(want) / 16) assert.fail(`sample ${i}: sent ${actual[i]}, caller had ${want}`);
  }
}

test('SIPp g711a.pcap and dtmf_2833_1.pcap through the real receive pipeline: no violations', {
  skip,
}, async () => {
  const frames = await callerFrames((await loadMediaPipeline()).receiverFactory);
  // g711a.pcap is ~7 s of speech.
  assert.ok(frames.length >= 330, `${frames.length} frames`);
  const digits = capturedDigits('dtmf_2833_1.pcap');
  assert.deepEqual(digits, ['1']);
  const messages = twilioStream(frames, digits);
  assert.deepEqual(TwilioStrictChecker.checkAll(messages), []);
  assert.deepEqual(
    events(messages, 'dtmf').map((m) => m['dtmf'].digit),
    ['1'],
  );
  assert.equal(events(messages, 'media').length, frames.length);
  // What the bot receives is the pipeline's audio, requantised to µ-law and nothing else.
  const fed = new Int16Array(frames.length * FRAME);
  for (const [i, frame] of frames.entries()) fed.set(frame, i * FRAME);
  assertWithinMulawError(sentAudio(messages), fed);
  assert.ok(
    fed.some((s) => Math.abs(s) > 4000),
    'speech, not silence',
  );
});

test('every SIPp dtmf_2833 capture in turn: the bot gets 0-9, *, # in order, once each', {
  skip,
}, async () => {
  const digits = DTMF_CAPTURES.flatMap((file) => capturedDigits(file));
  assert.deepEqual(digits, ALL_DIGITS);
  const frames = await callerFrames((await loadMediaPipeline()).receiverFactory);
  const messages = twilioStream(frames, digits);
  assert.deepEqual(TwilioStrictChecker.checkAll(messages), []);
  assert.deepEqual(
    events(messages, 'dtmf').map((m) => m['dtmf'].digit),
    ALL_DIGITS,
  );
});

test('µ-law payloads sent for g711a.pcap match a straight A-law decode within requantisation error', {
  skip,
}, async () => {
  // The sample-exact replay receiver, so the caller audio lines up with the capture's payloads.
  const frames = await callerFrames((decoder) => new SequentialPlayout(decoder));
  const messages = twilioStream(frames, []);
  assert.deepEqual(TwilioStrictChecker.checkAll(messages), []);
  const payloads = rtpPackets(G711A).map((rtp) => rtp.payload);
  const straight = decodeAlaw(Buffer.concat(payloads));
  const sent = sentAudio(messages);
  // The G.711 decoder's Appendix I history delays its output by delaySamples.
  const lag = G711Concealer.delaySamples;
  const length = Math.min(sent.length - lag, straight.length);
  assert.ok(length >= straight.length - FRAME, `${length} of ${straight.length} samples compared`);
  assertWithinMulawError(sent.subarray(lag, lag + length), straight.subarray(0, length));
});
