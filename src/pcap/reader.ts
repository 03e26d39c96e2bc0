/**
 * Streaming reader for libpcap files (both byte orders, micro- and nanosecond magic) and
 * pcapng (draft-ietf-opsawg-pcapng: SHB, IDB, EPB, SPB; per-interface link type and
 * if_tsresol/if_tsoffset; both byte orders, several sections). Never throws on bad input:
 * truncation and corruption end the stream and are reported in `CaptureReadStats`.
 */
import type { ByteSource } from './source.js';

export interface CapturedFrame {
  /** Link-layer header type (LINKTYPE_*). */
  linkType: number;
  /** Capture time in milliseconds since the Unix epoch (fractional). */
  timestampMs: number;
  data: Uint8Array;
  /** Original length on the wire (data may be cut by the snap length). */
  originalLength: number;
}

export interface CaptureReadStats {
  format: 'pcap' | 'pcapng' | 'unknown';
  frames: number;
  /** Set when the file ended inside a header or record, or a length was impossible. */
  truncated: boolean;
  /** Why reading stopped early, for the report. */
  error: string | undefined;
  skippedBlocks: number;
}

/** Upper bound for one record or block; real snap lengths are at most 256 KiB. */
const MAX_RECORD_BYTES = 1024 * 1024;

/** Interfaces kept per pcapng section: a capture of every veth on a busy host has hundreds. */
const MAX_INTERFACES = 4096;

const PCAP_MAGIC_MICROS = 0xa1b2c3d4;
const PCAP_MAGIC_NANOS = 0xa1b23c4d;
const PCAPNG_SECTION_HEADER = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const PCAPNG_INTERFACE_DESCRIPTION = 1;
const PCAPNG_SIMPLE_PACKET = 3;
const PCAPNG_ENHANCED_PACKET = 6;
const OPTION_IF_TSRESOL = 9;
const OPTION_IF_TSOFFSET = 14;

export function newReadStats(): CaptureReadStats {
  return { format: 'unknown', frames: 0, truncated: false, error: undefined, skippedBlocks: 0 };
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Yields every frame of a pcap or pcapng capture, filling `stats` as it goes. */
export function* readCapture(
  source: ByteSource,
  stats: CaptureReadStats = newReadStats(),
): Generator<CapturedFrame> {
  const head = source.read(4);
  if (head.length < 4) {
    stats.truncated = true;
    stats.error = 'file shorter than a capture header';
    return;
  }
  const magicBe = view(head).getUint32(0, false);
  const magicLe = view(head).getUint32(0, true);
  if (magicBe === PCAPNG_SECTION_HEADER) {
    stats.format = 'pcapng';
    yield* readPcapng(source, head, stats);
  } else if ([magicBe, magicLe].some((m) => m === PCAP_MAGIC_MICROS || m === PCAP_MAGIC_NANOS)) {
    stats.format = 'pcap';
    const littleEndian = magicLe === PCAP_MAGIC_MICROS || magicLe === PCAP_MAGIC_NANOS;
    const isNanos = (littleEndian ? magicLe : magicBe) === PCAP_MAGIC_NANOS;
    yield* readPcap(source, littleEndian, isNanos, stats);
  } else {
    stats.error = `unknown capture magic 0x${magicBe.toString(16)}`;
  }
}

function* readPcap(
  source: ByteSource,
  littleEndian: boolean,
  isNanos: boolean,
  stats: CaptureReadStats,
): Generator<CapturedFrame> {
  const rest = source.read(20);
  if (rest.length < 20) {
    stats.truncated = true;
    stats.error = 'truncated pcap file header';
    return;
  }
  const header = view(rest);
  // Link type lives in the low 16 bits; the high bits may carry FCS info (pcap spec §4).
  const linkType = header.getUint32(16, littleEndian) & 0xffff; // offset 20 in the file
  const fractionPerMs = isNanos ? 1e6 : 1e3;
  for (;;) {
    const recordHeader = source.read(16);
    if (recordHeader.length === 0) return;
    if (recordHeader.length < 16) {
      stats.truncated = true;
      stats.error = 'truncated record header';
      return;
    }
    const record = view(recordHeader);
    const seconds = record.getUint32(0, littleEndian);
    const fraction = record.getUint32(4, littleEndian);
    const capturedLength = record.getUint32(8, littleEndian);
    const originalLength = record.getUint32(12, littleEndian);
    if (capturedLength > MAX_RECORD_BYTES) {
      stats.truncated = true;
      stats.error = `record length ${capturedLength} exceeds ${MAX_RECORD_BYTES}`;
      return;
    }
    const data = source.read(capturedLength);
    if (data.length < capturedLength) {
      stats.truncated = true;
      stats.error = 'truncated record body';
      return;
    }
    stats.frames++;
    yield { linkType, timestampMs: seconds * 1000 + fraction / fractionPerMs, data, originalLength };
  }
}

interface PcapngInterface {
  linkType: number;
  snapLength: number;
  /** Timestamp units per second (if_tsresol, default 10^6). */
  unitsPerSecond: number;
  offsetSeconds: number;
}

function* readPcapng(
  source: ByteSource,
  firstWord: Uint8Array,
  stats: CaptureReadStats,
): Generator<CapturedFrame> {
  let littleEndian = true;
  let interfaces: PcapngInterface[] = [];
  let lastTimestampMs = 0;
  let pendingType: Uint8Array | undefined = firstWord;
  for (;;) {
    const typeBytes = pendingType ?? source.read(4);
    pendingType = undefined;
    if (typeBytes.length === 0) return;
    const lengthBytes = source.read(4);
    if (typeBytes.length < 4 || lengthBytes.length < 4) {
      stats.truncated = true;
      stats.error = 'truncated block header';
      return;
    }
    // The section header is a palindrome, so its type reads the same in both orders.
    const isSectionHeader = view(typeBytes).getUint32(0, false) === PCAPNG_SECTION_HEADER;
    let body: Uint8Array;
    if (isSectionHeader) {
      const orderBytes = source.read(4);
      if (orderBytes.length < 4) {
        stats.truncated = true;
        stats.error = 'truncated section header';
        return;
      }
      const order = view(orderBytes).getUint32(0, true);
      if (
        order !== PCAPNG_BYTE_ORDER_MAGIC &&
        view(orderBytes).getUint32(0, false) !== PCAPNG_BYTE_ORDER_MAGIC
      ) {
        stats.error = 'bad pcapng byte-order magic';
        return;
      }
      littleEndian = order === PCAPNG_BYTE_ORDER_MAGIC;
      interfaces = [];
      const blockLength = view(lengthBytes).getUint32(0, littleEndian);
      const rest = readBlockBody(source, blockLength, 12, stats);
      if (!rest) return;
      body = rest;
    } else {
      const blockLength = view(lengthBytes).getUint32(0, littleEndian);
      const rest = readBlockBody(source, blockLength, 8, stats);
      if (!rest) return;
      body = rest;
    }
    if (isSectionHeader) continue;
    const type = view(typeBytes).getUint32(0, littleEndian);
    const block = view(body);
    if (type === PCAPNG_INTERFACE_DESCRIPTION && body.length >= 8) {
      // Past the bound, an IDB is skipped and so are the packets naming it (no interface).
      if (interfaces.length < MAX_INTERFACES) interfaces.push(parseInterface(body, littleEndian));
      else stats.skippedBlocks++;
    } else if (type === PCAPNG_ENHANCED_PACKET && body.length >= 20) {
      const iface = interfaces[block.getUint32(0, littleEndian)];
      const capturedLength = block.getUint32(12, littleEndian);
      if (!iface || 20 + capturedLength > body.length) {
        stats.skippedBlocks++;
        continue;
      }
      const ticks = block.getUint32(4, littleEndian) * 2 ** 32 + block.getUint32(8, littleEndian);
      lastTimestampMs = (ticks / iface.unitsPerSecond + iface.offsetSeconds) * 1000;
      stats.frames++;
      yield {
        linkType: iface.linkType,
        timestampMs: lastTimestampMs,
        data: body.subarray(20, 20 + capturedLength),
        originalLength: block.getUint32(16, littleEndian),
      };
    } else if (type === PCAPNG_SIMPLE_PACKET && body.length >= 4) {
      // SPB: always interface 0, no timestamp (reuse the last one), captured = min(orig, snap).
      const iface = interfaces[0];
      if (!iface) {
        stats.skippedBlocks++;
        continue;
      }
      const originalLength = block.getUint32(0, littleEndian);
      const limit = iface.snapLength === 0 ? originalLength : Math.min(originalLength, iface.snapLength);
      stats.frames++;
      yield {
        linkType: iface.linkType,
        timestampMs: lastTimestampMs,
        data: body.subarray(4, 4 + Math.min(limit, body.length - 4)),
        originalLength,
      };
    } else {
      stats.skippedBlocks++;
    }
  }
}

/**
 * Reads the rest of a block whose total length is `blockLength`, `consumed` bytes of which
 * are already read, and checks the trailing copy of the length. Returns the body without
 * the trailing length, or undefined (and fills `stats`) when the block is impossible.
 */
function readBlockBody(
  source: ByteSource,
  blockLength: number,
  consumed: number,
  stats: CaptureReadStats,
): Uint8Array | undefined {
  if (blockLength < consumed + 4 || blockLength % 4 !== 0 || blockLength > MAX_RECORD_BYTES) {
    stats.error = `impossible pcapng block length ${blockLength}`;
    stats.truncated = blockLength > MAX_RECORD_BYTES;
    return undefined;
  }
  const rest = source.read(blockLength - consumed);
  if (rest.length < blockLength - consumed) {
    stats.truncated = true;
    stats.error = 'truncated pcapng block';
    return undefined;
  }
  return rest.subarray(0, rest.length - 4);
}

function parseInterface(body: Uint8Array, littleEndian: boolean): PcapngInterface {
  const block = view(body);
  const iface: PcapngInterface = {
    linkType: block.getUint16(0, littleEndian),
    snapLength: block.getUint32(4, littleEndian),
    unitsPerSecond: 1e6,
    offsetSeconds: 0,
  };
  // Options: code (2), length (2), value padded to 4 bytes; opt_endofopt (0) ends them.
  let position = 8;
  while (position + 4 <= body.length) {
    const code = block.getUint16(position, littleEndian);
    const length = block.getUint16(position + 2, littleEndian);
    const value = position + 4;
    if (code === 0 || value + length > body.length) break;
    if (code === OPTION_IF_TSRESOL && length >= 1) {
      const resolution = body[value] as number;
      // MSB clear: 10^-n seconds; set: 2^-n seconds.
      iface.unitsPerSecond = resolution & 0x80 ? 2 ** (resolution & 0x7f) : 10 ** resolution;
    } else if (code === OPTION_IF_TSOFFSET && length >= 8) {
      iface.offsetSeconds = Number(block.getBigInt64(value, littleEndian));
    }
    position = value + length + ((4 - (length % 4)) % 4);
  }
  return iface;
}
