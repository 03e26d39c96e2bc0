/**
 * The callers' media: one UDP socket per call sending 20 ms PCMU frames of talk (talker.ts:
 * voiced spurts and pauses, one spurt frame in TAG_EVERY tagged with the call and its send
 * time, see frame-tag.ts) and receiving the echo. Latency, loss and lateness are measured on
 * the tagged frames. Calls are spread over
 * four 5 ms phases of the 20 ms frame, as independent carriers' streams are, instead of all
 * sending in one burst. The sender runs on absolute deadlines; when its own process is late it
 * catches up (stamping the real send times) and reports how late it was, so a stall of the
 * load generator is not mistaken for one of the system under test.
 */
import { createSocket, type Socket } from 'node:dgram';
import { FrameStats, type ReceivedFigures } from './frame-stats.js';
import { nowUs, TAG_OFFSETS, TagStreamReader, writeTag } from './frame-tag.js';
import { FRAME_SAMPLES, Talker } from './talker.js';
import { LatencyTimeline, type TimelineSecond } from './timeline.js';

const FRAME_MS = 20;
const PHASES = 4;
const SLOT_MS = FRAME_MS / PHASES;
const PAYLOAD_BYTES = FRAME_SAMPLES;
const RTP_HEADER_BYTES = 12;
/** Catch-up is bounded: past this many missed slots the sender skips ahead. */
const MAX_CATCH_UP_SLOTS = 50;

interface CallerStream {
  socket: Socket;
  remotePort: number | undefined;
  rtpSeq: number;
  rtpTimestamp: number;
  ssrc: number;
  talker: Talker;
  /** Reads the echo's tags across packet boundaries. */
  tags: TagStreamReader;
}

export interface CallerFigures {
  /** Tagged frames sent with a send time in the window (the frames latency and loss are over). */
  sentInWindow: number;
  botToCaller: ReceivedFigures;
  /** How far behind its deadlines the sender fell at worst in the window, ms. */
  senderLagMaxMs: number;
  /** Frames the sender skipped because it fell more than MAX_CATCH_UP_SLOTS behind. */
  senderSkipped: number;
  /** Bot->caller second by second from the warm-up on (caller->bot empty: the bot measures it). */
  timeline: TimelineSecond[];
}

export class RtpCallers {
  readonly #streams: CallerStream[];
  readonly #botToCaller = new FrameStats();
  #timeline = new LatencyTimeline(0);
  readonly #startedAtMs = performance.now();
  #slot = 0;
  #timer: NodeJS.Timeout | undefined;
  #sentInWindow = 0;
  #senderLagMaxMs = 0;
  #senderSkipped = 0;
  #closed = false;

  private constructor(streams: CallerStream[]) {
    this.#streams = streams;
    for (const [call, stream] of streams.entries())
      stream.socket.on('message', (packet) => this.#receive(call, packet));
    this.#schedule();
  }

  /** Binds one loopback socket per call; nothing is sent until a call gets its remote port. */
  static async open(calls: number): Promise<RtpCallers> {
    const streams: CallerStream[] = [];
    for (let call = 0; call < calls; call++) {
      const socket = createSocket('udp4');
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      streams.push({
        socket,
        remotePort: undefined,
        rtpSeq: 0,
        rtpTimestamp: 0,
        ssrc: 0x10000 + call,
        // Seeded by the call's index: each call its own voice, the same in every run.
        talker: new Talker(call + 1),
        tags: new TagStreamReader(PAYLOAD_BYTES),
      });
    }
    return new RtpCallers(streams);
  }

  get ports(): number[] {
    return this.#streams.map((stream) => stream.socket.address().port);
  }

  /** Starts sending call `call`'s frames to `remotePort` on loopback. */
  connect(call: number, remotePort: number): void {
    const stream = this.#streams[call];
    if (stream) stream.remotePort = remotePort;
  }

  /** Stops sending call `call`'s frames (its call ended); `connect` starts a new stream. */
  disconnect(call: number): void {
    const stream = this.#streams[call];
    if (stream) stream.remotePort = undefined;
  }

  /** One window for both directions: tagged frames sent and echoed are counted by send time. */
  setWindow(startUs: number, endUs: number): void {
    this.#botToCaller.setWindow(startUs, endUs);
    this.#timeline = new LatencyTimeline(startUs);
    this.#sentInWindow = 0;
    this.#senderLagMaxMs = 0;
    this.#senderSkipped = 0;
  }

  figures(): CallerFigures {
    return {
      sentInWindow: this.#sentInWindow,
      botToCaller: this.#botToCaller.figures(),
      senderLagMaxMs: this.#senderLagMaxMs,
      senderSkipped: this.#senderSkipped,
      timeline: this.#timeline.seconds(),
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const stream of this.#streams) stream.socket.close();
  }

  #schedule(): void {
    if (this.#closed) return;
    const due = this.#startedAtMs + this.#slot * SLOT_MS;
    this.#timer = setTimeout(() => this.#sendDueSlots(), Math.max(0, due - performance.now()));
  }

  #sendDueSlots(): void {
    const now = performance.now();
    const behind = Math.floor((now - this.#startedAtMs) / SLOT_MS) - this.#slot;
    const lagMs = now - (this.#startedAtMs + this.#slot * SLOT_MS);
    if (this.#botToCaller.inWindow(nowUs())) this.#senderLagMaxMs = Math.max(this.#senderLagMaxMs, lagMs);
    if (behind > MAX_CATCH_UP_SLOTS) {
      const skippedSlots = behind - MAX_CATCH_UP_SLOTS;
      this.#senderSkipped += Math.round((skippedSlots * this.#streams.length) / PHASES);
      this.#slot += skippedSlots;
    }
    while (this.#startedAtMs + this.#slot * SLOT_MS <= performance.now()) {
      const phase = this.#slot % PHASES;
      for (let call = phase; call < this.#streams.length; call += PHASES) this.#send(call);
      this.#slot++;
    }
    this.#schedule();
  }

  #send(call: number): void {
    const stream = this.#streams[call];
    if (!stream || stream.remotePort === undefined) return;
    const packet = Buffer.allocUnsafe(RTP_HEADER_BYTES + PAYLOAD_BYTES);
    packet[0] = 0x80; // RTP version 2 (RFC 3550 §5.1), no padding, extension or CSRC
    packet[1] = 0; // PCMU
    packet.writeUInt16BE(stream.rtpSeq, 2);
    packet.writeUInt32BE(stream.rtpTimestamp, 4);
    packet.writeUInt32BE(stream.ssrc, 8);
    const payload = packet.subarray(RTP_HEADER_BYTES);
    const tagged = stream.talker.next(payload);
    const sentUs = tagged ? nowUs() : 0;
    if (tagged)
      for (const at of TAG_OFFSETS) writeTag(payload, at, { call, callerSentUs: sentUs, botSentUs: 0 });
    stream.socket.send(packet, stream.remotePort, '127.0.0.1');
    stream.rtpSeq = (stream.rtpSeq + 1) & 0xffff;
    stream.rtpTimestamp = (stream.rtpTimestamp + PAYLOAD_BYTES) >>> 0;
    if (tagged && this.#botToCaller.inWindow(sentUs)) this.#sentInWindow++;
  }

  #receive(call: number, packet: Buffer): void {
    const arrivalUs = nowUs();
    // RFC 5761 §4: RTCP (payload types 192-223 in the second byte) may share the port.
    const secondByte = packet[1] ?? 0;
    if (packet.length <= RTP_HEADER_BYTES || (secondByte >= 192 && secondByte <= 223)) return;
    const headerBytes = RTP_HEADER_BYTES + 4 * ((packet[0] ?? 0) & 0x0f);
    const stream = this.#streams[call];
    if (!stream) return;
    for (const { tag } of stream.tags.read(packet, headerBytes, packet.length)) {
      if (tag.call !== call || tag.botSentUs === 0) continue;
      if (this.#botToCaller.observe(call, tag.callerSentUs, tag.botSentUs, arrivalUs))
        this.#timeline.add(1, tag.botSentUs, arrivalUs - tag.botSentUs);
    }
  }
}
