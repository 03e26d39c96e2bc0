/**
 * What dgram's per-send address lookup costs an RTP socket: sends on an unconnected socket to
 * a loopback receiver in this process, with dgram's default lookup (dns.lookup, which answers
 * an IP literal a tick later) against the RTP sockets' own (`literalFirstLookup`, answered at
 * once). Rounds alternate the two; the figure is process CPU per send, the receive included.
 *
 *   npx tsx bench/rtp-send-lookup.ts [rounds=8] [sends=100000]
 */
import { createSocket, type Socket } from 'node:dgram';
import { literalFirstLookup } from '../src/media/rtp/udp-socket.js';
import { median } from './lib/alloc-meter.js';

const rounds = Number(process.argv[2] ?? 8);
const sends = Number(process.argv[3] ?? 100_000);
/** Sends per loop turn: a media worker's turn sends about a tick's worth of calls' packets. */
const BURST = 200;
const packet = Buffer.alloc(172);

async function bound(socket: Socket): Promise<Socket> {
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

const receiver = await bound(createSocket('udp4'));
receiver.on('message', () => undefined);
const port = receiver.address().port;

/** CPU µs per send of `count` sends from `socket`, in bursts, once every send's callback ran. */
async function measure(socket: Socket, count: number): Promise<number> {
  const start = process.cpuUsage();
  await new Promise<void>((resolve) => {
    let pending = count;
    const sent = (): void => {
      if (--pending === 0) resolve();
    };
    let next = 0;
    const burst = (): void => {
      for (let k = 0; k < BURST && next < count; k++, next++) socket.send(packet, port, '127.0.0.1', sent);
      if (next < count) setImmediate(burst);
    };
    burst();
  });
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
}

const sockets = {
  'dns.lookup (dgram default)': await bound(createSocket('udp4')),
  literalFirstLookup: await bound(createSocket({ type: 'udp4', lookup: literalFirstLookup() })),
};
const results = new Map<string, number[]>(Object.keys(sockets).map((name) => [name, []]));
for (const socket of Object.values(sockets)) await measure(socket, sends / 10); // warm-up
for (let round = 0; round < rounds; round++)
  for (const [name, socket] of Object.entries(sockets)) results.get(name)?.push(await measure(socket, sends));

console.log(`rtp-send-lookup: Node ${process.version}, ${rounds} rounds of ${sends} sends\n`);
console.log('| lookup | µs CPU per send (median) | rounds |\n| --- | --- | --- |');
for (const [name, values] of results)
  console.log(`| ${name} | ${median(values).toFixed(2)} | ${values.map((v) => v.toFixed(2)).join(', ')} |`);
for (const socket of [receiver, ...Object.values(sockets)]) socket.close();
