/**
 * A patchbay user agent built from the SIP stack on a real loopback socket, for interop tests
 * and the CPS benchmark: a UAS that answers every INVITE (180 then 200 with SDP) and a UAC
 * that places calls and hangs up once they are answered.
 */
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { SipTransport, SipUserAgent } from '../../../src/sip/index.js';
import { SystemClock, silentLogger } from '../../../src/util/index.js';

export const ANSWER_SDP = [
  'v=0',
  'o=patchbay 1 1 IN IP4 127.0.0.1',
  's=patchbay',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 40000 RTP/AVP 0 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=sendrecv',
  '',
].join('\r\n');

export interface StackUa {
  ua: SipUserAgent;
  transport: SipTransport;
  port: number;
  answered: number;
  ended: number;
  close(): Promise<void>;
}

export async function startStackUa(kind: 'udp' | 'tcp', answer = true): Promise<StackUa> {
  const transport = new SipTransport({
    listen: [{ transport: kind, address: '127.0.0.1', port: 0 }],
    logger: silentLogger,
  });
  await transport.start();
  const ua = new SipUserAgent({
    transport,
    clock: new SystemClock(),
    logger: silentLogger,
    product: 'patchbay-test',
    // A UA that only calls out turns INVITEs away as unavailable.
    onInvite: answer
      ? (session) => {
          session.progress(180);
          session.accept(ANSWER_SDP);
          handle.answered++;
          session.once('terminated', () => handle.ended++);
        }
      : (session) => session.reject(503),
  });
  const handle: StackUa = {
    ua,
    transport,
    port: transport.local(kind)?.port ?? 0,
    answered: 0,
    ended: 0,
    close: async () => {
      ua.close();
      await transport.close();
    },
  };
  return handle;
}

export interface UacRun {
  answered: number;
  failed: Array<{ status: number; reason: string }>;
}

/** Places `calls` calls at `rate` per second to `port`, each hung up right after its 200. */
export async function placeCalls(
  stack: StackUa,
  kind: 'udp' | 'tcp',
  port: number,
  calls: number,
  rate: number,
): Promise<UacRun> {
  const run: UacRun = { answered: 0, failed: [] };
  const pending: Promise<void>[] = [];
  const started = performance.now();
  for (let i = 0; i < calls; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await delay(wait);
    const session = stack.ua.call({
      requestUri: `sip:service@127.0.0.1:${port}`,
      destination: { transport: kind, address: '127.0.0.1', port },
      from: `<sip:patchbay@127.0.0.1:${stack.port}>`,
      to: `<sip:service@127.0.0.1:${port}>`,
      sdp: ANSWER_SDP,
    });
    pending.push(
      session.outcome.then(async (outcome) => {
        if (outcome.kind === 'failed') {
          run.failed.push({ status: outcome.status, reason: outcome.reason });
          return;
        }
        run.answered++;
        await session.bye();
      }),
    );
  }
  await Promise.all(pending);
  return run;
}

/** Resolves once something accepts TCP connections on `port` (a peer that just started). */
export async function waitForTcpListener(port: number, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await delay(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}
