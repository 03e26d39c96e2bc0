/** RtpSession with SRTP (RFC 3711) over loopback: what is protected, refused and counted. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { ReceivedRtp } from '../../../src/media/rtp/types.js';
import { FakeClock, SecretBytes } from '../../../src/util/index.js';
import { LOOPBACK, openSession, rawSocket, rtpBytes, until } from './session-helpers.js';

test('SRTP: protected on the wire, checked before parsing; forged, replayed and plain packets are counted and skipped', async () => {
  const clock = new FakeClock();
  const a = await openSession(clock, { rtcpMux: true, rtcpIntervalMs: 1_000_000 });
  const b = await openSession(clock, { rtcpMux: true, rtcpIntervalMs: 1_000_000 });
  const [keyA, keyB] = [new SecretBytes(randomBytes(30)), new SecretBytes(randomBytes(30))];
  const suite = 'AES_CM_128_HMAC_SHA1_80' as const;
  a.setSrtp({ suite, sendKey: keyA, receiveKey: keyB });
  b.setSrtp({ suite, sendKey: keyB, receiveKey: keyA });
  // A relay in the middle sees the wire and replays, forges and injects through one source.
  const relay = await rawSocket();
  const wire: Buffer[] = [];
  relay.on('message', (msg) => wire.push(msg));
  a.setRemote(LOOPBACK, relay.address().port);
  b.setRemote(LOOPBACK, a.localPort);
  const received: ReceivedRtp[] = [];
  b.on('packet', (p) => received.push(p));
  const forward = (bytes: Uint8Array) => relay.send(bytes, b.localPort, LOOPBACK);

  a.send(new Uint8Array(160).fill(0x55), { payloadType: 0, timestamp: 160 });
  await until(() => wire.length === 1, 'SRTP at the relay');
  const srtp = wire[0] as Buffer;
  assert.equal(srtp.length, 12 + 160 + 10);
  assert.ok(!srtp.subarray(12, 172).every((byte) => byte === 0x55), 'payload encrypted on the wire');
  forward(srtp);
  await until(() => received.length === 1, 'decrypted at b');
  assert.ok(received[0]!.payload.every((byte) => byte === 0x55));
  assert.equal(b.stats().bytesReceived, 160);

  const tampered = Buffer.from(srtp);
  tampered[20] = (tampered[20] as number) ^ 1;
  forward(srtp); // replay
  forward(tampered);
  forward(rtpBytes(5000, 0x1234)); // plain RTP read as SRTP: its last 10 bytes are no tag
  a.sendReport(); // SRTCP (rtcp-mux), through the relay
  await until(() => wire.length === 2, 'SRTCP at the relay');
  forward(wire[1] as Buffer);
  await until(() => b.stats().rtcpReceived === 1, 'SRTCP at b');
  // The tampered copy reuses an index already seen: the replay check refuses it before any HMAC.
  assert.deepEqual(b.stats().srtp, { suite, dropped: { unkeyed: 0, auth: 1, replay: 2, expired: 0 } });
  assert.equal(b.stats().packetsReceived, 1);
  assert.equal(b.stats().malformed, 0);

  // The stream goes on, and a re-key (new key for a → b) takes effect on both sides.
  const keyA2 = new SecretBytes(randomBytes(30));
  a.setSrtp({ suite, sendKey: keyA2, receiveKey: keyB });
  b.setSrtp({ suite, sendKey: keyB, receiveKey: keyA2 });
  a.send(new Uint8Array(160).fill(0x66), { payloadType: 0, timestamp: 320 });
  await until(() => wire.length === 3, 'second packet at the relay');
  forward(wire[2] as Buffer);
  await until(() => received.length === 2, 're-keyed packet at b');
  assert.ok(received[1]!.payload.every((byte) => byte === 0x66));
  assert.equal(a.stats().srtp?.suite, suite);
});

test('SRTP required: packets ahead of the keys are dropped as unauthenticated, not taken as plain RTP', async () => {
  const clock = new FakeClock();
  const suite = 'AES_CM_128_HMAC_SHA1_80' as const;
  const [keyA, keyB] = [new SecretBytes(randomBytes(30)), new SecretBytes(randomBytes(30))];
  const a = await openSession(clock, { rtcpIntervalMs: 1_000_000 });
  // An outbound leg before its 200 OK: the answer's key is not known yet.
  const required = await openSession(clock, { rtcpIntervalMs: 1_000_000, srtpRequired: true });
  const plain = await openSession(clock, { rtcpIntervalMs: 1_000_000 });
  a.setSrtp({ suite, sendKey: keyA, receiveKey: keyB });
  const relay = await rawSocket();
  const wire: Buffer[] = [];
  relay.on('message', (msg) => wire.push(msg));
  a.setRemote(LOOPBACK, relay.address().port);
  const received: ReceivedRtp[] = [];
  required.on('packet', (p) => received.push(p));

  a.send(new Uint8Array(160).fill(0x55), { payloadType: 0, timestamp: 160 });
  await until(() => wire.length === 1, 'SRTP at the relay');
  // Then a runt from the same socket: once it is counted malformed, the SRTP packet was handled.
  relay.send(wire[0] as Buffer, required.localPort, LOOPBACK);
  relay.send(Buffer.from([0]), required.localPort, LOOPBACK);
  await until(() => required.stats().malformed === 1, 'both datagrams handled');
  assert.equal(required.stats().packetsReceived, 0);
  assert.equal(received.length, 0);
  // The baseline without the policy takes the same packet as plain RTP.
  relay.send(wire[0] as Buffer, plain.localPort, LOOPBACK);
  await until(() => plain.stats().packetsReceived === 1, 'the SRTP packet taken as RTP without the policy');

  required.setSrtp({ suite, sendKey: keyB, receiveKey: keyA });
  assert.deepEqual(required.stats().srtp?.dropped, { unkeyed: 1, auth: 0, replay: 0, expired: 0 });
  a.send(new Uint8Array(160).fill(0x66), { payloadType: 0, timestamp: 320 });
  await until(() => wire.length === 2, 'second packet at the relay');
  relay.send(wire[1] as Buffer, required.localPort, LOOPBACK);
  await until(() => received.length === 1, 'SRTP taken once the keys are set');
  assert.ok(received[0]?.payload.every((byte) => byte === 0x66));
});
