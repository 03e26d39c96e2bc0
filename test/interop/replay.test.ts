import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeAlaw } from '../../src/media/g711.js';
import { G711Concealer } from '../../src/media/g711-plc.js';
import { parseRtp } from '../../src/media/rtp/index.js';
import { decodeWav } from '../../src/media/wav.js';
import { loadMediaPipeline, type ReceiverFactory } from '../../src/pcap/pipeline.js';
import { readCapture } from '../../src/pcap/reader.js';
import { replayCapture } from '../../src/pcap/replay.js';
import { SequentialPlayout } from '../../src/pcap/sequential-playout.js';
import { FileSource } from '../../src/pcap/source.js';
import { decodeUdpFrame } from '../../src/pcap/udp.js';
import { skipUnlessPresent } from '../helpers/peers.js';

const SIPP_CAPTURES = '/usr/share/sip-tester';
const G711A = join(SIPP_CAPTURES, 'g711a.pcap');
const DTMF_1 = join(SIPP_CAPTURES, 'dtmf_2833_1.pcap');
const skip = skipUnlessPresent(existsSync(G711A), 'SIPp captures not installed (sip-tester)');

async function receiverFactory(): Promise<ReceiverFactory> {
  return (await loadMediaPipeline()).receiverFactory;
}

/** Every RTP payload of a capture, in capture order. */
function payloads(path: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const source = new FileSource(path);
  for (const frame of readCapture(source)) {
    const datagram = decodeUdpFrame(frame.linkType, frame.data);
    const rtp = typeof datagram === 'string' ? undefined : parseRtp(datagram.payload, frame.timestampMs);
    if (rtp) out.push(rtp.payload);
  }
  source.close();
  return out;
}

/** Replays g711a.pcap through `factory` and checks the WAV is a straight A-law decode of the payloads. */
async function expectStraightDecode(factory: ReceiverFactory): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'replay-g711a-'));
  try {
    const report = await replayCapture({ input: G711A, outDir: out, receiverFactory: factory });
    assert.equal(report.streams.length, 1);
    const stream = report.streams[0];
    assert.ok(stream);
    assert.equal(stream.codec, 'PCMA');
    assert.equal(stream.packets, 236);
    assert.equal(stream.lostInCapture, 0);
    assert.equal(stream.concealedSamples, 0);
    const straight = decodeAlaw(Uint8Array.from(payloads(G711A).flatMap((p) => [...p])));
    const wav = decodeWav(readFileSync(stream.wav as string));
    assert.equal(wav.sampleRate, 8000);
    assert.equal(wav.samples.length, straight.length);
    // The G.711 decoder's Appendix I history delays all output by delaySamples (3.75 ms).
    const lag = G711Concealer.delaySamples;
    assert.deepEqual(wav.samples.subarray(lag), straight.subarray(0, straight.length - lag));
    const saved = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.equal(saved.streams[0].concealedSamples, 0);
    assert.match(readFileSync(join(out, 'plot.html'), 'utf8'), /<svg/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

test('replay of SIPp g711a.pcap equals a straight G.711 decode, nothing concealed', { skip }, async () =>
  expectStraightDecode(await receiverFactory()),
);

test('replay through SequentialPlayout of SIPp g711a.pcap is sample-exact', { skip }, async () =>
  expectStraightDecode((decoder) => new SequentialPlayout(decoder)),
);

test('replay of SIPp dtmf_2833_1.pcap reports digit 1 once', { skip }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'replay-dtmf-'));
  try {
    const report = await replayCapture({
      input: DTMF_1,
      outDir: out,
      receiverFactory: await receiverFactory(),
    });
    const digits = report.streams.flatMap((s) => s.dtmf.map((d) => d.digit));
    assert.deepEqual(digits, ['1']);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
