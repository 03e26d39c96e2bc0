/**
 * CPU cost of SRTP per 20 ms PCMU packet (12-byte header + 160-byte payload): protect and
 * unprotect (AES-CM keystream from one reused ECB cipher per session key, HMAC-SHA1-80), against
 * two baselines in the same run: copying the packet into a fresh buffer (the floor of any
 * transform that appends a tag), and protect with a new `aes-128-ctr` cipher per packet (what
 * node offers directly: a CTR cipher cannot take a new IV). AEAD_AES_128_GCM (RFC 7714) protects
 * and unprotects the same packets with a GCM cipher made per packet. The paths run interleaved,
 * chunk by chunk, so a noisy machine slows them alike and the ratios hold.
 *
 * Run: npx tsx bench/srtp.ts
 */
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { SrtpSession } from '../src/media/srtp/index.js';
import { SecretBytes, type SrtpSuiteName, srtpMasterBytes } from '../src/util/index.js';

const TRIALS = 7;
const CHUNKS = 50;
/** Small enough to stay in cache, like a packet fresh from the socket. */
const CHUNK_PACKETS = 1000;
const PACKETS_PER_CALL_SECOND = 100; // 50 each way
const SUITE = 'AES_CM_128_HMAC_SHA1_80';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function rtpPacket(seq: number): Buffer {
  const packet = Buffer.alloc(172, 0xd5);
  packet[0] = 0x80;
  packet.writeUInt16BE(seq & 0xffff, 2);
  packet.writeUInt32BE((seq * 160) >>> 0, 4);
  packet.writeUInt32BE(0x11223344, 8);
  return packet;
}

const sessionKey = randomBytes(16);
const authKey = randomBytes(20);
const iv = Buffer.alloc(16);

interface Path {
  name: string;
  /** Builds one chunk's inputs, untimed. */
  prepare(packets: Buffer[]): Buffer[];
  step(input: Buffer): void;
}

/** SrtpSession's protect and unprotect with `suite`, each path named `protect` / `unprotect` and its label. */
function sessionPaths(suite: SrtpSuiteName, protectLabel: string, unprotectLabel: string): Path[] {
  const key = new SecretBytes(randomBytes(srtpMasterBytes(suite)));
  const session = () => new SrtpSession({ suite, sendKey: key, receiveKey: key });
  const [sender, wireSender, receiver] = [session(), session(), session()];
  return [
    {
      name: `protect${protectLabel}`,
      prepare: (packets) => packets,
      step: (packet) => sender.protectRtp(packet),
    },
    {
      name: `unprotect${unprotectLabel}`,
      // In order from one sender: the replay window refuses repeats.
      prepare: (packets) => packets.map((packet) => wireSender.protectRtp(packet)),
      step: (packet) => {
        if (!Buffer.isBuffer(receiver.unprotectRtp(packet))) throw new Error('packet refused');
      },
    },
  ];
}

const paths: Path[] = [
  {
    name: 'baseline: copy into a fresh buffer',
    prepare: (packets) => packets,
    step: (packet) => Buffer.allocUnsafe(182).set(packet),
  },
  {
    name: 'baseline: protect with a new aes-128-ctr cipher per packet',
    prepare: (packets) => packets,
    step: (packet) => {
      iv.writeUInt16BE(packet.readUInt16BE(2), 12);
      const out = Buffer.allocUnsafe(182);
      packet.copy(out, 0, 0, 12);
      createCipheriv('aes-128-ctr', sessionKey, iv).update(packet.subarray(12)).copy(out, 12);
      createHmac('sha1', authKey).update(out.subarray(0, 172)).digest().copy(out, 172, 0, 10);
    },
  },
  ...sessionPaths(SUITE, ' (SrtpSession.protectRtp)', ' (SrtpSession.unprotectRtp)'),
  ...sessionPaths('AEAD_AES_128_GCM', ', AEAD_AES_128_GCM', ', AEAD_AES_128_GCM'),
];

const perTrial = paths.map(() => [] as number[]);
for (let trial = 0; trial < TRIALS; trial++) {
  const nanos = paths.map(() => 0n);
  for (let chunk = 0; chunk < CHUNKS; chunk++) {
    const first = (trial * CHUNKS + chunk) * CHUNK_PACKETS;
    const packets = Array.from({ length: CHUNK_PACKETS }, (_, i) => rtpPacket(first + i));
    for (const [index, path] of paths.entries()) {
      const inputs = path.prepare(packets);
      const start = process.hrtime.bigint();
      for (const input of inputs) path.step(input);
      nanos[index] = (nanos[index] ?? 0n) + process.hrtime.bigint() - start;
    }
  }
  for (const [index, total] of nanos.entries())
    perTrial[index]?.push(Number(total) / 1000 / (CHUNKS * CHUNK_PACKETS));
}

const micros = perTrial.map(median);
console.log('| path | µs per packet (median of trials) |');
console.log('| --- | --- |');
for (const [index, path] of paths.entries()) console.log(`| ${path.name} | ${micros[index]?.toFixed(2)} |`);
const [, perPacketCtr = 0, protect = 0, unprotect = 0] = micros;
console.log(
  `\nSRTP CPU per call-second (50 packets each way): ${(((protect + unprotect) / 2) * PACKETS_PER_CALL_SECOND).toFixed(0)} µs`,
);
console.log(`a new aes-128-ctr cipher per packet / protect: ${(perPacketCtr / protect).toFixed(2)}x`);
