/**
 * Mutated and generated SIP for the hostile mix, seeded: the RFC 4475 torture messages and
 * freshly generated requests (OPTIONS, INVITE with SDP, REGISTER, BYE, CANCEL, INFO), each
 * sent as is or after one mutation — truncation, bit flips, a duplicated header, a huge
 * header, a bad start line, a bad Content-Length, or garbage — over UDP and TCP from several
 * sources. Every part is paced and stops by itself.
 */
import type { Socket as UdpSocket } from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { SeededRandom } from '../../../src/util/index.js';
import { paced, udpSource } from './pace.js';

export const SIP_MUTATIONS = [
  'none',
  'truncate',
  'bit_flips',
  'duplicate_header',
  'huge_header',
  'bad_start_line',
  'bad_content_length',
  'garbage',
] as const;
export type SipMutation = (typeof SIP_MUTATIONS)[number];

const CRLF = '\r\n';
const BAD_START_LINES = [
  'INVITE  sip:+15550000000@127.0.0.1 SIP/2.0',
  'INVITE sip:+15550000000@127.0.0.1 SIP/3.0',
  'INVITE sip:+15550000000@127.0.0.1',
  'INVITE',
  ' OPTIONS sip:a@127.0.0.1 SIP/2.0',
  'OPTIONS <sip:a@127.0.0.1> SIP/2.0',
  'SIP/2.0 999999 Huge',
  'SIP/2.0 200',
  'GET / HTTP/1.1',
  'INV\0ITE sip:a@127.0.0.1 SIP/2.0',
];
const BAD_CONTENT_LENGTHS = ['-1', '99999999', 'abc', '0', '1', '4294967296', '', '12 12'];

/** Where the RFC 4475 torture messages live, relative to the repository (benches and tests run there). */
const RFC4475_DIR = join(process.cwd(), 'fixtures/sip/rfc4475');

/** Every RFC 4475 torture message, valid and invalid, as sent on the wire. */
export function rfc4475Messages(dir = RFC4475_DIR): Buffer[] {
  return ['valid', 'invalid'].flatMap((kind) =>
    readdirSync(join(dir, kind))
      .sort()
      .map((name) => readFileSync(join(dir, kind, name))),
  );
}

export interface SipTarget {
  host: string;
  port: number;
}

/** Seeded SIP messages towards one target, as seen from one source address. */
export class SipFuzzer {
  readonly counts: Record<SipMutation, number> = Object.fromEntries(
    SIP_MUTATIONS.map((m) => [m, 0]),
  ) as Record<SipMutation, number>;
  readonly #random: SeededRandom;
  readonly #torture: Buffer[];
  readonly #target: SipTarget;
  readonly #source: string;
  #serial = 0;

  constructor(seed: number, target: SipTarget, source: string, torture: Buffer[] = rfc4475Messages()) {
    this.#random = new SeededRandom(seed);
    this.#torture = torture;
    this.#target = target;
    this.#source = source;
  }

  /** One message: a fresh request or a torture message, mutated one way or sent as is. */
  next(): Buffer {
    const random = this.#random;
    const seed = random.chance(0.3) ? this.#pick(this.#torture) : Buffer.from(this.generate(), 'latin1');
    const mutation = SIP_MUTATIONS[random.int(0, SIP_MUTATIONS.length - 1)] as SipMutation;
    this.counts[mutation]++;
    return this.mutate(seed, mutation);
  }

  /** A well-formed request with fresh ids (an INVITE carries an SDP offer). */
  generate(): string {
    const random = this.#random;
    const method = this.#pick(['OPTIONS', 'INVITE', 'INVITE', 'REGISTER', 'BYE', 'CANCEL', 'INFO']);
    const id = `${this.#source}-${++this.#serial}-${random.int(0, 1e9)}`;
    const number = `+1555${String(random.int(0, 9_999_999)).padStart(7, '0')}`;
    const host = `${this.#target.host}:${this.#target.port}`;
    const body =
      method === 'INVITE'
        ? [
            'v=0',
            `o=- ${random.int(1, 1e6)} 1 IN IP4 ${this.#source}`,
            's=-',
            `c=IN IP4 ${this.#source}`,
            't=0 0',
            `m=audio ${random.int(1024, 65000)} RTP/AVP 0 8 101`,
            'a=rtpmap:101 telephone-event/8000',
            '',
          ].join(CRLF)
        : '';
    return [
      `${method} sip:${number}@${host} SIP/2.0`,
      `Via: SIP/2.0/UDP ${this.#source}:5060;branch=z9hG4bK-${id};rport`,
      'Max-Forwards: 70',
      `From: <sip:fuzz@${this.#source}>;tag=${id}`,
      `To: <sip:${number}@${host}>`,
      `Call-ID: ${id}`,
      `CSeq: ${random.int(1, 1000)} ${method}`,
      `Contact: <sip:fuzz@${this.#source}:5060>`,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${body.length}`,
      '',
      body,
    ].join(CRLF);
  }

  mutate(seed: Buffer, mutation: SipMutation): Buffer {
    const random = this.#random;
    switch (mutation) {
      case 'none':
        return seed;
      case 'truncate':
        return seed.subarray(0, random.int(0, seed.length - 1));
      case 'bit_flips': {
        const copy = Buffer.from(seed);
        for (let i = random.int(1, 8); i > 0; i--) {
          const at = random.int(0, copy.length - 1);
          copy[at] = (copy[at] ?? 0) ^ (1 << random.int(0, 7));
        }
        return copy;
      }
      case 'duplicate_header':
        return this.#editHeaders(seed, (lines) => {
          const at = random.int(1, Math.max(1, lines.length - 1));
          const line = lines[at] ?? 'Via: SIP/2.0/UDP 127.0.0.9';
          lines.splice(at, 0, ...Array.from({ length: random.int(1, 20) }, () => line));
        });
      case 'huge_header':
        // Up to 70 KB: some stay under the 64 KiB bound, some go over it.
        return this.#editHeaders(seed, (lines) =>
          lines.splice(1, 0, `X-Huge: ${'x'.repeat(random.int(1_000, 70_000))}`),
        );
      case 'bad_start_line':
        return this.#editHeaders(seed, (lines) => {
          lines[0] = this.#pick(BAD_START_LINES);
        });
      case 'bad_content_length':
        return this.#editHeaders(seed, (lines) => {
          const value = this.#pick(BAD_CONTENT_LENGTHS);
          const at = lines.findIndex((line) => /^(content-length|l)\s*:/i.test(line));
          if (at >= 0) lines[at] = `Content-Length: ${value}`;
          else lines.push(`Content-Length: ${value}`);
        });
      case 'garbage': {
        const noise = Buffer.from(Array.from({ length: random.int(1, 1400) }, () => random.int(0, 255)));
        // Half of it starts like a request, so it gets past the start-line sniff into the parser.
        return random.chance(0.5) ? Buffer.concat([Buffer.from('INVITE sip:'), noise]) : noise;
      }
    }
  }

  #editHeaders(seed: Buffer, edit: (lines: string[]) => void): Buffer {
    const text = seed.toString('latin1');
    const end = text.indexOf(CRLF + CRLF);
    const head = end >= 0 ? text.slice(0, end) : text;
    const body = end >= 0 ? text.slice(end) : '';
    const lines = head.split(CRLF);
    edit(lines);
    return Buffer.from(lines.join(CRLF) + body, 'latin1');
  }

  #pick<T>(items: readonly T[]): T {
    return items[this.#random.int(0, items.length - 1)] as T;
  }
}

export interface SipFuzzOptions {
  target: SipTarget;
  sources: string[];
  /** Messages per second over all sources (each source sends its share). */
  ratePerSec: number;
  /** Share of the messages sent over TCP (one connection per source, reopened when closed). */
  tcpShare: number;
  durationMs: number;
  seed: number;
  stopped?: () => boolean;
}

export interface SipFuzzReport {
  udp: number;
  tcp: number;
  /** TCP connections opened (the gateway closes one when its framing breaks). */
  tcpConnections: number;
  mutations: Record<SipMutation, number>;
}

/** Sends the fuzz from every source, round robin, for the duration. */
export async function runSipFuzz(options: SipFuzzOptions): Promise<SipFuzzReport> {
  const { target, sources } = options;
  const fuzzers = sources.map((source, i) => new SipFuzzer(options.seed + i, target, source));
  const sockets = await Promise.all(sources.map((source) => udpSource(source)));
  const choose = new SeededRandom(options.seed);
  const streams = sources.map((source) => new TcpStream(target, source));
  let udp = 0;
  let tcp = 0;
  await paced(
    options.ratePerSec,
    options.durationMs,
    (index) => {
      const at = index % sources.length;
      const message = (fuzzers[at] as SipFuzzer).next();
      if (choose.chance(options.tcpShare)) {
        (streams[at] as TcpStream).write(message);
        tcp++;
      } else {
        (sockets[at] as UdpSocket).send(message, target.port, target.host);
        udp++;
      }
    },
    options.stopped,
  );
  for (const socket of sockets) socket.close();
  for (const stream of streams) stream.close();
  return {
    udp,
    tcp,
    tcpConnections: streams.reduce((sum, stream) => sum + stream.opened, 0),
    mutations: Object.fromEntries(
      SIP_MUTATIONS.map((m) => [m, fuzzers.reduce((sum, fuzzer) => sum + fuzzer.counts[m], 0)]),
    ) as Record<SipMutation, number>,
  };
}

/** One TCP connection from `source`, reopened on the next write after the gateway closed it. */
class TcpStream {
  opened = 0;
  #socket: Socket | undefined;
  readonly #target: SipTarget;
  readonly #source: string;

  constructor(target: SipTarget, source: string) {
    this.#target = target;
    this.#source = source;
  }

  write(data: Buffer): void {
    if (!this.#socket || this.#socket.destroyed) {
      this.#socket = connect({
        host: this.#target.host,
        port: this.#target.port,
        localAddress: this.#source,
      });
      this.#socket.on('error', () => undefined);
      this.#socket.on('data', () => undefined);
      this.opened++;
    }
    // A connection that cannot keep up is simply let go: the fuzz does not queue behind it.
    if (this.#socket.writableLength < 1 << 20) this.#socket.write(data);
  }

  close(): void {
    this.#socket?.destroy();
  }
}
