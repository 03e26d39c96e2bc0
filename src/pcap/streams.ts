/**
 * Finds SIP messages and RTP streams in a capture's UDP datagrams, and maps each stream's
 * payload types to codecs from the SDP seen in the capture, else static types (RFC 3551).
 */
import sdpTransform from 'sdp-transform';
import { parseRtp } from '../media/index.js';
import { type CaptureReadStats, newReadStats, readCapture } from './reader.js';
import type { ByteSource } from './source.js';
import { decodeUdpFrame, type NotUdp, type UdpDatagram, type UdpEndpoint } from './udp.js';

interface CodecMapping {
  /** Encoding name as in SDP a=rtpmap (PCMU, PCMA, opus, telephone-event...). */
  encoding: string;
  clockRate: number;
}

export interface RtpStreamInfo {
  /** SSRC + 5-tuple, as `ssrc@src->dst`. */
  key: string;
  ssrc: number;
  src: UdpEndpoint;
  dst: UdpEndpoint;
  packets: number;
  /** Packets per payload type. */
  payloadTypes: Map<number, number>;
  firstMs: number;
  lastMs: number;
  /** The stream's audio payload type and codec (undefined when it carries only events). */
  audio: { payloadType: number; codec: CodecMapping } | undefined;
  /** Telephone-event (RFC 4733) payload type and its clock, when the stream carries any. */
  events: { payloadType: number; clockRate: number } | undefined;
}

interface CaptureScan {
  read: CaptureReadStats;
  /** Frames that held no whole UDP datagram, by why. */
  skippedFrames: Record<NotUdp, number>;
  /** The first link type met that the reader does not decode (its frames are skipped). */
  unsupportedLinkType: number | undefined;
  udpDatagrams: number;
  sipMessages: number;
  /**
   * Datagrams neither SIP nor of a stream: not RTP (RTCP, STUN, an RTP header that does not
   * hold: version, CSRCs or extension past the end), or RTP of fewer than 3 packets (noise).
   */
  otherDatagrams: number;
  streams: RtpStreamInfo[];
  /** Datagrams of streams beyond the stream limit (MAX_STREAMS streams of 3 packets or more). */
  droppedStreams: number;
}

interface ScanOptions {
  /** Codec for dynamic payload types not described by any SDP, e.g. `opus` or `PCMU`. */
  codec?: string;
  /** Payload type of telephone-events when no SDP names it (101 by common convention). */
  eventPayloadType?: number;
}

const MAX_STREAMS = 256;
/** Fewer packets than this is noise that happened to look like RTP. */
const MIN_STREAM_PACKETS = 3;
/** A stream under MIN_STREAM_PACKETS silent this long gives its slot up when all are taken. */
const UNPROVEN_IDLE_MS = 1000;
const STATIC_PAYLOAD_TYPES: ReadonlyMap<number, CodecMapping> = new Map([
  [0, { encoding: 'PCMU', clockRate: 8000 }],
  [8, { encoding: 'PCMA', clockRate: 8000 }],
  [9, { encoding: 'G722', clockRate: 8000 }],
  [18, { encoding: 'G729', clockRate: 8000 }],
]);
const DEFAULT_EVENT_PAYLOAD_TYPE = 101;
const SIP_REQUEST_LINE = /^[A-Z]+ [^ \r\n]+ SIP\/2\.0\r?\n/;
const SIP_STATUS_LINE = /^SIP\/2\.0 \d{3} /;

export function isSipMessage(payload: Uint8Array): boolean {
  const head = Buffer.from(payload.buffer, payload.byteOffset, Math.min(payload.length, 256)).toString(
    'latin1',
  );
  return SIP_STATUS_LINE.test(head) || SIP_REQUEST_LINE.test(head);
}

export function streamKey(ssrc: number, datagram: UdpDatagram): string {
  const hex = ssrc.toString(16).padStart(8, '0');
  return `${hex}@${datagram.src.address}:${datagram.src.port}->${datagram.dst.address}:${datagram.dst.port}`;
}

/** Payload-type maps announced in SDP bodies, by the `address:port` that receives them. */
export class SdpPayloadMaps {
  readonly #byEndpoint = new Map<string, Map<number, CodecMapping>>();

  /** Learns from a SIP message's SDP body, if any; ignores anything unparsable. */
  learn(sipPayload: Uint8Array): void {
    const text = Buffer.from(sipPayload.buffer, sipPayload.byteOffset, sipPayload.length).toString('latin1');
    const bodyStart = text.indexOf('\r\n\r\n');
    const body = bodyStart < 0 ? '' : text.slice(bodyStart + 4);
    if (!body.startsWith('v=0')) return;
    try {
      const session = sdpTransform.parse(body);
      for (const media of session.media) {
        const address = media.connection?.ip ?? session.connection?.ip;
        if (!address || this.#byEndpoint.size >= MAX_STREAMS) continue;
        const map = new Map<number, CodecMapping>();
        for (const rtp of media.rtp ?? [])
          map.set(rtp.payload, { encoding: rtp.codec, clockRate: rtp.rate ?? 8000 });
        this.#byEndpoint.set(`${address}:${media.port}`, map);
      }
    } catch {
      // A broken SDP in a capture only costs us the mapping.
    }
  }

  /** The map for RTP sent to `dst`, or the one its sender announced (symmetric RTP). */
  lookup(src: UdpEndpoint, dst: UdpEndpoint): Map<number, CodecMapping> | undefined {
    return (
      this.#byEndpoint.get(`${dst.address}:${dst.port}`) ?? this.#byEndpoint.get(`${src.address}:${src.port}`)
    );
  }

  /** Any mapping for `payloadType` from any SDP, when no endpoint matched. */
  anyFor(payloadType: number): CodecMapping | undefined {
    for (const map of this.#byEndpoint.values()) {
      const found = map.get(payloadType);
      if (found) return found;
    }
    return undefined;
  }
}

/** By --codec lower-cased; a Map, so `constructor` finds no Object.prototype member. */
const DEFAULT_CLOCK_RATES: ReadonlyMap<string, number> = new Map([['opus', 48000]]);

/** Resolves one payload type: the stream's SDP, any SDP, static types, then --codec. */
function resolveCodec(
  payloadType: number,
  sdpMap: Map<number, CodecMapping> | undefined,
  maps: SdpPayloadMaps,
  options: ScanOptions,
): CodecMapping | undefined {
  const known = sdpMap?.get(payloadType) ?? maps.anyFor(payloadType) ?? STATIC_PAYLOAD_TYPES.get(payloadType);
  if (known) return known;
  if (payloadType === (options.eventPayloadType ?? DEFAULT_EVENT_PAYLOAD_TYPE))
    return { encoding: 'telephone-event', clockRate: 8000 };
  if (options.codec && payloadType >= 96)
    return {
      encoding: options.codec,
      clockRate: DEFAULT_CLOCK_RATES.get(options.codec.toLowerCase()) ?? 8000,
    };
  return undefined;
}

function isTelephoneEvent(codec: CodecMapping | undefined): boolean {
  return codec?.encoding.toLowerCase() === 'telephone-event';
}

/** Pass one over a capture: SIP count, SDP maps and the RTP streams with their codecs. */
export function scanCapture(
  source: ByteSource,
  options: ScanOptions = {},
): CaptureScan & { sdp: SdpPayloadMaps } {
  const scan: CaptureScan & { sdp: SdpPayloadMaps } = {
    read: newReadStats(),
    skippedFrames: { fragment: 0, 'not-ip': 0, 'not-udp': 0, malformed: 0, 'unsupported-link': 0 },
    unsupportedLinkType: undefined,
    udpDatagrams: 0,
    sipMessages: 0,
    otherDatagrams: 0,
    streams: [],
    droppedStreams: 0,
    sdp: new SdpPayloadMaps(),
  };
  const byKey = new Map<string, RtpStreamInfo>();
  /**
   * Streams still under MIN_STREAM_PACKETS, least recently heard first: noise that happened to
   * look like RTP (a DNS answer, a QUIC packet) or a stream just begun. With every slot taken,
   * one silent for UNPROVEN_IDLE_MS makes room, so noise never keeps a call that comes after it
   * out of the scan, and streams that start together still keep their slots.
   */
  const unproven = new Map<string, RtpStreamInfo>();
  for (const frame of readCapture(source, scan.read)) {
    const datagram = decodeUdpFrame(frame.linkType, frame.data);
    if (typeof datagram === 'string') {
      scan.skippedFrames[datagram]++;
      if (datagram === 'unsupported-link') scan.unsupportedLinkType ??= frame.linkType;
      continue;
    }
    scan.udpDatagrams++;
    if (isSipMessage(datagram.payload)) {
      scan.sipMessages++;
      scan.sdp.learn(datagram.payload);
      continue;
    }
    const rtp = parseRtp(datagram.payload, frame.timestampMs);
    if (!rtp) {
      scan.otherDatagrams++;
      continue;
    }
    const key = streamKey(rtp.ssrc, datagram);
    let stream = byKey.get(key);
    if (!stream) {
      if (byKey.size >= MAX_STREAMS) {
        const idlest = unproven.values().next().value;
        if (!idlest || !(frame.timestampMs - idlest.lastMs >= UNPROVEN_IDLE_MS)) {
          scan.droppedStreams++;
          continue;
        }
        scan.otherDatagrams += idlest.packets;
        unproven.delete(idlest.key);
        byKey.delete(idlest.key);
      }
      stream = {
        key,
        ssrc: rtp.ssrc,
        src: datagram.src,
        dst: datagram.dst,
        packets: 0,
        payloadTypes: new Map(),
        firstMs: frame.timestampMs,
        lastMs: frame.timestampMs,
        audio: undefined,
        events: undefined,
      };
      byKey.set(key, stream);
    }
    stream.packets++;
    // Re-inserted, so the map stays in the order streams were last heard.
    unproven.delete(key);
    if (stream.packets < MIN_STREAM_PACKETS) unproven.set(key, stream);
    stream.lastMs = frame.timestampMs;
    // Bounded: a payload type is 7 bits.
    stream.payloadTypes.set(rtp.payloadType, (stream.payloadTypes.get(rtp.payloadType) ?? 0) + 1);
  }
  for (const stream of byKey.values()) {
    if (stream.packets < MIN_STREAM_PACKETS) {
      scan.otherDatagrams += stream.packets;
      continue;
    }
    const sdpMap = scan.sdp.lookup(stream.src, stream.dst);
    const byCount = [...stream.payloadTypes.entries()].sort((a, b) => b[1] - a[1]);
    for (const [payloadType] of byCount) {
      const codec = resolveCodec(payloadType, sdpMap, scan.sdp, options);
      if (codec && isTelephoneEvent(codec)) stream.events ??= { payloadType, clockRate: codec.clockRate };
      else if (codec && !stream.audio) stream.audio = { payloadType, codec };
    }
    scan.streams.push(stream);
  }
  return scan;
}
