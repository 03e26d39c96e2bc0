import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ObservedDecoder } from '../../src/media/observed-decoder.js';
import { createOpusEncoder } from '../../src/media/opus.js';
import { createDecoderFor } from '../../src/pcap/pipeline.js';
import { sine } from '../helpers/audio.js';

test('decoders by SDP encoding name; unknown codecs give undefined', async () => {
  assert.equal((await createDecoderFor('pcmu'))?.name, 'PCMU');
  assert.equal((await createDecoderFor('PCMA'))?.name, 'PCMA');
  const opus = await createDecoderFor('opus');
  assert.equal(opus?.rtpClockRate, 48000);
  opus?.close();
  assert.equal(await createDecoderFor('G729'), undefined);
});

test('ObservedDecoder counts decodes, concealment and FEC recovery it passes through', async () => {
  const encoder = await createOpusEncoder({
    sampleRate: 48000,
    fec: true,
    packetLossPercent: 10,
    bitrate: 24000,
  });
  const tone = sine(200, 48000, 960 * 8, 12000);
  const packets = Array.from({ length: 8 }, (_, f) => encoder.encode(tone.subarray(f * 960, (f + 1) * 960)));
  encoder.close();
  const inner = await createDecoderFor('opus');
  assert.ok(inner);
  const observed = new ObservedDecoder(inner);
  for (const packet of packets.slice(0, 6)) observed.decode(packet);
  observed.conceal(960);
  const recovered = observed.recoverFromNext?.(packets[7] as Uint8Array, 960);
  assert.equal(recovered?.length, 960);
  assert.deepEqual(
    [observed.decodedFrames, observed.concealedSamples, observed.recoveredSamples, observed.recoveredFrames],
    [6, 960, 960, 1],
  );
  assert.equal(
    new ObservedDecoder(await createDecoderFor('PCMU').then((d) => d!)).recoverFromNext,
    undefined,
  );
  observed.close();
});
