import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AudioDecoder } from '../../src/media/codec.js';
import { decodeWav } from '../../src/media/wav.js';
import { replayMain } from '../../src/pcap/cli.js';
import {
  type Impairment,
  loadMediaPipeline,
  type PacketReceiver,
  type ReceiverFactory,
} from '../../src/pcap/pipeline.js';
import { replayCapture } from '../../src/pcap/replay.js';
import { SequentialPlayout } from '../../src/pcap/sequential-playout.js';
import type { Clock } from '../../src/util/index.js';
import { ipv4Udp, pcapOfFrames, rtpPacket } from '../helpers/pcap-files.js';

const receiverFactory = (decoder: AudioDecoder) => new SequentialPlayout(decoder);

function withOutDir(run: (out: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const out = mkdtempSync(join(tmpdir(), 'replay-unit-'));
    try {
      await run(out);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  };
}

test(
  'replays the SIPp capture: PCMA WAV with the leading delay trimmed, digit 1, report and plot',
  withOutDir(async (out) => {
    const report = await replayCapture({
      input: 'fixtures/pcap/sipp-uac-pcap.pcapng',
      outDir: out,
      receiverFactory,
    });
    assert.equal(report.sipMessages, 6);
    const audio = report.streams.find((s) => s.codec === 'PCMA');
    assert.ok(audio?.wav);
    assert.equal(audio.leadingDelayTrimmedMs, 40);
    assert.equal(audio.concealedSamples, 0);
    // 236 packets of 30 ms: RTP span plus one packet interval.
    assert.equal(audio.wavSamples, 236 * 240);
    assert.equal(decodeWav(readFileSync(audio.wav)).samples.length, 236 * 240);
    assert.deepEqual(
      report.streams.flatMap((s) => s.dtmf.map((d) => d.digit)),
      ['1'],
    );
    const saved = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.equal(saved.streams.length, 2);
    const html = readFileSync(join(out, 'plot.html'), 'utf8');
    assert.match(html, /<svg/);
    assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/);
  }),
);

test(
  'selection by --ssrc and impairment before the buffer: a dropped packet is concealed',
  withOutDir(async (out) => {
    const dropTenth: Impairment = (packet, sendMs) =>
      packet.sequenceNumber % 10 === 0 ? [] : [{ packet, arrivalMs: sendMs + 5 }];
    const report = await replayCapture({
      input: 'fixtures/pcap/baresip-opus.pcapng',
      outDir: out,
      receiverFactory,
      ssrcs: [0xeb0ae8c1],
      impairment: dropTenth,
      impairSpec: 'test: every tenth sequence number',
    });
    assert.equal(report.streams.length, 1);
    const stream = report.streams[0];
    assert.equal(stream?.codec, 'opus');
    assert.equal(stream?.sampleRate, 48000);
    assert.equal(stream?.packets, 301);
    assert.equal(stream?.packetsDelivered, 301 - 30);
    assert.ok((stream?.concealedSamples ?? 0) >= 30 * 960);
    assert.equal(report.impair, 'test: every tenth sequence number');
  }),
);

test(
  'as the gateway, replay waits for a late packet rather than conceal it: less concealment, the same audio length',
  withOutDir(async (out) => {
    const live = (await loadMediaPipeline()).receiverFactory;
    /** The same receiver as one that conceals at every tick its packet is missing. */
    const concealAtTick = (decoder: AudioDecoder, clock: Clock): PacketReceiver => {
      const receiver = live(decoder, clock);
      return {
        insert: (p) => receiver.insert(p),
        pull: () => receiver.pull(),
        stats: () => receiver.stats(),
      };
    };
    // 0-35 ms of seeded network delay per packet, in order (a later packet never overtakes).
    const lateInOrder = (): Impairment => {
      let seed = 7;
      let lastArrivalMs = 0;
      return (packet, sendMs) => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        lastArrivalMs = Math.max(lastArrivalMs, sendMs + (seed % 36));
        return [{ packet, arrivalMs: lastArrivalMs }];
      };
    };
    const replay = async (factory: ReceiverFactory, dir: string) => {
      const report = await replayCapture({
        input: 'fixtures/pcap/baresip-opus.pcapng',
        outDir: join(out, dir),
        receiverFactory: factory,
        ssrcs: [0xeb0ae8c1],
        impairment: lateInOrder(),
        impairSpec: 'test: 0-35 ms in order',
      });
      return report.streams[0];
    };
    const waited = await replay(live, 'waits');
    const concealed = await replay(concealAtTick, 'conceals');
    assert.ok(
      (waited?.concealedSamples ?? 0) < (concealed?.concealedSamples ?? 0),
      `${waited?.concealedSamples} samples concealed waiting, ${concealed?.concealedSamples} not`,
    );
    assert.equal(waited?.wavSamples, concealed?.wavSamples);
  }),
);

test(
  'a truncated capture is replayed up to the cut and reported',
  withOutDir(async (out) => {
    const whole = readFileSync('fixtures/pcap/sipp-uac-pcap.pcapng');
    const cut = join(out, 'cut.pcapng');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2) + 3));
    const report = await replayCapture({ input: cut, outDir: join(out, 'o'), receiverFactory });
    assert.equal(report.truncated, true);
    assert.ok(report.streams.length >= 1);
  }),
);

test('replayMain --help prints usage with examples; bad arguments give exit code 2', async () => {
  const help = await runReplayMain(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.output, /Examples:[\s\S]*patchbay replay/);
  assert.equal((await runReplayMain([])).code, 2);
  assert.equal((await runReplayMain(['--bogus', 'x.pcap'])).code, 2);
});

test('option values replay cannot use are usage errors (exit 2, naming the option), not ignored', async () => {
  // The input does not exist: an option that passed would fail later, with exit code 1.
  const missing = join(tmpdir(), 'replay-unit-no-such-capture.pcap');
  for (const [option, value] of [
    ['--event-pt', 'abc'],
    ['--event-pt', '128'],
    ['--event-pt', ''],
    ['--ssrc', 'zz'],
    ['--ssrc', ''],
    ['--port', '0'],
    ['--impair', 'loss=200'],
  ] as const) {
    const { code, output } = await runReplayMain([missing, option, value]);
    assert.equal(code, 2, `${option} ${JSON.stringify(value)}: ${output.split('\n')[0]}`);
    assert.match(output, new RegExp(option.slice(2)), `${option} named`);
  }
  assert.equal(
    (await runReplayMain([missing, '--event-pt', '96', '--ssrc', '0x1f', '--port', '4000'])).code,
    1,
  );
});

/** Runs replayMain with stdout and stderr captured; the exit code and what it wrote. */
async function runReplayMain(argv: string[]): Promise<{ code: number; output: string }> {
  const written: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  const originalErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string) => written.push(chunk) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => written.push(chunk) > 0) as typeof process.stderr.write;
  try {
    const code = await replayMain(argv);
    return { code, output: written.join('') };
  } finally {
    process.stdout.write = original;
    process.stderr.write = originalErr;
  }
}

test(
  'a capture whose frames are all skipped says why, in the summary and in report.json',
  withOutDir(async (out) => {
    const radiotap = join(out, 'wifi.pcap');
    writeFileSync(radiotap, pcapOfFrames([Buffer.alloc(80), Buffer.alloc(80)], 127));
    const { code, output } = await runReplayMain([radiotap, '--out', join(out, 'o')]);
    assert.equal(code, 1);
    assert.match(output, /2 frames skipped: 2 of link type 127, which replay does not decode/);
    const report = JSON.parse(readFileSync(join(out, 'o', 'report.json'), 'utf8'));
    assert.equal(report.skippedFrames['unsupported-link'], 2);
    assert.equal(report.unsupportedLinkType, 127);
  }),
);

test(
  'datagrams of streams past the 256-stream limit are reported, not silently left out',
  withOutDir(async (out) => {
    // 260 event-only streams of 3 packets each (no decoder, no WAV): 4 past the limit.
    const frames = Array.from({ length: 260 * 3 }, (_, i) =>
      ipv4Udp(10000 + Math.floor(i / 3), 6000, rtpPacket(Math.floor(i / 3), i % 3, 101)),
    );
    const capture = join(out, 'many.pcap');
    writeFileSync(capture, pcapOfFrames(frames));
    const { output } = await runReplayMain([capture, '--out', join(out, 'o')]);
    assert.match(output, /12 datagrams of streams past the first 256 not replayed/);
    const report = JSON.parse(readFileSync(join(out, 'o', 'report.json'), 'utf8'));
    assert.equal(report.droppedStreams, 12);
    assert.equal(report.streams.length, 256);
  }),
);
