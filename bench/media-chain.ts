/**
 * CPU per 20 ms frame of a call's whole media chain as MediaLeg runs it,
 * for PCMU and Opus, at the two bridge rates bots use (8 kHz for twilio, 16 kHz for stereo and
 * exotel), and the calls per core that implies. Pure compute on a FakeClock, no sockets (the
 * socket cost is in bench/media-rtp.ts):
 *  receive: parseRtp (as RtpSession) -> AudioReceiver.insert (jitter buffer) -> pull (decode, PLC/stretch
 *           decisions) -> resample decoder rate -> bridge rate
 *  send:    resample bridge rate -> encoder rate -> encode -> RtpPacketWriter (as RtpSession.send),
 *           with the gateway's own codecs (carrierEncoderFor/carrierDecoderFor: Opus runs at the
 *           bridge rate, complexity 5, so the Opus path has no resampler)
 * Baseline in the same run: parseRtp plus a copy of the payload, what a bare forwarder does.
 * Speech: fixtures/audio/speech-16k.wav, 20 s (looped), pre-encoded as the carrier would send it.
 *
 *   npx tsx bench/media-chain.ts [rounds=5]
 */
import { readFileSync } from 'node:fs';
import { RtpPacket } from 'rtp.js/packets';
import {
  AudioReceiver,
  type BridgeRate,
  carrierDecoderFor,
  carrierEncoderFor,
  decodeWav,
  parseRtp,
  Resampler,
  RtpPacketWriter,
} from '../src/media/index.js';
import { type AudioCodecName, FakeClock } from '../src/util/index.js';
import { PolyphaseResampler } from './lib/polyphase-resampler.js';

const rounds = Number(process.argv[2] ?? 5);
const FRAMES = 1000;
const FRAME_MS = 20;

interface CodecCase {
  name: AudioCodecName;
  payloadType: number;
  rtpClockRate: number;
}

const CASES: CodecCase[] = [
  { name: 'PCMU', payloadType: 0, rtpClockRate: 8000 },
  { name: 'opus', payloadType: 111, rtpClockRate: 48000 },
];

const resampler = async (from: number, to: number) =>
  from === to ? undefined : await Resampler.create(from, to);

function speechAt(rate: number): Int16Array {
  const wav = decodeWav(readFileSync('fixtures/audio/speech-16k.wav'));
  const pcm =
    wav.sampleRate === rate ? wav.samples : new PolyphaseResampler(wav.sampleRate, rate).process(wav.samples);
  const looped = new Int16Array((FRAMES * FRAME_MS * rate) / 1000);
  for (let at = 0; at < looped.length; at += pcm.length) looped.set(pcm.subarray(0, looped.length - at), at);
  return looped;
}

/** The RTP packets a carrier would send for FRAMES frames of speech. */
async function carrierPackets(codec: CodecCase): Promise<Uint8Array[]> {
  // The carrier's side: wideband for Opus, as a softphone or carrier would send.
  const encoder = await carrierEncoderFor(codec.name, 16000);
  const pcm = speechAt(encoder.sampleRate);
  const samples = (encoder.sampleRate * FRAME_MS) / 1000;
  const packets: Uint8Array[] = [];
  for (let frame = 0; frame < FRAMES; frame++) {
    const packet = new RtpPacket();
    packet.setPayloadType(codec.payloadType);
    packet.setSequenceNumber(frame);
    packet.setTimestamp((frame * codec.rtpClockRate * FRAME_MS) / 1000);
    packet.setSsrc(0x1234);
    const payload = encoder.encode(pcm.subarray(frame * samples, (frame + 1) * samples));
    packet.setPayload(new DataView(payload.buffer, payload.byteOffset, payload.byteLength));
    const view = packet.getView();
    packets.push(new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice());
  }
  encoder.close();
  return packets;
}

interface Timing {
  medianUs: number;
  p99Us: number;
  meanUs: number;
}

function timing(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const pick = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
  return {
    medianUs: pick(50) * 1000,
    p99Us: pick(99) * 1000,
    meanUs: (samples.reduce((sum, v) => sum + v, 0) / samples.length) * 1000,
  };
}

async function receiveRound(
  codec: CodecCase,
  packets: Uint8Array[],
  bridgeRate: BridgeRate,
): Promise<number[]> {
  const decoder = await carrierDecoderFor(codec.name, bridgeRate);
  const clock = new FakeClock();
  const receiver = new AudioReceiver(decoder, clock);
  const toBridge = await resampler(decoder.sampleRate, bridgeRate);
  const times: number[] = [];
  for (const bytes of packets) {
    clock.advance(FRAME_MS);
    const started = performance.now();
    const packet = parseRtp(bytes, clock.now());
    if (packet) receiver.insert(packet);
    const decoded = receiver.pull();
    toBridge?.process(decoded);
    times.push(performance.now() - started);
  }
  decoder.close();
  return times;
}

async function sendRound(codec: CodecCase, bridgeRate: BridgeRate): Promise<number[]> {
  const encoder = await carrierEncoderFor(codec.name, bridgeRate);
  const fromBridge = await resampler(bridgeRate, encoder.sampleRate);
  const bot = speechAt(bridgeRate);
  const samples = (bridgeRate * FRAME_MS) / 1000;
  const writer = new RtpPacketWriter();
  const times: number[] = [];
  for (let frame = 0; frame < FRAMES; frame++) {
    const pcm = bot.subarray(frame * samples, (frame + 1) * samples);
    const started = performance.now();
    const payload = encoder.encode(fromBridge ? fromBridge.process(pcm) : pcm);
    // As RtpSession.send writes each packet.
    writer.write(
      payload,
      codec.payloadType,
      false,
      frame & 0xffff,
      (frame * codec.rtpClockRate * FRAME_MS) / 1000,
      0x4321,
    );
    times.push(performance.now() - started);
  }
  encoder.close();
  return times;
}

function floorRound(packets: Uint8Array[]): number[] {
  const copy = new Uint8Array(1500);
  return packets.map((bytes) => {
    const started = performance.now();
    const packet = parseRtp(bytes, 0);
    if (packet) copy.set(packet.payload);
    return performance.now() - started;
  });
}

/** Median over rounds of each round's statistic. */
function acrossRounds(perRound: Timing[]): Timing {
  const med = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
  return {
    medianUs: med(perRound.map((t) => t.medianUs)),
    p99Us: med(perRound.map((t) => t.p99Us)),
    meanUs: med(perRound.map((t) => t.meanUs)),
  };
}

const us = (value: number) => value.toFixed(1);
console.log(
  `media chain: ${rounds} rounds of ${FRAMES} frames (20 s of speech) per row, Node ${process.version}`,
);
console.log('Per 20 ms frame, µs: median / p99 / mean (median over rounds).\n');
console.log(
  '| codec | bridge rate | receive (parse+jitter+decode+resample) | send (resample+encode+packetize) | floor: parse+copy | calls per core |',
);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const codec of CASES) {
  const packets = await carrierPackets(codec);
  for (const bridgeRate of [8000, 16000] as const) {
    const receive: Timing[] = [];
    const send: Timing[] = [];
    const floor: Timing[] = [];
    for (let round = 0; round < rounds; round++) {
      receive.push(timing(await receiveRound(codec, packets, bridgeRate)));
      send.push(timing(await sendRound(codec, bridgeRate)));
      floor.push(timing(floorRound(packets)));
    }
    const [r, s, f] = [acrossRounds(receive), acrossRounds(send), acrossRounds(floor)];
    // One receive and one send stream per call, 50 frames a second each.
    const callsPerCore = Math.floor(1e6 / ((1000 / FRAME_MS) * (r.meanUs + s.meanUs)));
    const cell = (t: Timing) => `${us(t.medianUs)} / ${us(t.p99Us)} / ${us(t.meanUs)}`;
    console.log(`| ${codec.name} | ${bridgeRate} | ${cell(r)} | ${cell(s)} | ${cell(f)} | ${callsPerCore} |`);
  }
}
