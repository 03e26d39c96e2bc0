import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { PortAllocator } from '../../../src/media/rtp/port-allocator.js';
import { RtpSession } from '../../../src/media/rtp/session.js';
import {
  addProcNetUdp,
  readUdpDrops,
  readUdpInErrors,
  UdpDropSampler,
  udpInErrorsIn,
} from '../../../src/media/rtp/socket-drops.js';
import { FakeClock } from '../../../src/util/index.js';

const LOOPBACK = '127.0.0.1';
const onLinux = existsSync('/proc/net/udp');
const base = 20000 + 2 * Math.floor(Math.random() * 6000); // below the ephemeral ports (32768+)
const ports = new PortAllocator(base, base + 99);
const sessions: RtpSession[] = [];
after(() => {
  for (const session of sessions) session.close();
});

/** One 172-byte G.711 packet of a 20 ms frame (RFC 3551), sequence `seq` of SSRC 7. */
function g711Packet(seq: number): Buffer {
  const packet = Buffer.alloc(172, 0xff);
  packet.writeUInt16BE(0x8000, 0);
  packet.writeUInt16BE(seq, 2);
  packet.writeUInt32BE(seq * 160, 4);
  packet.writeUInt32BE(7, 8);
  return packet;
}

/**
 * Sends the datagrams from a worker thread while this thread is blocked, as when the event
 * loop is busy with another call's burst: whatever the socket's receive buffer cannot hold,
 * the kernel drops. Returns once every send has completed (bounded by a 20 s wait: starting a
 * worker on a loaded machine can take seconds), with the first send error if any.
 */
async function floodWhileBlocked(port: number, datagrams: Buffer[]): Promise<void> {
  const done = new Int32Array(new SharedArrayBuffer(4));
  const errors: string[] = [];
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const socket = require('node:dgram').createSocket('udp4');
     let pending = workerData.datagrams.length;
     for (const datagram of workerData.datagrams)
       socket.send(datagram, workerData.port, '127.0.0.1', (error) => {
         if (error) parentPort.postMessage(String(error));
         if (--pending > 0) return;
         Atomics.store(workerData.done, 0, 1);
         Atomics.notify(workerData.done, 0);
       });`,
    { eval: true, workerData: { port, datagrams, done } },
  );
  worker.on('message', (error: string) => errors.push(error));
  assert.equal(Atomics.wait(done, 0, 0, 20_000), 'ok', 'the worker sent everything');
  await worker.terminate();
  assert.deepEqual(errors.slice(0, 1), []);
}

async function openSession(): Promise<{ session: RtpSession; received: () => number }> {
  const session = await RtpSession.open({ portRange: ports, bindAddress: LOOPBACK, clock: new FakeClock() });
  sessions.push(session);
  session.setRemote(LOOPBACK, 9);
  let received = 0;
  session.on('packet', () => received++);
  return { session, received: () => received };
}

/** Kernel drops on `port` so far (read-only: does not sample the session). */
function kernelDrops(port: number): number {
  return readUdpDrops().get(port) ?? 0;
}

/** Waits, event-driven and bounded, until every datagram is either read or dropped. */
async function allAccounted(accounted: () => number, expected: number): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (accounted() < expected) {
    if (performance.now() > deadline) assert.fail(`${accounted()} of ${expected} datagrams accounted for`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

test('the drops column of /proc/net/udp{,6} is summed by local port', () => {
  const table = new Map<number, number>();
  addProcNetUdp(
    [
      '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
      '10075: 0100007F:9066 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 19730 2 0000000042a5cdfd 3',
      '10076: 0100007F:9067 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 19731 2 000000005f900687 0',
      '  511: 00000000000000000000000001000000:9066 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 1 2 0000000000000000 4',
      '  512: 0100007F:1F90 00000000:0000 07 00000000:000',
    ].join('\n'),
    table,
  );
  assert.deepEqual(
    [...table],
    [
      [0x9066, 7],
      [0x9067, 0],
    ],
  );
  assert.equal(readUdpDrops(['/nonexistent/proc/net/udp']).size, 0);
});

test('a burst while the event loop is blocked: the call keeps 8 s of its own audio', {
  skip: !onLinux,
}, async () => {
  const { session, received } = await openSession();
  // 400 packets of 20 ms arriving while nothing reads the socket: ~330 KiB of kernel buffer,
  // more than the 208 KiB default holds.
  await floodWhileBlocked(
    session.localPort,
    Array.from({ length: 400 }, (_, seq) => g711Packet(seq)),
  );
  await allAccounted(() => received() + kernelDrops(session.localPort), 400);
  assert.equal(session.sampleSocketDrops(), 0);
  assert.equal(received(), 400);
});

test('kernel drops under a flood are sampled on demand into the session stats', {
  skip: !onLinux,
}, async () => {
  const { session, received } = await openSession();
  assert.equal(session.sampleSocketDrops(), 0);
  const junk = Array.from({ length: 200 }, () => Buffer.alloc(8000, 0x80));
  await floodWhileBlocked(session.localPort, junk);
  await allAccounted(() => session.stats().malformed + kernelDrops(session.localPort), junk.length);
  const table = readUdpDrops();
  const drops = session.sampleSocketDrops(table);
  assert.ok(drops > 0, 'the buffer overflowed');
  // Every datagram is accounted for: dropped by the kernel, or read and dropped unparsed.
  assert.equal(drops + session.stats().malformed, junk.length);
  assert.equal(session.stats().socketDrops, drops);
  assert.equal(session.sampleSocketDrops(table), 0, 'a sample returns only what is new');
  assert.equal(received(), 0);
});

test('oversize datagrams are dropped unparsed, even when they look like RTP', async () => {
  const { session, received } = await openSession();
  const peer = createSocket('udp4');
  await new Promise<void>((resolve) => peer.bind(0, LOOPBACK, resolve));
  const oversize = Buffer.concat([g711Packet(1), Buffer.alloc(2000)]);
  peer.send(oversize, session.localPort, LOOPBACK);
  peer.send(g711Packet(2), session.localPort, LOOPBACK);
  for (let i = 0; i < 1000 && received() === 0; i++) await new Promise((resolve) => setImmediate(resolve));
  peer.close();
  assert.equal(received(), 1);
  assert.equal(session.stats().malformed, 1);
  assert.equal(session.stats().bytesReceived, 160);
});

const SNMP = [
  'Ip: Forwarding DefaultTTL',
  'Ip: 1 64',
  'Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors',
  'Udp: 192399713 14245877 41 223407578 40 0 1 0 0',
  'UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors',
  'UdpLite: 0 0 7 0 0 0 0 0 0',
].join('\n');

test("the host's UDP InErrors are read from snmp's Udp lines (not UdpLite's) and snmp6", () => {
  assert.equal(udpInErrorsIn(SNMP), 41);
  assert.equal(
    udpInErrorsIn('Udp6InDatagrams  \t12\nUdp6NoPorts 0\nUdp6InErrors                    \t3\n'),
    3,
  );
  assert.equal(udpInErrorsIn('Ip: Forwarding\nIp: 1\n'), undefined);
  assert.equal(readUdpInErrors(['/nonexistent/proc/net/snmp']), undefined);
});

test('the sampler reads the drop table only when the host counted a UDP drop since the last one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'udp-drops-'));
  const [udp, snmp] = [join(dir, 'udp'), join(dir, 'snmp')];
  const socketLine = (drops: number) =>
    `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n` +
    ` 1: 0100007F:9066 00000000:0000 07 00000000:00000000 00:00000000 00000000  0 0 1 2 0 ${drops}\n`;
  const counters = (inErrors: number) => SNMP.replace(' 41 ', ` ${inErrors} `);
  writeFileSync(udp, socketLine(5));
  writeFileSync(snmp, counters(41));
  const sampler = new UdpDropSampler([udp], [snmp]);
  assert.equal(sampler.sample()?.get(0x9066), 5, 'the first sample reads the table');
  writeFileSync(udp, socketLine(9)); // would be read if asked: the counter says nothing moved
  assert.equal(sampler.sample(), undefined, 'no drop counted on the host: no table');
  writeFileSync(snmp, counters(45));
  assert.equal(sampler.sample()?.get(0x9066), 9, 'the counter moved: the table is read');
  assert.equal(sampler.sample(), undefined);
  // Without the counters (not Linux, or a restricted /proc) every sample reads the table.
  const blind = new UdpDropSampler([udp], ['/nonexistent/proc/net/snmp']);
  assert.equal(blind.sample()?.get(0x9066), 9);
  assert.equal(blind.sample()?.get(0x9066), 9);
});
