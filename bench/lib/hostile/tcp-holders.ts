/**
 * Idle and slowloris SIP TCP connections for the hostile mix: `idle` connections that never
 * send a byte and `slow` ones that trickle an OPTIONS one byte every `trickleMs`, spread over
 * several source addresses. Whenever the gateway closes one, it is opened again (up to
 * `maxOpens` in all), so the population stays up for the whole run and the gateway's idle and
 * header deadlines keep firing.
 */
import { connect, type Socket } from 'node:net';
import type { SipTarget } from './sip-fuzz.js';

export interface TcpHoldersOptions {
  target: SipTarget;
  sources: string[];
  idle: number;
  slow: number;
  trickleMs: number;
  durationMs: number;
  /** Bound on connections opened in all, reopenings included. */
  maxOpens: number;
}

export interface TcpHoldersReport {
  opened: number;
  /** Connections the gateway closed (or refused) while we held them. */
  closedByGateway: number;
  /** The most connections open at once. */
  peakOpen: number;
}

const TRICKLE = [
  'OPTIONS sip:slow@127.0.0.1 SIP/2.0',
  'Via: SIP/2.0/TCP 127.0.2.1:5060;branch=z9hG4bK-slowloris',
  'Max-Forwards: 70',
  'From: <sip:slow@127.0.2.1>;tag=1',
  'To: <sip:slow@127.0.0.1>',
  'Call-ID: slowloris',
  'CSeq: 1 OPTIONS',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

export async function holdTcpConnections(options: TcpHoldersOptions): Promise<TcpHoldersReport> {
  const report: TcpHoldersReport = { opened: 0, closedByGateway: 0, peakOpen: 0 };
  const live = new Set<Socket>();
  const slow = new Map<Socket, number>();
  let finished = false;
  const open = (index: number, trickle: boolean): void => {
    if (finished || report.opened >= options.maxOpens) return;
    const source = options.sources[index % options.sources.length] as string;
    const socket = connect({ host: options.target.host, port: options.target.port, localAddress: source });
    report.opened++;
    live.add(socket);
    report.peakOpen = Math.max(report.peakOpen, live.size);
    if (trickle) slow.set(socket, 0);
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.on('close', () => {
      live.delete(socket);
      slow.delete(socket);
      if (finished) return;
      report.closedByGateway++;
      open(index, trickle);
    });
  };
  for (let i = 0; i < options.idle; i++) open(i, false);
  for (let i = 0; i < options.slow; i++) open(i, true);
  const trickle = setInterval(() => {
    for (const [socket, at] of slow) {
      if (socket.connecting || socket.destroyed) continue;
      socket.write(TRICKLE[at % TRICKLE.length] as string);
      slow.set(socket, at + 1);
    }
  }, options.trickleMs);
  await new Promise((resolve) => setTimeout(resolve, options.durationMs));
  finished = true;
  clearInterval(trickle);
  for (const socket of live) socket.destroy();
  return report;
}
