/**
 * Opus (RFC 6716) for RTP (RFC 7587) over libopus-wasm: the one binding measured here that
 * exposes in-band FEC decode and PLC of an arbitrary frame size (README, Dependencies).
 * RTP timestamps always run at 48 kHz whatever the decode rate (RFC 7587 §4.1).
 */
import {
  Application,
  createDecoder,
  createEncoder,
  isOpusError,
  type OpusDecoderHandle,
  type OpusEncoderHandle,
} from 'libopus-wasm';
import type { AudioDecoder, AudioEncoder } from './codec.js';

export type OpusSampleRate = 8000 | 12000 | 16000 | 24000 | 48000;

const OPUS_RTP_CLOCK_RATE = 48000;
/** Longest Opus packet: 120 ms (RFC 6716 §3.2.5). */
const MAX_PACKET_MS = 120;
/** Concealed frame length when a packet is undecodable and its duration unknown. */
const DEFAULT_FRAME_MS = 20;

interface OpusDecoderOptions {
  sampleRate: OpusSampleRate;
}

interface OpusEncoderOptions {
  sampleRate: OpusSampleRate;
  /** Target bitrate in bit/s; libopus picks one when omitted. */
  bitrate?: number;
  /** In-band FEC (LBRR, RFC 6716 §2.1.7); only sent when packetLossPercent > 0. */
  fec?: boolean;
  packetLossPercent?: number;
  /** 0 (cheapest) .. 10 (best). */
  complexity?: number;
  application?: 'voip' | 'audio';
}

/** Decoder that also counts payloads libopus rejected (they are concealed, never thrown). */
interface OpusAudioDecoder extends AudioDecoder {
  readonly invalidPackets: number;
  recoverFromNext(nextPayload: Uint8Array, samples: number): Int16Array | null;
}

/**
 * Offset and size of the first frame of an Opus packet, per the framing codes of
 * RFC 6716 §3.2, or undefined when the packet is malformed.
 */
function firstFrame(packet: Uint8Array): { offset: number; size: number } | undefined {
  const toc = packet[0];
  if (toc === undefined) return undefined;
  const code = toc & 0x03;
  if (code === 0) return { offset: 1, size: packet.length - 1 };
  if (code === 1) {
    // §3.2.3: two frames of equal size.
    if ((packet.length - 1) % 2 !== 0) return undefined;
    return { offset: 1, size: (packet.length - 1) / 2 };
  }
  if (code === 2) {
    const length = readFrameLength(packet, 1);
    return length && { offset: 1 + length.bytes, size: length.value };
  }
  // §3.2.5: frame count byte, optional padding, then CBR frames or VBR lengths.
  const countByte = packet[1];
  if (countByte === undefined) return undefined;
  const isVbr = (countByte & 0x80) !== 0;
  const hasPadding = (countByte & 0x40) !== 0;
  const frameCount = countByte & 0x3f;
  if (frameCount === 0) return undefined;
  let position = 2;
  let padding = 0;
  if (hasPadding) {
    for (;;) {
      const byte = packet[position++];
      if (byte === undefined) return undefined;
      padding += byte === 255 ? 254 : byte;
      if (byte !== 255) break;
    }
  }
  if (isVbr) {
    const length = readFrameLength(packet, position);
    if (!length) return undefined;
    // Skip the remaining M-2 length fields to reach the first frame's data.
    let dataStart = position + length.bytes;
    for (let i = 2; i < frameCount; i++) {
      const next = readFrameLength(packet, dataStart);
      if (!next) return undefined;
      dataStart += next.bytes;
    }
    return { offset: dataStart, size: length.value };
  }
  const dataBytes = packet.length - position - padding;
  if (dataBytes < 0 || dataBytes % frameCount !== 0) return undefined;
  return { offset: position, size: dataBytes / frameCount };
}

/** RFC 6716 §3.2.1: one byte below 252, else two bytes (first + 4 * second). */
function readFrameLength(packet: Uint8Array, at: number): { value: number; bytes: number } | undefined {
  const first = packet[at];
  if (first === undefined) return undefined;
  if (first < 252) return { value: first, bytes: 1 };
  const second = packet[at + 1];
  if (second === undefined) return undefined;
  return { value: first + 4 * second, bytes: 2 };
}

/** Samples per frame at 48 kHz from the TOC configuration (RFC 6716 §3.1, Table 2). */
function frameSamplesAt48k(toc: number): number {
  const config = toc >> 3;
  if (config < 12) return [480, 960, 1920, 2880][config & 0x03] as number; // SILK-only
  if (config < 16) return config & 0x01 ? 960 : 480; // Hybrid
  return [120, 240, 480, 960][config & 0x03] as number; // CELT-only
}

/**
 * Whether an Opus packet carries LBRR (in-band FEC) data for the previous frame.
 * The SILK header's first range-coded bits are the VAD flags (one per 20 ms SILK frame)
 * then the LBRR flag, each with probability 1/2, so they read as raw leading bits of the
 * first frame (RFC 6716 §4.2.3 and §4.2.4; same test as libopus's opus_packet_has_lbrr).
 */
export function opusPacketHasLbrr(packet: Uint8Array): boolean {
  const toc = packet[0];
  if (toc === undefined) return false;
  if (toc >> 3 >= 16) return false; // CELT-only: no SILK layer, no LBRR.
  const frame = firstFrame(packet);
  if (!frame || frame.size <= 0) return false;
  const header = packet[frame.offset];
  if (header === undefined) return false;
  const silkFrames = Math.max(1, frameSamplesAt48k(toc) / 960);
  const isStereo = (toc & 0x04) !== 0;
  const midLbrr = (header >> (7 - silkFrames)) & 0x01;
  // §4.2.3: the side channel's VAD and LBRR flags follow the mid channel's.
  const sideLbrr = isStereo ? (header >> (6 - 2 * silkFrames)) & 0x01 : 0;
  return midLbrr === 1 || sideLbrr === 1;
}

function samplesPerMs(sampleRate: number): number {
  return sampleRate / 1000;
}

/** libopus only conceals or FEC-decodes whole multiples of 2.5 ms (opus_decode_native). */
function checkConcealLength(sampleRate: number, samples: number): void {
  const quantum = sampleRate / 400;
  if (!Number.isInteger(samples) || samples <= 0 || samples % quantum !== 0)
    throw new RangeError(`Opus concealment needs a positive multiple of 2.5 ms, got ${samples} samples`);
  if (samples > MAX_PACKET_MS * samplesPerMs(sampleRate))
    throw new RangeError(`Opus concealment longer than ${MAX_PACKET_MS} ms: ${samples} samples`);
}

class OpusDecoder implements OpusAudioDecoder {
  readonly name = 'opus';
  readonly rtpClockRate = OPUS_RTP_CLOCK_RATE;
  invalidPackets = 0;
  #handle: OpusDecoderHandle | undefined;
  #lastFrameSamples: number;

  constructor(
    handle: OpusDecoderHandle,
    readonly sampleRate: OpusSampleRate,
  ) {
    this.#handle = handle;
    this.#lastFrameSamples = DEFAULT_FRAME_MS * samplesPerMs(sampleRate);
  }

  decode(payload: Uint8Array): Int16Array {
    const handle = this.#live();
    try {
      const pcm = handle.decode(payload);
      if (pcm.length > 0) this.#lastFrameSamples = pcm.length;
      return pcm;
    } catch (error) {
      // Network input: a malformed payload is concealed, not thrown (bad network input never throws).
      if (!isOpusError(error)) throw error;
      this.invalidPackets++;
      return handle.decodePacketLoss(this.#lastFrameSamples);
    }
  }

  conceal(samples: number): Int16Array {
    checkConcealLength(this.sampleRate, samples);
    return this.#live().decodePacketLoss(samples);
  }

  recoverFromNext(nextPayload: Uint8Array, samples: number): Int16Array | null {
    checkConcealLength(this.sampleRate, samples);
    // Without LBRR libopus would silently fall back to PLC; the caller must know.
    if (!opusPacketHasLbrr(nextPayload)) return null;
    try {
      return this.#live().decode(nextPayload, { decodeFec: true, frameSize: samples });
    } catch (error) {
      if (!isOpusError(error)) throw error;
      this.invalidPackets++;
      return null;
    }
  }

  close(): void {
    this.#handle?.free();
    this.#handle = undefined;
  }

  #live(): OpusDecoderHandle {
    if (!this.#handle) throw new Error('Opus decoder is closed');
    return this.#handle;
  }
}

class OpusEncoder implements AudioEncoder {
  readonly name = 'opus';
  readonly rtpClockRate = OPUS_RTP_CLOCK_RATE;
  #handle: OpusEncoderHandle | undefined;

  constructor(
    handle: OpusEncoderHandle,
    readonly sampleRate: OpusSampleRate,
  ) {
    this.#handle = handle;
  }

  /** Encodes one frame; its length sets the frame duration (2.5 to 60 ms, RFC 6716 §2.1.4). */
  encode(pcm: Int16Array): Uint8Array {
    return this.#live().encode(pcm, { frameSize: pcm.length });
  }

  setPacketLossPercent(percent: number): void {
    this.#live().setPacketLossPercent(clampPercent(percent));
  }

  close(): void {
    this.#handle?.free();
    this.#handle = undefined;
  }

  #live(): OpusEncoderHandle {
    if (!this.#handle) throw new Error('Opus encoder is closed');
    return this.#handle;
  }
}

function clampPercent(percent: number): number {
  if (!Number.isFinite(percent)) throw new RangeError(`packet loss percent must be finite: ${percent}`);
  return Math.round(Math.min(100, Math.max(0, percent)));
}

export async function createOpusDecoder(options: OpusDecoderOptions): Promise<OpusAudioDecoder> {
  const handle = await createDecoder({ sampleRate: options.sampleRate, channels: 1 });
  return new OpusDecoder(handle, options.sampleRate);
}

export async function createOpusEncoder(options: OpusEncoderOptions): Promise<AudioEncoder> {
  const handle = await createEncoder({
    sampleRate: options.sampleRate,
    channels: 1,
    application: options.application === 'audio' ? Application.Audio : Application.Voip,
    fec: options.fec ?? false,
    packetLossPercent: clampPercent(options.packetLossPercent ?? 0),
    ...(options.bitrate !== undefined && { bitrate: options.bitrate }),
    ...(options.complexity !== undefined && { complexity: options.complexity }),
  });
  return new OpusEncoder(handle, options.sampleRate);
}
