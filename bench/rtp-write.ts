/**
 * Outgoing RTP: time and bytes per packet of RtpPacketWriter (the 12-byte RFC 3550 §5.1 header
 * written into a reused buffer) against building an rtp.js packet as RtpSession.send did
 * (RtpPacket, setters, DataView payload, getView); the floor is copying the payload into a
 * preallocated buffer. And incoming: our parseRtp against rtp.js's parser on the same packets,
 * to say whether rtp.js would be the cheaper parser. G.711 20 ms packets (160-byte payload).
 *
 *   node --expose-gc --max-semi-space-size=64 --min-semi-space-size=64 --import tsx bench/rtp-write.ts [rounds=7]
 */
import { RtpPacket } from 'rtp.js/packets';
import { parseRtp, RtpPacketWriter } from '../src/media/index.js';
import { AllocationMeter, median } from './lib/alloc-meter.js';

const rounds = Number(process.argv[2] ?? 7);
const OPS = 20_000;
const meter = new AllocationMeter();
const payload = Uint8Array.from({ length: 160 }, (_, i) => i);
const payloadView = new DataView(payload.buffer);
let sink = 0;

const floor = new Uint8Array(172);
const writer = new RtpPacketWriter();
const received = Array.from({ length: 64 }, (_, i) =>
  Buffer.from(writer.write(payload, 0, i === 0, i, i * 160, 0x1234)),
);

const cases: Record<string, (i: number) => void> = {
  'copy payload (floor)': () => {
    floor.set(payload, 12);
    sink += floor[12] as number;
  },
  'write: RtpPacketWriter': (i) => {
    const packet = writer.write(payload, 0, false, i & 0xffff, i * 160, 0x1234);
    sink += packet.length;
  },
  'write: rtp.js RtpPacket': (i) => {
    const packet = new RtpPacket();
    packet.setPayloadType(0);
    packet.setSequenceNumber(i & 0xffff);
    packet.setTimestamp((i * 160) >>> 0);
    packet.setSsrc(0x1234);
    packet.setMarker(false);
    packet.setPayload(payloadView);
    const view = packet.getView();
    sink += new Uint8Array(view.buffer, view.byteOffset, view.byteLength).length;
  },
  'parse: parseRtp': (i) => {
    const parsed = parseRtp(received[i & 63] as Buffer, 0);
    sink += parsed?.payload.length ?? 0;
  },
  'parse: rtp.js RtpPacket': (i) => {
    const bytes = received[i & 63] as Buffer;
    const packet = new RtpPacket(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    sink +=
      packet.getPayloadType() +
      packet.getSequenceNumber() +
      packet.getTimestamp() +
      packet.getSsrc() +
      Number(packet.getMarker()) +
      packet.getPayload().byteLength;
  },
};

const run = (op: (i: number) => void) => (count: number) => {
  for (let i = 0; i < count; i++) op(i);
};

function nanosPerOp(op: (i: number) => void): number {
  run(op)(OPS); // warm
  const start = process.hrtime.bigint();
  run(op)(OPS);
  return Number(process.hrtime.bigint() - start) / OPS;
}

const times = new Map<string, number[]>();
const bytes = new Map<string, number[]>();
for (let round = 0; round < rounds; round++) {
  for (const [name, op] of Object.entries(cases)) {
    times.set(name, [...(times.get(name) ?? []), nanosPerOp(op)]);
    bytes.set(name, [...(bytes.get(name) ?? []), await meter.perOperation(run(op), OPS)]);
  }
}
console.log(`rtp-write: Node ${process.version}, ${rounds} rounds of ${OPS} packets, medians\n`);
console.log('| case | ns per packet | bytes allocated per packet |');
console.log('| --- | --- | --- |');
for (const name of Object.keys(cases))
  console.log(
    `| ${name} | ${median(times.get(name) ?? []).toFixed(0)} | ${median(bytes.get(name) ?? []).toFixed(0)} |`,
  );
if (Number.isNaN(sink)) console.log('unreachable');
