/**
 * Offline replay: every RTP stream of a capture runs through the real receive pipeline
 * (jitter buffer + decoder + RFC 4733 receiver) on a FakeClock driven by capture time,
 * optionally impaired first. Writes `<out>/<ssrc>.wav` per stream, `report.json` and
 * `plot.html`.
 *
 * The WAV starts at the first pull that played decoded audio: the jitter buffer's initial
 * delay (pulls before any packet was decoded) is trimmed and reported as
 * `leadingDelayTrimmedMs`, so a lossless capture lines up with a straight decode. It ends
 * after the stream's last RTP timestamp plus one packet interval.
 */
import { closeSync, mkdirSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  type DtmfEvent,
  DtmfReceiver,
  LateFrameWait,
  ObservedDecoder,
  parseRtp,
  pcmBytes,
  type ReceivedRtp,
  WAV_HEADER_BYTES,
  wavHeader,
} from '../media/index.js';
import { FakeClock } from '../util/index.js';
import {
  createDecoderFor,
  type Impairment,
  type PacketReceiver,
  type ReceiverFactory,
  type ReceiverStatsView,
} from './pipeline.js';
import { type PlotStream, renderPlotHtml, Timeline } from './plot.js';
import { newReadStats, readCapture } from './reader.js';
import { FileSource } from './source.js';
import { type RtpStreamInfo, scanCapture, streamKey } from './streams.js';
import { decodeUdpFrame, type NotUdp } from './udp.js';

export interface ReplayOptions {
  input: string;
  outDir: string;
  receiverFactory: ReceiverFactory;
  /** Replay only these SSRCs / streams touching these UDP ports (all streams when empty). */
  ssrcs?: number[];
  ports?: number[];
  /** Codec for dynamic payload types no SDP in the capture describes. */
  codec?: string;
  eventPayloadType?: number;
  impairment?: Impairment;
  /** The impairment spec as given, for the report. */
  impairSpec?: string;
  onProgress?: (fraction: number) => void;
}

interface StreamReport {
  key: string;
  ssrc: number;
  src: string;
  dst: string;
  codec: string | undefined;
  payloadType: number | undefined;
  sampleRate: number | undefined;
  packets: number;
  /** Sequence-number gaps in the capture itself (before any impairment). */
  lostInCapture: number;
  packetsDelivered: number;
  wav: string | undefined;
  wavSamples: number;
  leadingDelayTrimmedMs: number;
  decodedFrames: number;
  concealedSamples: number;
  recoveredSamples: number;
  dtmf: DtmfEvent[];
  jitter: ReceiverStatsView | undefined;
  skipped: string | undefined;
}

export interface ReplayReport {
  input: string;
  format: string;
  frames: number;
  truncated: boolean;
  readError: string | undefined;
  /** Frames that held no whole UDP datagram, by why (`fragment`: not reassembled). */
  skippedFrames: Record<NotUdp, number>;
  /** The first link type met that replay does not decode. */
  unsupportedLinkType: number | undefined;
  udpDatagrams: number;
  fragments: number;
  sipMessages: number;
  /** Datagrams neither SIP nor of a stream (RTCP, STUN, broken RTP headers, noise). */
  otherDatagrams: number;
  /** Datagrams of streams past the first 256 (not replayed). */
  droppedStreams: number;
  impair: string | undefined;
  streams: StreamReport[];
}

const TICK_MS = 20;
/** Keep pulling this long after a stream's last arrival for its buffered audio. */
const DRAIN_MS = 2000;
/** In-flight impaired deliveries across all streams (reorder/jitter window). */
const MAX_IN_FLIGHT = 4096;
const MAX_DTMF_EVENTS = 1000;
const PROGRESS_EVERY_FRAMES = 5000;

interface StreamRun {
  info: RtpStreamInfo;
  report: StreamReport;
  decoder: ObservedDecoder | undefined;
  receiver: PacketReceiver | undefined;
  dtmf: DtmfReceiver | undefined;
  wavFd: number | undefined;
  timeline: Timeline;
  lastSendMs: number;
  lastArrivalMs: number;
  highestSequence: number | undefined;
  firstTimestamp: number | undefined;
  lastUnwrappedTimestamp: number;
  packetIntervalTicks: number;
  concealedAtLastTick: number;
  /** Last cumulative receiver stats, to plot per-tick means (bounded: a few fields). */
  previousStats: Map<string, number>;
  pulling: boolean;
  /** A frame whose packet is late waits for it, as the gateway's media leg does for the bot. */
  lateFrame: LateFrameWait;
}

interface InFlight {
  run: StreamRun;
  packet: ReceivedRtp;
  arrivalMs: number;
}

function endpoint(e: { address: string; port: number }): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

function selected(info: RtpStreamInfo, options: ReplayOptions): boolean {
  if (options.ssrcs?.length && !options.ssrcs.includes(info.ssrc)) return false;
  if (options.ports?.length && !options.ports.some((p) => p === info.src.port || p === info.dst.port))
    return false;
  return true;
}

async function startRun(info: RtpStreamInfo, options: ReplayOptions, clock: FakeClock): Promise<StreamRun> {
  const codec = info.audio?.codec.encoding;
  const inner = codec ? await createDecoderFor(codec) : undefined;
  const decoder = inner && new ObservedDecoder(inner);
  const ssrcHex = info.ssrc.toString(16).padStart(8, '0');
  const wav = decoder ? join(options.outDir, `${ssrcHex}.wav`) : undefined;
  const wavFd = wav ? openSync(wav, 'w') : undefined;
  if (wavFd !== undefined && decoder) writeSync(wavFd, wavHeader(decoder.sampleRate, 1, 0));
  const run: StreamRun = {
    info,
    decoder,
    receiver: decoder && options.receiverFactory(decoder, clock),
    dtmf: info.events && new DtmfReceiver({ clockRate: info.events.clockRate }),
    wavFd,
    timeline: new Timeline(),
    lastSendMs: 0,
    lastArrivalMs: 0,
    highestSequence: undefined,
    firstTimestamp: undefined,
    lastUnwrappedTimestamp: 0,
    packetIntervalTicks: 0,
    concealedAtLastTick: 0,
    previousStats: new Map(),
    pulling: false,
    lateFrame: new LateFrameWait(
      () => run.receiver?.streamLate ?? false,
      () => writeFrame(run),
    ),
    report: {
      key: info.key,
      ssrc: info.ssrc,
      src: endpoint(info.src),
      dst: endpoint(info.dst),
      codec,
      payloadType: info.audio?.payloadType,
      sampleRate: decoder?.sampleRate,
      packets: 0,
      lostInCapture: 0,
      packetsDelivered: 0,
      wav,
      wavSamples: 0,
      leadingDelayTrimmedMs: 0,
      decodedFrames: 0,
      concealedSamples: 0,
      recoveredSamples: 0,
      dtmf: [],
      jitter: undefined,
      skipped: codec && !decoder ? `no decoder for ${codec}` : undefined,
    },
  };
  return run;
}

/** Counts capture-side losses and the stream's timestamp span, in send (capture) order. */
function noteSent(run: StreamRun, packet: ReceivedRtp): void {
  run.report.packets++;
  if (run.highestSequence === undefined) run.highestSequence = packet.sequenceNumber;
  const gap = (packet.sequenceNumber - run.highestSequence + 0x10000) % 0x10000;
  if (gap > 0 && gap < 0x8000) {
    run.report.lostInCapture += gap - 1;
    run.highestSequence = packet.sequenceNumber;
  }
  if (packet.payloadType !== run.info.audio?.payloadType) return;
  if (run.firstTimestamp === undefined) {
    run.firstTimestamp = packet.timestamp;
    return;
  }
  const sinceLast = (packet.timestamp - (run.firstTimestamp + run.lastUnwrappedTimestamp)) >>> 0;
  if (sinceLast > 0 && sinceLast < 0x80000000) {
    run.lastUnwrappedTimestamp += sinceLast;
    run.packetIntervalTicks = sinceLast;
  }
}

/** Samples the WAV should hold once the stream has been fully sent: span + one interval. */
function expectedSamples(run: StreamRun): number {
  const decoder = run.decoder;
  if (!decoder) return 0;
  const ticks = run.lastUnwrappedTimestamp + run.packetIntervalTicks;
  return Math.round((ticks * decoder.sampleRate) / decoder.rtpClockRate);
}

function deliver(run: StreamRun, packet: ReceivedRtp): void {
  run.report.packetsDelivered++;
  run.lastArrivalMs = packet.arrivalMs;
  if (packet.payloadType === run.info.events?.payloadType) {
    const event = run.dtmf?.push(packet);
    if (event && run.report.dtmf.length < MAX_DTMF_EVENTS) run.report.dtmf.push(event);
  } else if (packet.payloadType === run.info.audio?.payloadType) {
    run.receiver?.insert(packet);
    run.lateFrame.onPacket();
  }
}

function tick(run: StreamRun, clock: FakeClock): void {
  const event = run.dtmf?.poll(clock.now());
  if (event && run.report.dtmf.length < MAX_DTMF_EVENTS) run.report.dtmf.push(event);
  const { receiver, decoder } = run;
  if (!receiver || !decoder || run.wavFd === undefined) return;
  run.lateFrame.onTick();
  const stats = receiver.stats();
  const concealedNow = decoder.concealedSamples;
  run.timeline.add({
    tMs: clock.now(),
    bufferDelayMs: numberField(stats, 'bufferDelayMs') ?? tickMean(run, stats, 'jitterBufferDelay'),
    targetDelayMs: numberField(stats, 'targetDelayMs') ?? tickMean(run, stats, 'jitterBufferTargetDelay'),
    concealedSamples: concealedNow - run.concealedAtLastTick,
  });
  run.concealedAtLastTick = concealedNow;
}

function writeFrame(run: StreamRun): void {
  const { receiver, decoder } = run;
  if (!receiver || !decoder || run.wavFd === undefined) return;
  const frame = receiver.pull();
  if (decoder.decodedFrames === 0) {
    run.report.leadingDelayTrimmedMs += TICK_MS;
    return;
  }
  const room = allSent(run) ? Math.max(0, expectedSamples(run) - run.report.wavSamples) : frame.length;
  const kept = frame.subarray(0, Math.min(room, frame.length));
  if (kept.length > 0) writeSync(run.wavFd, pcmBytes(kept));
  run.report.wavSamples += kept.length;
}

/**
 * Mean over the last tick of a W3C-style cumulative delay (seconds summed per emitted
 * sample, as AudioReceiver's JitterStats keeps them), in ms.
 */
function tickMean(run: StreamRun, stats: ReceiverStatsView, field: string): number | undefined {
  const total = numberField(stats, field);
  const emitted = numberField(stats, 'jitterBufferEmittedCount');
  if (total === undefined || emitted === undefined) return undefined;
  const previous = run.previousStats.get(field) ?? 0;
  const previousEmitted = run.previousStats.get(`${field}:emitted`) ?? 0;
  run.previousStats.set(field, total);
  run.previousStats.set(`${field}:emitted`, emitted);
  return emitted > previousEmitted ? ((total - previous) / (emitted - previousEmitted)) * 1000 : undefined;
}

function numberField(stats: ReceiverStatsView, ...names: string[]): number | undefined {
  for (const name of names) {
    const value = stats[name];
    if (typeof value === 'number') return value;
  }
  return undefined;
}

/**
 * Whether the capture holds no more of this stream (the scan counted its packets). A pause
 * between packets is not the end: with 30 ms packets on 20 ms pulls, a pull often comes
 * before the next packet is sent, and trimming the WAV there drops audio still to come
 * and conceals past the real end.
 */
function allSent(run: StreamRun): boolean {
  return run.report.packets >= run.info.packets;
}

function isDone(run: StreamRun, nowMs: number): boolean {
  const drained = nowMs > Math.max(run.lastSendMs, run.lastArrivalMs) + DRAIN_MS;
  if (!allSent(run)) return drained;
  const full = run.decoder !== undefined && run.report.wavSamples >= expectedSamples(run);
  return full || drained;
}

/** Pulls every 20 ms of virtual time from the stream's first packet until it is done. */
function schedulePulls(run: StreamRun, clock: FakeClock): void {
  run.pulling = true;
  const startMs = clock.now();
  let ticks = 0;
  const next = () => {
    ticks++;
    tick(run, clock);
    if (isDone(run, clock.now())) {
      run.pulling = false;
      return;
    }
    clock.setTimer(startMs + (ticks + 1) * TICK_MS - clock.now(), next);
  };
  clock.setTimer(TICK_MS, next);
}

function finishRun(run: StreamRun): void {
  const { report, decoder, receiver, wavFd } = run;
  if (wavFd !== undefined && decoder) {
    writeSync(wavFd, wavHeader(decoder.sampleRate, 1, report.wavSamples * 2), 0, WAV_HEADER_BYTES, 0);
    closeSync(wavFd);
  }
  report.jitter = receiver?.stats();
  report.decodedFrames = decoder?.decodedFrames ?? 0;
  report.concealedSamples = decoder?.concealedSamples ?? 0;
  report.recoveredSamples = decoder?.recoveredSamples ?? 0;
  decoder?.close();
}

export async function replayCapture(options: ReplayOptions): Promise<ReplayReport> {
  mkdirSync(options.outDir, { recursive: true });
  const size = statSync(options.input).size;
  const scanSource = new FileSource(options.input, size);
  const scan = scanCapture(scanSource, { codec: options.codec, eventPayloadType: options.eventPayloadType });
  scanSource.close();
  const streams = scan.streams.filter((s) => selected(s, options));
  const streamsByKey = new Map(streams.map((s) => [s.key, s]));
  const runs = new Map<string, StreamRun>();
  const clock = new FakeClock(0);
  const t0Ms = Math.min(...streams.map((s) => s.firstMs));
  const inFlight: InFlight[] = [];
  let lastTimeMs = 0;

  /** Moves virtual time to `targetMs`, delivering due packets at their arrival times. */
  const advanceTo = (targetMs: number) => {
    while (inFlight.length > 0 && (inFlight[0] as InFlight).arrivalMs <= targetMs) {
      const due = inFlight.shift() as InFlight;
      clock.advanceTo(Math.max(clock.now(), due.arrivalMs));
      deliver(due.run, { ...due.packet, arrivalMs: clock.now() });
    }
    clock.advanceTo(Math.max(clock.now(), targetMs));
  };
  const enqueue = (item: InFlight) => {
    let at = inFlight.length;
    while (at > 0 && (inFlight[at - 1] as InFlight).arrivalMs > item.arrivalMs) at--;
    inFlight.splice(at, 0, item);
    if (inFlight.length > MAX_IN_FLIGHT) advanceTo((inFlight[0] as InFlight).arrivalMs);
  };

  const source = new FileSource(options.input, size);
  const read = newReadStats();
  for (const frame of readCapture(source, read)) {
    if (options.onProgress && read.frames % PROGRESS_EVERY_FRAMES === 0)
      options.onProgress(source.position / size);
    const datagram = decodeUdpFrame(frame.linkType, frame.data);
    if (typeof datagram === 'string') continue;
    // Captures may step back slightly (multi-queue NICs): time never goes backwards here.
    const sendMs = Math.max(lastTimeMs, frame.timestampMs - t0Ms);
    const packet = parseRtp(datagram.payload, sendMs);
    if (!packet) continue;
    const info = streamsByKey.get(streamKey(packet.ssrc, datagram));
    if (!info) continue;
    lastTimeMs = sendMs;
    advanceTo(sendMs);
    let run = runs.get(info.key);
    if (!run) {
      run = await startRun(info, options, clock);
      runs.set(info.key, run);
    }
    if (!run.pulling && !run.report.skipped) schedulePulls(run, clock);
    run.lastSendMs = sendMs;
    noteSent(run, packet);
    const deliveries = options.impairment
      ? options.impairment(packet, sendMs)
      : [{ packet, arrivalMs: sendMs }];
    for (const d of deliveries) enqueue({ run, packet: d.packet, arrivalMs: Math.max(sendMs, d.arrivalMs) });
  }
  source.close();
  // Drain: deliver what is in flight, then let every stream play out (bounded by DRAIN_MS).
  const allRuns = [...runs.values()];
  for (let guardMs = 0; allRuns.some((r) => r.pulling) && guardMs <= DRAIN_MS * 4; guardMs += TICK_MS)
    advanceTo(clock.now() + TICK_MS);
  for (const run of allRuns) finishRun(run);
  options.onProgress?.(1);

  const report: ReplayReport = {
    input: options.input,
    format: read.format,
    frames: read.frames,
    truncated: read.truncated,
    readError: read.error,
    skippedFrames: scan.skippedFrames,
    unsupportedLinkType: scan.unsupportedLinkType,
    udpDatagrams: scan.udpDatagrams,
    fragments: scan.skippedFrames.fragment,
    sipMessages: scan.sipMessages,
    otherDatagrams: scan.otherDatagrams,
    droppedStreams: scan.droppedStreams,
    impair: options.impairSpec,
    streams: allRuns.map((r) => r.report),
  };
  writeFileSync(join(options.outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  const plots: PlotStream[] = allRuns
    .filter((r) => r.decoder)
    .map((r) => ({ title: `${r.report.key} ${r.report.codec ?? ''}`, timeline: r.timeline.points }));
  writeFileSync(
    join(options.outDir, 'plot.html'),
    renderPlotHtml(`patchbay replay: ${options.input}`, plots),
  );
  return report;
}
