/**
 * Link layer -> IPv4/IPv6 -> UDP, for the link types SIP/RTP captures come in. Pure and
 * total: anything that is not a whole UDP datagram yields a reason instead of throwing.
 */

export const LinkType = {
  Null: 0,
  Ethernet: 1,
  Raw: 101,
  LinuxSll: 113,
  Ipv4: 228,
  Ipv6: 229,
  LinuxSll2: 276,
} as const;

export interface UdpEndpoint {
  address: string;
  port: number;
}

export interface UdpDatagram {
  src: UdpEndpoint;
  dst: UdpEndpoint;
  payload: Uint8Array;
}

/** Why a frame gave no datagram; `fragment` is counted apart (we do not reassemble). */
export type NotUdp = 'fragment' | 'not-ip' | 'not-udp' | 'malformed' | 'unsupported-link';

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const MAX_VLAN_TAGS = 4;
const IP_PROTOCOL_UDP = 17;
const IPV6_FRAGMENT = 44;
/** Hop-by-hop, routing, destination options: skipped to reach UDP (RFC 8200 §4). */
const IPV6_SKIPPABLE = new Set([0, 43, 60]);
const MAX_IPV6_EXTENSIONS = 8;

export function decodeUdpFrame(linkType: number, frame: Uint8Array): UdpDatagram | NotUdp {
  const ip = ipPayloadOf(linkType, frame);
  if (typeof ip === 'string') return ip;
  const version = (ip[0] ?? 0) >> 4;
  if (version === 4) return decodeIpv4(ip);
  if (version === 6) return decodeIpv6(ip);
  return 'not-ip';
}

function uint16(bytes: Uint8Array, at: number): number {
  return ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
}

function ipPayloadOf(linkType: number, frame: Uint8Array): Uint8Array | NotUdp {
  switch (linkType) {
    case LinkType.Null:
      // 4-byte address family in the capturing host's byte order; the IP version says the rest.
      return frame.length > 4 ? frame.subarray(4) : 'malformed';
    case LinkType.Ethernet: {
      let offset = 12;
      let etherType = uint16(frame, offset);
      for (
        let tags = 0;
        (etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ) && tags < MAX_VLAN_TAGS;
        tags++
      ) {
        offset += 4; // IEEE 802.1Q tag: TPID then TCI, then the next EtherType.
        etherType = uint16(frame, offset);
      }
      return ipByEtherType(etherType, frame, offset + 2);
    }
    case LinkType.LinuxSll:
      return ipByEtherType(uint16(frame, 14), frame, 16);
    case LinkType.LinuxSll2:
      return ipByEtherType(uint16(frame, 0), frame, 20);
    case LinkType.Raw:
    case LinkType.Ipv4:
    case LinkType.Ipv6:
      return frame;
    default:
      return 'unsupported-link';
  }
}

function ipByEtherType(etherType: number, frame: Uint8Array, offset: number): Uint8Array | NotUdp {
  if (offset >= frame.length) return 'malformed';
  if (etherType !== ETHERTYPE_IPV4 && etherType !== ETHERTYPE_IPV6) return 'not-ip';
  return frame.subarray(offset);
}

function decodeIpv4(packet: Uint8Array): UdpDatagram | NotUdp {
  const headerLength = ((packet[0] ?? 0) & 0x0f) * 4;
  const totalLength = uint16(packet, 2);
  if (headerLength < 20 || packet.length < headerLength || totalLength < headerLength) return 'malformed';
  // RFC 791 §3.1: more-fragments flag or a non-zero offset means a fragment.
  if ((uint16(packet, 6) & 0x3fff) !== 0) return 'fragment';
  if (packet[9] !== IP_PROTOCOL_UDP) return 'not-udp';
  const address = (at: number) => Array.from(packet.subarray(at, at + 4)).join('.');
  // Total length trims Ethernet padding; a snapped capture keeps what it has.
  return decodeUdp(
    packet.subarray(headerLength, Math.min(packet.length, totalLength)),
    address(12),
    address(16),
  );
}

function decodeIpv6(packet: Uint8Array): UdpDatagram | NotUdp {
  if (packet.length < 40) return 'malformed';
  const end = Math.min(packet.length, 40 + uint16(packet, 4));
  let nextHeader = packet[6] as number;
  let offset = 40;
  for (let hops = 0; hops < MAX_IPV6_EXTENSIONS && nextHeader !== IP_PROTOCOL_UDP; hops++) {
    if (nextHeader === IPV6_FRAGMENT) {
      // RFC 8200 §4.5: an atomic fragment (offset 0, no M flag) is a whole packet.
      if ((uint16(packet, offset + 2) & 0xfff9) !== 0) return 'fragment';
      nextHeader = packet[offset] ?? -1;
      offset += 8;
    } else if (IPV6_SKIPPABLE.has(nextHeader)) {
      const extensionLength = ((packet[offset + 1] ?? 0) + 1) * 8;
      nextHeader = packet[offset] ?? -1;
      offset += extensionLength;
    } else {
      return 'not-udp';
    }
    if (offset > end) return 'malformed';
  }
  if (nextHeader !== IP_PROTOCOL_UDP) return 'not-udp';
  return decodeUdp(packet.subarray(offset, end), ipv6Address(packet, 8), ipv6Address(packet, 24));
}

function ipv6Address(packet: Uint8Array, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(uint16(packet, at + i).toString(16));
  // RFC 5952 §4.2: compress the longest run of two or more zero groups.
  const text = groups.join(':');
  const runs = text.match(/(^|:)0(:0)+(:|$)/g);
  if (!runs) return text;
  const longest = runs.reduce((a, b) => (b.length > a.length ? b : a));
  return text.replace(longest, '::');
}

function decodeUdp(segment: Uint8Array, srcAddress: string, dstAddress: string): UdpDatagram | NotUdp {
  if (segment.length < 8) return 'malformed';
  const udpLength = uint16(segment, 4);
  if (udpLength < 8) return 'malformed';
  return {
    src: { address: srcAddress, port: uint16(segment, 0) },
    dst: { address: dstAddress, port: uint16(segment, 2) },
    payload: segment.subarray(8, Math.min(segment.length, udpLength)),
  };
}
