import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DtmfSender, DtmfTransmitter } from '../../src/media/dtmf.js';
import { PortAllocator } from '../../src/media/rtp/port-allocator.js';
import { RtpSession } from '../../src/media/rtp/session.js';
import { FakeClock } from '../../src/util/index.js';
import { commandAvailable, skipUnlessPresent } from '../helpers/peers.js';
import { receiverReportLosing } from '../media/rtp/rtcp-helpers.js';

const LOOPBACK = '127.0.0.1';
const PAYLOAD_TYPE = 101;
const skip = skipUnlessPresent(commandAvailable('tshark'), 'tshark not installed');

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A libpcap file (LINKTYPE_RAW: IPv4) holding each datagram with its real UDP ports. */
function pcapOfDatagrams(datagrams: Datagram[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(101, 20); // LINKTYPE_RAW
  const records = datagrams.map(({ data, srcPort, dstPort }, index) => {
    const ip = Buffer.alloc(20);
    ip.writeUInt8(0x45, 0);
    ip.writeUInt16BE(20 + 8 + data.length, 2);
    ip.writeUInt8(64, 8);
    ip.writeUInt8(17, 9);
    ip.set([127, 0, 0, 1], 12);
    ip.set([127, 0, 0, 1], 16);
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
    ip.writeUInt16BE(~sum & 0xffff, 10);
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(srcPort, 0);
    udp.writeUInt16BE(dstPort, 2);
    udp.writeUInt16BE(8 + data.length, 4);
    const record = Buffer.alloc(16);
    record.writeUInt32LE(1_700_000_000, 0);
    record.writeUInt32LE(index * 20_000, 4);
    record.writeUInt32LE(28 + data.length, 8);
    record.writeUInt32LE(28 + data.length, 12);
    return Buffer.concat([record, ip, udp, data]);
  });
  return Buffer.concat([header, ...records]);
}

type Datagram = { data: Buffer; srcPort: number; dstPort: number };

/**
 * tshark's `fields` output for `datagrams` written as a pcap, decoded as `decodeAs` (`-d`):
 * one row per packet, one tab-separated column per field.
 */
async function tsharkRows(
  datagrams: Datagram[],
  decodeAs: string,
  fields: string[],
  options: string[] = [],
): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tshark-'));
  try {
    const file = join(dir, 'capture.pcap');
    writeFileSync(file, pcapOfDatagrams(datagrams));
    const fieldArgs = fields.flatMap((field) => ['-e', field]);
    const result = await run('tshark', [
      '-r',
      file,
      '-d',
      decodeAs,
      ...options,
      '-T',
      'fields',
      ...fieldArgs,
    ]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim().split('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('tshark decodes the RFC 4733 digits an RtpSession sent', { skip }, async () => {
  const clock = new FakeClock();
  const base = 40000 + 2 * Math.floor(Math.random() * 5000);
  const session = await RtpSession.open({
    portRange: new PortAllocator(base, base + 99),
    bindAddress: LOOPBACK,
    clock,
    rtcpIntervalMs: 1_000_000,
  });
  const receiver = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => receiver.bind(0, LOOPBACK, resolve));
    const receiverPort = receiver.address().port;
    const datagrams: Datagram[] = [];
    receiver.on('message', (data, rinfo) =>
      datagrams.push({ data, srcPort: rinfo.port, dstPort: receiverPort }),
    );
    session.setRemote(LOOPBACK, receiverPort);

    // The digits as a call sends them: a DtmfTransmitter on 20 ms media-clock ticks.
    const digits = '159*#0D';
    let sent = 0;
    const transmitter = new DtmfTransmitter({
      sender: new DtmfSender({ clockRate: 8000, payloadType: PAYLOAD_TYPE }),
      send: (payload, options) => {
        sent++;
        session.send(payload, options);
      },
    });
    transmitter.enqueue(digits);
    for (let tick = 0; tick < 500 && (transmitter.active || transmitter.pendingDigits > 0); tick++) {
      clock.advanceTo(tick * 20);
      transmitter.tick(tick * 20, 4000 + tick * 160);
    }
    assert.equal(transmitter.pendingDigits, 0);
    const deadline = performance.now() + 5000;
    while (datagrams.length < sent && performance.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 2));
    assert.equal(datagrams.length, sent);

    const rows = await tsharkRows(
      datagrams,
      `udp.port==${receiverPort},rtp`,
      ['rtp.timestamp', 'rtpevent.event_id'],
      ['-o', `rtpevent.event_payload_type_value:${PAYLOAD_TYPE}`, '-Y', 'rtpevent.end_of_event == 1'],
    );
    // Three end packets per digit (RFC 4733 §2.5.1.4); one digit per distinct timestamp.
    const ends = new Map<string, string>();
    for (const line of rows) {
      const [timestamp, eventId] = line.split('\t');
      if (timestamp && eventId) ends.set(timestamp, eventId);
    }
    const decoded = [...ends.values()].map((id) => '0123456789*#ABCD'[Number(id)]).join('');
    assert.equal(decoded, digits);
    assert.equal(rows.length, digits.length * 3);
  } finally {
    session.close();
    receiver.close();
  }
});

test('tshark decodes the compound RTCP (SR + SDES, then SR + SDES + BYE) an RtpSession sent', {
  skip,
}, async () => {
  const clock = new FakeClock();
  const base = 50000 + 2 * Math.floor(Math.random() * 5000);
  const session = await RtpSession.open({
    portRange: new PortAllocator(base, base + 99),
    bindAddress: LOOPBACK,
    clock,
    cname: 'patchbay-test',
    rtcpIntervalMs: 1_000_000,
  });
  const rtpSink = createSocket('udp4');
  const rtcpSink = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => rtpSink.bind(0, LOOPBACK, resolve));
    await new Promise<void>((resolve) => rtcpSink.bind(0, LOOPBACK, resolve));
    const rtcpPort = rtcpSink.address().port;
    const datagrams: Datagram[] = [];
    rtcpSink.on('message', (data, rinfo) => datagrams.push({ data, srcPort: rinfo.port, dstPort: rtcpPort }));
    session.setRemote(LOOPBACK, rtpSink.address().port, rtcpPort);
    for (let i = 0; i < 5; i++) session.send(new Uint8Array(160), { payloadType: 0, timestamp: i * 160 });
    session.sendReport();
    session.close();
    const deadline = performance.now() + 5000;
    while (datagrams.length < 2 && performance.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 2));
    assert.equal(datagrams.length, 2);

    const rows = await tsharkRows(datagrams, `udp.port==${rtcpPort},rtcp`, [
      'rtcp.pt',
      'rtcp.sender.packetcount',
      'rtcp.sdes.text',
      '_ws.expert',
    ]);
    const [sr, bye] = rows.map((line) => line.split('\t'));
    assert.deepEqual(sr?.slice(0, 3), ['200,202', '5', 'patchbay-test']);
    // Still an SR: RTP went out since the second previous report (RFC 3550 §6.4).
    assert.deepEqual(bye?.slice(0, 3), ['200,202,203', '5', 'patchbay-test']);
    // No malformed-packet or protocol warnings from the dissector.
    assert.equal(sr?.[3] ?? '', '');
    assert.equal(bye?.[3] ?? '', '');
  } finally {
    session.close();
    rtpSink.close();
    rtcpSink.close();
  }
});

test("tshark reads the cumulative loss of our report blocks as RFC 3550's signed 24 bits", {
  skip,
}, async () => {
  const losses = [5000, -1, -3, 9_000_000, -9_000_000];
  const datagrams = losses.map((cumulativeLost) => ({
    data: Buffer.from(receiverReportLosing(cumulativeLost)),
    srcPort: 40001,
    dstPort: 40003,
  }));
  const rows = await tsharkRows(datagrams, 'udp.port==40003,rtcp', ['rtcp.ssrc.cum_nr']);
  assert.deepEqual(rows, ['5000', '-1', '-3', '8388607', '-8388608']);
});
