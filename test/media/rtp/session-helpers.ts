/** What the RtpSession tests share: sessions on a random port range, raw peers, bounded waits. */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after } from 'node:test';
import { RtpPacket } from 'rtp.js/packets';
import { PortAllocator } from '../../../src/media/rtp/port-allocator.js';
import { RtpSession } from '../../../src/media/rtp/session.js';
import type { FakeClock } from '../../../src/util/index.js';

export const LOOPBACK = '127.0.0.1';
export const opened: Array<{ close(): void }> = [];
after(() => {
  for (const resource of opened) resource.close();
});

/** A random high range per test file run, so parallel runs rarely collide (bind retries cover the rest). */
const base = 20000 + 2 * Math.floor(Math.random() * 6000); // below the ephemeral ports (32768+)
export const ports = new PortAllocator(base, base + 199);

export async function openSession(
  clock: FakeClock,
  extra: { rtcpMux?: boolean; rtcpIntervalMs?: number; srtpRequired?: boolean } = {},
): Promise<RtpSession> {
  const session = await RtpSession.open({ portRange: ports, bindAddress: LOOPBACK, clock, ...extra });
  opened.push(session);
  return session;
}

/** A session that reports only when asked, sending RTP and RTCP to a raw peer's one port. */
export async function sessionToPeer(clock: FakeClock): Promise<{ session: RtpSession; peer: Socket }> {
  const session = await openSession(clock, { rtcpIntervalMs: 1_000_000 });
  const peer = await rawSocket();
  const peerPort = peer.address().port;
  session.setRemote(LOOPBACK, peerPort, peerPort);
  return { session, peer };
}

export async function rawSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  opened.push({ close: () => socket.close() });
  return socket;
}

/** Waits for socket I/O (event-driven, bounded): not a fixed sleep. */
export async function until(condition: () => boolean, what: string, limitMs = 2000): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

export function rtpBytes(seq: number, ssrc: number, timestamp = seq * 160, payloadType = 0): Uint8Array {
  const packet = new RtpPacket();
  packet.setPayloadType(payloadType);
  packet.setSequenceNumber(seq);
  packet.setTimestamp(timestamp);
  packet.setSsrc(ssrc);
  packet.setPayload(new DataView(new Uint8Array(160).fill(0xff).buffer));
  const view = packet.getView();
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
