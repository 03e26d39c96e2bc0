/**
 * Pacing and loopback sources shared by the parts of the hostile mix: each part sends at a
 * rate for a bounded time from its own 127.0.0.x addresses, and stops by itself.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { setTimeout as delay } from 'node:timers/promises';

/** How often a paced sender wakes; each wake sends what is due since the last one. */
const WAKE_MS = 10;
/** After a stall, at most this much of the rate is sent at once (the rest is skipped). */
const MAX_CATCH_UP_MS = 100;

/**
 * Calls `send(i)` for i = 0, 1, 2, ... at `ratePerSec` for `durationMs` (or until `stopped()`),
 * in batches every WAKE_MS. Resolves with how many were sent. A stalled process does not
 * burst more than MAX_CATCH_UP_MS worth afterwards, so the offered rate is never exceeded by
 * much in any 100 ms window.
 */
export async function paced(
  ratePerSec: number,
  durationMs: number,
  send: (index: number) => void,
  stopped: () => boolean = () => false,
): Promise<number> {
  if (!(ratePerSec > 0) || !(durationMs > 0)) return 0;
  const started = performance.now();
  let sent = 0;
  for (;;) {
    const elapsed = performance.now() - started;
    if (elapsed >= durationMs || stopped()) break;
    const due = Math.floor((elapsed * ratePerSec) / 1000);
    sent = Math.max(sent, due - Math.ceil((MAX_CATCH_UP_MS * ratePerSec) / 1000));
    for (; sent < due; sent++) send(sent);
    await delay(WAKE_MS);
  }
  return sent;
}

/** `count` loopback addresses starting at `first` (e.g. 127.0.1.1, 127.0.1.2, ...). */
export function loopbackSources(first: string, count: number): string[] {
  const [a, b, c, d] = first.split('.').map(Number) as [number, number, number, number];
  return Array.from({ length: count }, (_, i) => `${a}.${b}.${c}.${d + i}`);
}

/** A UDP socket bound to `address` on a free port; replies to it are read and ignored. */
export async function udpSource(address: string): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  socket.on('error', () => undefined);
  socket.on('message', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return socket;
}
