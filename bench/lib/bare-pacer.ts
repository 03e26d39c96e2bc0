/**
 * The pacing floor for bench/stream-pacing.ts and test/interop/stream-bridge.test.ts, run as
 * its own process: the same MediaClock (absolute deadlines, 2 ms lead) sending one 172-byte
 * RTP-sized UDP packet per 20 ms tick and doing nothing else. Its slot error is what the machine and Node's timers allow; the gateway's bridge
 * is judged side by side with it in the same run.
 * Usage: node [loader] bench/lib/bare-pacer.ts <port> <packets> [host=127.0.0.1]
 */
import { createSocket } from 'node:dgram';
import { MediaClock } from '../../src/media/media-clock.js';
import { SystemClock } from '../../src/util/index.js';

const port = Number(process.argv[2]);
const packets = Number(process.argv[3]);
const host = process.argv[4] ?? '127.0.0.1';
const socket = createSocket('udp4');
const packet = Buffer.alloc(172);
packet[0] = 0x80;
let sequence = 0;
const clock = new MediaClock(new SystemClock(), 20, undefined, 2);
clock.on('tick', () => {
  packet.writeUInt16BE(sequence++ & 0xffff, 2);
  socket.send(packet, port, host);
  if (sequence >= packets) {
    clock.stop();
    setTimeout(() => socket.close(), 50);
  }
});
clock.start();
