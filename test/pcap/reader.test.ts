import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CapturedFrame, newReadStats, readCapture } from '../../src/pcap/reader.js';
import { MemorySource } from '../../src/pcap/source.js';
import { decodeUdpFrame, LinkType, type UdpDatagram } from '../../src/pcap/udp.js';

const PAYLOAD = Uint8Array.of(0xde, 0xad, 0xbe, 0xef);

function udp(srcPort: number, dstPort: number, payload: Uint8Array): number[] {
  const length = 8 + payload.length;
  return [
    srcPort >> 8,
    srcPort & 0xff,
    dstPort >> 8,
    dstPort & 0xff,
    length >> 8,
    length & 0xff,
    0,
    0,
    ...payload,
  ];
}

function ipv4(segment: number[], fragmentField = 0): number[] {
  const total = 20 + segment.length;
  return [0x45, 0, total >> 8, total & 0xff, 0, 1, fragmentField >> 8, fragmentField & 0xff, 64, 17, 0, 0]
    .concat([10, 0, 0, 1, 10, 0, 0, 2])
    .concat(segment);
}

function ipv6(segment: number[], extension: number[] = [], firstNextHeader = 17): number[] {
  const length = extension.length + segment.length;
  const source = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1];
  const destination = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 2];
  return [
    0x60,
    0,
    0,
    0,
    length >> 8,
    length & 0xff,
    firstNextHeader,
    64,
    ...source,
    ...destination,
    ...extension,
    ...segment,
  ];
}

const IPV4_UDP = ipv4(udp(5004, 6000, PAYLOAD));
const ETHERNET_HEADER = [...new Array(12).fill(0)];

function le32(value: number): number[] {
  return [value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff, (value >>> 24) & 0xff];
}
function be32(value: number): number[] {
  return le32(value).reverse();
}

function pcapFile(linkType: number, frames: number[][], bigEndian = false, nanos = false): Uint8Array {
  const u32 = bigEndian ? be32 : le32;
  const u16 = (v: number) => (bigEndian ? [v >> 8, v & 0xff] : [v & 0xff, v >> 8]);
  const bytes = [...u32(nanos ? 0xa1b23c4d : 0xa1b2c3d4), ...u16(2), ...u16(4), ...u32(0), ...u32(0)];
  bytes.push(...u32(65535), ...u32(linkType));
  frames.forEach((frame, i) => {
    bytes.push(
      ...u32(1_700_000_000 + i),
      ...u32(nanos ? 500_000_000 : 500_000),
      ...u32(frame.length),
      ...u32(frame.length),
    );
    bytes.push(...frame);
  });
  return Uint8Array.from(bytes);
}

function pad4(bytes: number[]): number[] {
  return bytes.concat(new Array((4 - (bytes.length % 4)) % 4).fill(0));
}

function pcapngBlock(type: number, body: number[], u32: (v: number) => number[]): number[] {
  const padded = pad4(body);
  const total = 12 + padded.length;
  return [...u32(type), ...u32(total), ...padded, ...u32(total)];
}

function pcapngFile(linkType: number, frames: number[][], bigEndian = false, tsresol?: number): Uint8Array {
  const u32 = bigEndian ? be32 : le32;
  const u16 = (v: number) => (bigEndian ? [v >> 8, v & 0xff] : [v & 0xff, v >> 8]);
  const section = pcapngBlock(
    0x0a0d0d0a,
    [...u32(0x1a2b3c4d), ...u16(1), ...u16(0), ...new Array(8).fill(0xff)],
    u32,
  );
  const options = tsresol === undefined ? [] : [...u16(9), ...u16(1), tsresol, 0, 0, 0, ...u16(0), ...u16(0)];
  const iface = pcapngBlock(1, [...u16(linkType), ...u16(0), ...u32(0), ...options], u32);
  const unitsPerSecond = tsresol === undefined ? 1e6 : 10 ** tsresol;
  const ticks = (1_700_000_000 + 0.5) * unitsPerSecond;
  const packets = frames.map((frame) =>
    pcapngBlock(
      6,
      [
        ...u32(0),
        ...u32(Math.floor(ticks / 2 ** 32)),
        ...u32(ticks % 2 ** 32),
        ...u32(frame.length),
        ...u32(frame.length),
        ...frame,
      ],
      u32,
    ),
  );
  const custom = pcapngBlock(0x0bad, [1, 2, 3, 4], u32);
  const simple = pcapngBlock(3, [...u32(frames[0]?.length ?? 0), ...(frames[0] ?? [])], u32);
  return Uint8Array.from([...section, ...iface, ...packets.flat(), ...custom, ...simple]);
}

function datagrams(bytes: Uint8Array): { frames: CapturedFrame[]; udp: UdpDatagram[] } {
  const frames = [...readCapture(new MemorySource(bytes))];
  const udp = frames.map((f) => decodeUdpFrame(f.linkType, f.data)).filter((d) => typeof d !== 'string');
  return { frames, udp };
}

const LINK_FRAMES: [string, number, number[]][] = [
  ['null/loopback', LinkType.Null, [2, 0, 0, 0, ...IPV4_UDP]],
  ['ethernet', LinkType.Ethernet, [...ETHERNET_HEADER, 0x08, 0x00, ...IPV4_UDP, 0, 0, 0, 0]],
  ['ethernet + 802.1Q', LinkType.Ethernet, [...ETHERNET_HEADER, 0x81, 0x00, 0, 7, 0x08, 0x00, ...IPV4_UDP]],
  [
    'ethernet + QinQ',
    LinkType.Ethernet,
    [...ETHERNET_HEADER, 0x88, 0xa8, 0, 7, 0x81, 0x00, 0, 9, 0x86, 0xdd, ...ipv6(udp(5004, 6000, PAYLOAD))],
  ],
  ['linux SLL', LinkType.LinuxSll, [0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00, ...IPV4_UDP]],
  [
    'linux SLL2',
    LinkType.LinuxSll2,
    [0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, ...IPV4_UDP],
  ],
  ['raw IP (101)', LinkType.Raw, IPV4_UDP],
  ['raw IPv4 (228)', LinkType.Ipv4, IPV4_UDP],
  ['raw IPv6 (229)', LinkType.Ipv6, ipv6(udp(5004, 6000, PAYLOAD))],
];

for (const [name, linkType, frame] of LINK_FRAMES) {
  test(`pcap and pcapng, both byte orders, link type ${name}: one UDP datagram per frame`, () => {
    for (const bigEndian of [false, true]) {
      for (const file of [pcapFile(linkType, [frame], bigEndian), pcapngFile(linkType, [frame], bigEndian)]) {
        const { frames, udp } = datagrams(file);
        assert.ok(frames.length >= 1);
        const first = udp[0];
        assert.ok(first, `${name} gave no datagram`);
        assert.equal(first.src.port, 5004);
        assert.equal(first.dst.port, 6000);
        assert.deepEqual(first.payload, PAYLOAD);
        assert.ok(['10.0.0.1', '2001:db8::1'].includes(first.src.address), first.src.address);
      }
    }
  });
}

test('pcap timestamps: microsecond and nanosecond magic', () => {
  const micro = datagrams(pcapFile(LinkType.Raw, [IPV4_UDP, IPV4_UDP])).frames;
  const nano = datagrams(pcapFile(LinkType.Raw, [IPV4_UDP], true, true)).frames;
  assert.equal(micro[0]?.timestampMs, 1_700_000_000_500);
  assert.equal(micro[1]?.timestampMs, 1_700_000_001_500);
  assert.equal(nano[0]?.timestampMs, 1_700_000_000_500);
});

test('pcapng: if_tsresol, unknown blocks skipped, SPB reuses the last timestamp', () => {
  const stats = newReadStats();
  const frames = [...readCapture(new MemorySource(pcapngFile(LinkType.Raw, [IPV4_UDP], false, 9)), stats)];
  assert.equal(stats.format, 'pcapng');
  assert.equal(frames.length, 2); // EPB + SPB
  assert.equal(frames[0]?.timestampMs, 1_700_000_000_500);
  assert.equal(frames[1]?.timestampMs, 1_700_000_000_500);
  assert.equal(stats.skippedBlocks, 1);
  assert.equal(stats.truncated, false);
});

test('IPv4 and IPv6 fragments are reported, IPv6 atomic fragments and options are walked', () => {
  assert.equal(decodeUdpFrame(LinkType.Raw, Uint8Array.from(ipv4(udp(1, 2, PAYLOAD), 0x2000))), 'fragment');
  assert.equal(decodeUdpFrame(LinkType.Raw, Uint8Array.from(ipv4(udp(1, 2, PAYLOAD), 0x0010))), 'fragment');
  const fragmentHeader = (more: boolean) => [17, 0, 0, more ? 1 : 0, 0, 0, 0, 1];
  assert.equal(
    decodeUdpFrame(LinkType.Raw, Uint8Array.from(ipv6(udp(1, 2, PAYLOAD), fragmentHeader(true), 44))),
    'fragment',
  );
  const atomic = decodeUdpFrame(
    LinkType.Raw,
    Uint8Array.from(ipv6(udp(1, 2, PAYLOAD), fragmentHeader(false), 44)),
  );
  assert.ok(typeof atomic !== 'string' && atomic.dst.port === 2);
  const hopByHop = [17, 0, 1, 4, 0, 0, 0, 0];
  const withOptions = decodeUdpFrame(LinkType.Raw, Uint8Array.from(ipv6(udp(1, 2, PAYLOAD), hopByHop, 0)));
  assert.ok(typeof withOptions !== 'string' && withOptions.payload.length === 4);
  assert.equal(decodeUdpFrame(LinkType.Raw, Uint8Array.of(0x45, 0, 0)), 'malformed');
  assert.equal(decodeUdpFrame(147, Uint8Array.from(IPV4_UDP)), 'unsupported-link');
  const tcp = ipv4(udp(1, 2, PAYLOAD));
  tcp[9] = 6;
  assert.equal(decodeUdpFrame(LinkType.Raw, Uint8Array.from(tcp)), 'not-udp');
});

test('truncated and garbage files end the stream with a report, never a throw', () => {
  const whole = pcapFile(LinkType.Raw, [IPV4_UDP, IPV4_UDP]);
  for (let cut = 0; cut < whole.length; cut++) {
    const stats = newReadStats();
    const frames = [...readCapture(new MemorySource(whole.subarray(0, cut)), stats)];
    assert.ok(frames.length <= 1 || cut === whole.length);
    assert.ok(stats.truncated || stats.error === undefined || cut < 4, `cut ${cut}`);
  }
  const ng = pcapngFile(LinkType.Raw, [IPV4_UDP], true);
  for (let cut = 1; cut < ng.length; cut++) {
    const stats = newReadStats();
    [...readCapture(new MemorySource(ng.subarray(0, cut)), stats)];
    // Cuts on a block boundary (a multiple of 4) are a clean end; anything else is reported.
    if (cut % 4 !== 0) assert.ok(stats.truncated, `pcapng cut ${cut}`);
  }
  const garbage = newReadStats();
  assert.equal([...readCapture(new MemorySource(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)), garbage)].length, 0);
  assert.match(garbage.error ?? '', /magic/);
});

test('pcapng: interfaces are kept up to a bound; packets on interfaces past it are skipped and counted', () => {
  // Each IDB is 20 bytes of file; kept without bound, a crafted capture of a gigabyte of them
  // held some 3.4 GB of heap before its first packet.
  const interfaces = 100_000;
  const idb = pcapngBlock(1, [...le32(LinkType.Raw), ...le32(0)], le32);
  const epb = (iface: number) =>
    pcapngBlock(
      6,
      [
        ...le32(iface),
        ...le32(0),
        ...le32(0),
        ...le32(IPV4_UDP.length),
        ...le32(IPV4_UDP.length),
        ...IPV4_UDP,
      ],
      le32,
    );
  const section = pcapngBlock(
    0x0a0d0d0a,
    [...le32(0x1a2b3c4d), 1, 0, 0, 0, ...new Array(8).fill(0xff)],
    le32,
  );
  const bytes = new Uint8Array(section.length + interfaces * idb.length + 2 * 64);
  bytes.set(section);
  for (let i = 0; i < interfaces; i++) bytes.set(idb, section.length + i * idb.length);
  const tail = [...epb(interfaces - 1), ...epb(0)];
  const file = bytes.subarray(0, section.length + interfaces * idb.length + tail.length);
  file.set(tail, section.length + interfaces * idb.length);
  const stats = newReadStats();
  const frames = [...readCapture(new MemorySource(file), stats)];
  assert.equal(frames.length, 1, 'only the packet on interface 0');
  assert.equal(stats.truncated, false);
  assert.ok(stats.skippedBlocks > 1, `${stats.skippedBlocks} blocks skipped`);
});
