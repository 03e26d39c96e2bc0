/**
 * The far ends of bench/stream-pacing.ts, in their own process so the gateway side is the only
 * work in the measured one: a Twilio-protocol bot that sends 10 s of audio at `speed` times
 * real time (100 ms per message) then a mark, and two UDP sinks: one for the bridge's RTP
 * (noting each packet's sequence number and whether it is silence), one for the bare pacer's.
 * Prints one JSON line with its ports, then one with the bridge's packets.
 *
 *   node [loader] bench/lib/pacing-peers.ts <speed>
 */
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const speed = Number(process.argv[2] ?? 2);
const FRAMES = 500;
const CHUNK = 5;
/** µ-law silence (linear 0) as Playout sends it during underruns. */
const SILENCE = 0xff;

const bridgeArrivals: Array<[number, number, boolean]> = [];
const bridge = createSocket('udp4');
const floor = createSocket('udp4');
bridge.on('message', (data) => {
  const atMs = performance.now();
  const payload = data.subarray(12);
  bridgeArrivals.push([data.readUInt16BE(2), atMs, payload.every((byte) => byte === SILENCE)]);
});
floor.on('message', () => undefined);
await Promise.all([
  new Promise<void>((resolve) => bridge.bind(0, '127.0.0.1', resolve)),
  new Promise<void>((resolve) => floor.bind(0, '127.0.0.1', resolve)),
]);

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
await new Promise<void>((resolve) => server.once('listening', () => resolve()));
const finish = (): void => {
  process.stdout.write(`${JSON.stringify({ bridge: bridgeArrivals })}\n`);
  process.exit(0);
};
// Bounded: whatever happens, report after the audio's duration plus a margin.
setTimeout(finish, (FRAMES * 20 * 1.5 + 5000) | 0).unref();
server.on('connection', (socket) => {
  socket.on('message', async (data) => {
    const message = JSON.parse(data.toString()) as { event: string; start?: { streamSid: string } };
    if (message.event === 'mark') setTimeout(finish, 300);
    if (message.event !== 'start') return;
    const streamSid = message.start?.streamSid ?? '';
    for (let frame = 0; frame < FRAMES; frame += CHUNK) {
      // A µ-law tone that is never silence: distinct non-0xFF codes.
      const payload = Buffer.alloc(160 * CHUNK, 0x20 + (frame % 64)).toString('base64');
      socket.send(JSON.stringify({ event: 'media', streamSid, media: { payload } }));
      await new Promise((resolve) => setTimeout(resolve, (CHUNK * 20) / speed));
    }
    socket.send(JSON.stringify({ event: 'mark', streamSid, mark: { name: 'end' } }));
  });
});
const port = (socket: { address(): AddressInfo }) => socket.address().port;
process.stdout.write(
  `${JSON.stringify({ wsPort: (server.address() as AddressInfo).port, bridgePort: port(bridge), floorPort: port(floor) })}\n`,
);
