import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createOpusDecoder, createOpusEncoder, opusPacketHasLbrr } from '../../src/media/opus.js';
import { sine, tonePower } from '../helpers/audio.js';

test('Opus round trip at 16 kHz keeps a tone and reports a 48 kHz RTP clock', async () => {
  const encoder = await createOpusEncoder({ sampleRate: 16000, application: 'voip', bitrate: 24000 });
  const decoder = await createOpusDecoder({ sampleRate: 16000 });
  assert.equal(encoder.rtpClockRate, 48000);
  assert.equal(decoder.rtpClockRate, 48000);
  const tone = sine(440, 16000, 320 * 20);
  const out: Int16Array[] = [];
  for (let f = 0; f < 20; f++)
    out.push(decoder.decode(encoder.encode(tone.subarray(f * 320, f * 320 + 320))));
  assert.ok(out.every((frame) => frame.length === 320));
  const last = out.at(-1) as Int16Array;
  assert.ok(tonePower(last, 16000, 440) > 50 * tonePower(last, 16000, 1500));
  encoder.close();
  decoder.close();
});

test('decodes at 8, 24 and 48 kHz with the frame length of the rate', async () => {
  const encoder = await createOpusEncoder({ sampleRate: 48000, application: 'voip' });
  const packet = encoder.encode(sine(300, 48000, 960));
  for (const sampleRate of [8000, 24000, 48000] as const) {
    const decoder = await createOpusDecoder({ sampleRate });
    assert.equal(decoder.decode(packet).length, sampleRate / 50);
    assert.equal(decoder.conceal(sampleRate / 100).length, sampleRate / 100);
    decoder.close();
  }
  encoder.close();
});

test('conceal produces exactly the requested samples and rejects non-2.5 ms lengths', async () => {
  const decoder = await createOpusDecoder({ sampleRate: 16000 });
  assert.equal(decoder.conceal(320).length, 320);
  assert.equal(decoder.conceal(40).length, 40);
  assert.throws(() => decoder.conceal(100), RangeError);
  assert.throws(() => decoder.conceal(0), RangeError);
  decoder.close();
});

test('recoverFromNext uses LBRR when present and returns null without it', async () => {
  const withFec = await createOpusEncoder({
    sampleRate: 16000,
    fec: true,
    packetLossPercent: 10,
    bitrate: 24000,
  });
  const withoutFec = await createOpusEncoder({ sampleRate: 16000, fec: false, bitrate: 24000 });
  const tone = sine(220, 16000, 320 * 10, 12000);
  let fecPacket: Uint8Array = new Uint8Array();
  let plainPacket: Uint8Array = new Uint8Array();
  for (let f = 0; f < 10; f++) {
    const frame = tone.subarray(f * 320, f * 320 + 320);
    fecPacket = withFec.encode(frame);
    plainPacket = withoutFec.encode(frame);
  }
  assert.ok(opusPacketHasLbrr(fecPacket));
  assert.ok(!opusPacketHasLbrr(plainPacket));
  const decoder = await createOpusDecoder({ sampleRate: 16000 });
  assert.equal(decoder.recoverFromNext(plainPacket, 320), null);
  const recovered = decoder.recoverFromNext(fecPacket, 320);
  assert.equal(recovered?.length, 320);
  decoder.close();
  withFec.close();
  withoutFec.close();
});

test('opusPacketHasLbrr reads the flag behind every framing code (RFC 6716 §3.2)', () => {
  // SILK-only NB 20 ms mono (config 1); first frame byte 0b0100_0000 = VAD 0, LBRR 1.
  const silk20 = 1 << 3;
  assert.ok(opusPacketHasLbrr(Uint8Array.of(silk20, 0x40, 0x11)));
  assert.ok(!opusPacketHasLbrr(Uint8Array.of(silk20, 0x80, 0x11))); // VAD only
  // Code 1: two equal frames.
  assert.ok(opusPacketHasLbrr(Uint8Array.of(silk20 | 1, 0x40, 0x00)));
  // Code 2: first frame length 1, then its byte.
  assert.ok(opusPacketHasLbrr(Uint8Array.of(silk20 | 2, 1, 0x40, 0x00, 0x00)));
  // Code 3 VBR with padding: count byte (vbr, padding, 2 frames), 1 padding byte, length 1.
  assert.ok(opusPacketHasLbrr(Uint8Array.of(silk20 | 3, 0xc2, 1, 1, 0x40, 0x00, 0xff)));
  // Code 3 CBR, 2 frames of 1 byte.
  assert.ok(opusPacketHasLbrr(Uint8Array.of(silk20 | 3, 0x02, 0x40, 0x00)));
  // SILK 40 ms (config 2) has two VAD flags before LBRR: 0b0010_0000.
  assert.ok(opusPacketHasLbrr(Uint8Array.of(2 << 3, 0x20)));
  assert.ok(!opusPacketHasLbrr(Uint8Array.of(2 << 3, 0x40)));
  // CELT-only (config 31) never has LBRR; malformed packets are not FEC.
  assert.ok(!opusPacketHasLbrr(Uint8Array.of(31 << 3, 0xff)));
  assert.ok(!opusPacketHasLbrr(new Uint8Array()));
  assert.ok(!opusPacketHasLbrr(Uint8Array.of(silk20 | 1, 0x40))); // odd code 1 length
  assert.ok(!opusPacketHasLbrr(Uint8Array.of(silk20 | 3, 0x00))); // zero frames
});

test('a malformed payload is concealed and counted, never thrown', async () => {
  const decoder = await createOpusDecoder({ sampleRate: 16000 });
  const out = decoder.decode(Uint8Array.of(0x0b, 0xff)); // code 3 with a missing count byte body
  assert.equal(out.length, 320);
  assert.equal(decoder.invalidPackets, 1);
  decoder.close();
  assert.throws(() => decoder.decode(Uint8Array.of(0)), /closed/);
});

test('setPacketLossPercent clamps and rejects non-finite values', async () => {
  const encoder = await createOpusEncoder({ sampleRate: 16000, fec: true });
  encoder.setPacketLossPercent?.(150);
  assert.throws(() => encoder.setPacketLossPercent?.(Number.NaN), RangeError);
  encoder.close();
});
