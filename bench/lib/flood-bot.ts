/**
 * A Twilio-protocol bot for bench/stream-flood.ts, in its own process so the cost of sending a
 * flood lands on this process and not on the event loop under test. It prints its port; each
 * line `flood` on stdin makes it send, at once, 10,000 invalid messages, 10,000 marks and
 * 10,000 clears on the stream it has seen `start` for, then print `sent`.
 * Usage: node [loader] bench/lib/flood-bot.ts (started by bench/stream-flood.ts)
 */
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { type WebSocket, WebSocketServer } from 'ws';

const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
let stream: { socket: WebSocket; streamSid: string } | undefined;
server.on('connection', (socket) => {
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { event: string; start?: { streamSid: string } };
    if (message.event === 'start') stream = { socket, streamSid: message.start?.streamSid ?? '' };
  });
});
server.once('listening', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'flood' || !stream) return;
  const { socket, streamSid } = stream;
  for (let i = 0; i < 10_000; i++) socket.send(JSON.stringify({ event: 'dance', streamSid }));
  for (let i = 0; i < 10_000; i++)
    socket.send(JSON.stringify({ event: 'mark', streamSid, mark: { name: `m${i}` } }));
  for (let i = 0; i < 10_000; i++) socket.send(JSON.stringify({ event: 'clear', streamSid }));
  process.stdout.write('sent\n');
});
process.stdin.once('end', () => {
  for (const client of server.clients) client.terminate();
  server.close();
});
