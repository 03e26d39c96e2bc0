/**
 * The far ends of bench/stream-twilio.ts, in their own process so their CPU is not counted:
 * sends PCMU RTP every 20 ms to each call's port, and serves the WebSocket the calls stream
 * to, timing each frame from RTP send to WebSocket arrival. Every RTP frame is one repeated
 * µ-law byte that names the frame, so it can be recognised after decode and re-encode.
 *
 *   node [loader] bench/lib/caller-farm.ts   (reads {"ports":[...],"durationMs":N} on stdin)
 */
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** µ-law codes with clear energy, none of them a silence code. */
const CODES = Array.from({ length: 96 }, (_, i) => 0x10 + i);
const input = await new Promise<string>((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => {
    text += chunk.toString();
    if (text.includes('\n')) resolve(text);
  });
});
const { ports, durationMs } = JSON.parse(input) as { ports: number[]; durationMs: number };
const latencies: number[] = [];
const sentAt = ports.map(() => new Map<number, number>());
const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
await new Promise<void>((resolve) => server.once('listening', () => resolve()));
server.on('connection', (socket, request) => {
  const call = Number(new URL(request.url ?? '/', 'http://x').searchParams.get('call'));
  socket.on('message', (data) => {
    const text = data.toString();
    if (!text.includes('"media"')) return;
    const payload = Buffer.from((JSON.parse(text) as { media: { payload: string } }).media.payload, 'base64');
    // The G.711 decoder's Appendix I PLC delays audio by 30 samples (3.75 ms), so a frame's
    // head still holds the previous frame: recognise it by its tail.
    const tail = payload.subarray(40);
    const code = tail[0] ?? 0;
    if (tail.length === 0 || !tail.every((byte) => byte === code)) return;
    const sent = sentAt[call]?.get(code);
    if (sent !== undefined) latencies.push(performance.now() - sent);
  });
});
process.stdout.write(`${JSON.stringify({ wsPort: (server.address() as AddressInfo).port })}\n`);
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));

const socket = createSocket('udp4');
const ssrcBase = 0x1000;
const started = performance.now();
let frame = 0;
const packet = Buffer.alloc(12 + 160);
while (performance.now() - started < durationMs) {
  const code = CODES[frame % CODES.length] ?? 0x20;
  for (const [call, port] of ports.entries()) {
    packet[0] = 0x80;
    packet[1] = 0;
    packet.writeUInt16BE(frame & 0xffff, 2);
    packet.writeUInt32BE((frame * 160) >>> 0, 4);
    packet.writeUInt32BE(ssrcBase + call, 8);
    packet.fill(code, 12);
    sentAt[call]?.set(code, performance.now());
    socket.send(packet, port, '127.0.0.1');
  }
  frame++;
  const next = started + frame * 20;
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
}
await new Promise((resolve) => setTimeout(resolve, 300));
latencies.sort((a, b) => a - b);
const pick = (p: number): number =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN;
process.stdout.write(
  `${JSON.stringify({ matched: latencies.length, p50: pick(50), p95: pick(95), p99: pick(99) })}\n`,
);
socket.close();
server.close();
process.exit(0);
