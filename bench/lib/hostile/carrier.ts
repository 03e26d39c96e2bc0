/**
 * The well-behaved side of the hostile mix, in its own process so the attack's cost never
 * lands on what measures it: a carrier placing calls from one loopback address with the
 * patchbay SIP stack as UAC, sending 20 ms PCMU RTP on each (paced by the same MediaClock
 * the gateway uses), the echo bot (src/demo, echoing each frame at once) the witness call is
 * routed to, and an OPTIONS prober from another address every 100 ms. The first call is the
 * witness: its frames carry the codes witness-report.ts explains; what comes back is captured
 * by the mix (kernel timestamps), not here.
 *
 * Protocol, one JSON object per line: it prints `{"event":"ready","botUrl","witnessPort"}` (the
 * witness call's own RTP port, bound already so a capture can start before the call); then
 * reads `{"cmd":"calls","gatewayPort","numbers":[...]}` (answers `{"event":"calls","rtpPort",
 * "rtcpPort"}`: the witness call's ports at the gateway) and
 * `{"cmd":"finish"}` (BYE every call, print `{"event":"report",...}` and exit). It exits by
 * itself after `maxLifeMs` or when its stdin ends.
 *
 *   node [loader] bench/lib/hostile/carrier.ts '{"address":"127.0.0.5","probeAddress":"127.0.0.6","maxLifeMs":300000}'
 */
import type { Socket as UdpSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { EchoBot } from '../../../src/demo/index.js';
import { MediaClock } from '../../../src/media/media-clock.js';
import {
  createOffer,
  type OutboundSession,
  parseAnswer,
  SipTransport,
  SipUserAgent,
} from '../../../src/sip/index.js';
import { SystemClock, silentLogger } from '../../../src/util/index.js';
import { udpSource } from './pace.js';
import { CODES, type ProbeResult } from './witness-report.js';

export interface CarrierOptions {
  address: string;
  probeAddress: string;
  maxLifeMs: number;
}

export interface CarrierReport {
  /** Every OPTIONS sent, with its answer time (undefined: never answered). */
  probes: ProbeResult[];
  /** Calls placed and answered (the witness first). */
  answered: number;
  /** Calls the gateway ended before we did (its BYE). */
  endedByGateway: number;
}

/** What the carrier prints, one JSON object a line. */
export type CarrierEvent =
  | { event: 'ready'; botUrl: string; witnessPort: number }
  | { event: 'calls'; rtpPort: number; rtcpPort: number }
  | { event: 'report'; report: CarrierReport }
  | { event: 'error'; message: string };

interface CarrierCall {
  session: OutboundSession;
  rtp: UdpSocket;
  remotePort: number;
  remoteRtcpPort: number;
  sequence: number;
  timestamp: number;
  ssrc: number;
  endedByGateway: boolean;
}

const PROBE_INTERVAL_MS = 100;
const options = JSON.parse(process.argv[2] ?? '{}') as CarrierOptions;
const clock = new SystemClock();
const print = (event: CarrierEvent): void => {
  process.stdout.write(`${JSON.stringify(event)}\n`);
};

const bot = await EchoBot.start({ echoDelayMs: 0 });
const witnessRtp = await udpSource(options.address);
const transport = new SipTransport({
  listen: [{ transport: 'udp', address: options.address, port: 0 }],
  logger: silentLogger,
});
await transport.start();
const ua = new SipUserAgent({
  transport,
  clock,
  logger: silentLogger,
  product: 'patchbay-hostile-mix-carrier',
  onInvite: (session) => session.reject(488),
});
const mediaClock = new MediaClock(clock, 20, undefined, 2);
const calls: CarrierCall[] = [];
const probes: ProbeResult[] = [];
/** Epoch milliseconds, comparable with the capture's kernel timestamps. */
const epochMs = (): number => performance.timeOrigin + performance.now();
let probeTimer: NodeJS.Timeout | undefined;
let frame = 0;

mediaClock.on('tick', () => {
  const code = CODES[frame % CODES.length] as number;
  frame++;
  for (const [index, call] of calls.entries()) {
    const packet = Buffer.alloc(12 + 160, index === 0 ? code : 0xff);
    packet[0] = 0x80;
    packet[1] = 0;
    packet.writeUInt16BE(call.sequence, 2);
    packet.writeUInt32BE(call.timestamp, 4);
    packet.writeUInt32BE(call.ssrc, 8);
    call.sequence = (call.sequence + 1) & 0xffff;
    call.timestamp = (call.timestamp + 160) >>> 0;
    call.rtp.send(packet, call.remotePort, '127.0.0.1');
  }
});

async function placeCall(gatewayPort: number, number: string): Promise<CarrierCall> {
  const rtp = calls.length === 0 ? witnessRtp : await udpSource(options.address);
  const port = rtp.address().port;
  const sdp = createOffer({ address: options.address, port, codecs: ['PCMU'] });
  const session = ua.call({
    requestUri: `sip:${number}@127.0.0.1:${gatewayPort}`,
    destination: { transport: 'udp', address: '127.0.0.1', port: gatewayPort },
    from: `<sip:carrier@${options.address}:${transport.local('udp')?.port}>`,
    to: `<sip:${number}@127.0.0.1:${gatewayPort}>`,
    sdp,
  });
  const outcome = await session.outcome;
  if (outcome.kind !== 'answered') throw new Error(`call to ${number} failed: ${outcome.status}`);
  const answer = parseAnswer(outcome.response.body.toString(), ['PCMU']);
  if (!answer.ok) throw new Error(`bad answer for ${number}: ${answer.reason}`);
  const call: CarrierCall = {
    session,
    rtp,
    remotePort: answer.remote.port,
    remoteRtcpPort: answer.remote.rtcpPort ?? answer.remote.port + 1,
    sequence: 1000,
    timestamp: 160_000,
    ssrc: 0x5eed0000 + calls.length,
    endedByGateway: false,
  };
  session.once('terminated', (cause) => {
    call.endedByGateway = cause.by === 'remote';
  });
  calls.push(call);
  return call;
}

async function startProber(gatewayPort: number): Promise<void> {
  const socket = await udpSource(options.probeAddress);
  const local = socket.address().port;
  const pending = new Map<string, ProbeResult>();
  socket.removeAllListeners('message');
  socket.on('message', (data) => {
    const branch = /branch=z9hG4bK-(probe-\d+)/.exec(data.toString('latin1'))?.[1] ?? '';
    const probe = pending.get(branch);
    if (!probe) return;
    probe.latencyMs = epochMs() - probe.sentAtMs;
    pending.delete(branch);
  });
  let serial = 0;
  probeTimer = setInterval(() => {
    const branch = `probe-${++serial}`;
    const probe: ProbeResult = { sentAtMs: epochMs(), latencyMs: undefined };
    probes.push(probe);
    pending.set(branch, probe);
    const text = [
      `OPTIONS sip:probe@127.0.0.1:${gatewayPort} SIP/2.0`,
      `Via: SIP/2.0/UDP ${options.probeAddress}:${local};branch=z9hG4bK-${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:prober@${options.probeAddress}>;tag=${branch}`,
      `To: <sip:probe@127.0.0.1:${gatewayPort}>`,
      `Call-ID: ${branch}@${options.probeAddress}`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    socket.send(Buffer.from(text, 'latin1'), gatewayPort, '127.0.0.1');
  }, PROBE_INTERVAL_MS);
}

async function finish(): Promise<never> {
  if (probeTimer) clearInterval(probeTimer);
  await Promise.all(
    calls.map((call) => (call.session.state === 'terminated' ? undefined : call.session.bye())),
  );
  mediaClock.stop();
  const report: CarrierReport = {
    probes,
    answered: calls.length,
    endedByGateway: calls.filter((call) => call.endedByGateway).length,
  };
  print({ event: 'report', report });
  for (const call of calls) call.rtp.close();
  ua.close();
  await transport.close();
  await bot.close();
  process.exit(0);
}

setTimeout(() => void finish(), options.maxLifeMs).unref();
createInterface({ input: process.stdin })
  .on('line', (line) => {
    const command = JSON.parse(line) as { cmd: string; gatewayPort?: number; numbers?: string[] };
    if (command.cmd === 'finish') void finish();
    else if (command.cmd === 'calls') {
      const gatewayPort = command.gatewayPort ?? 5060;
      void (async () => {
        try {
          mediaClock.start();
          for (const number of command.numbers ?? []) await placeCall(gatewayPort, number);
          await startProber(gatewayPort);
          const witness = calls[0];
          if (!witness) throw new Error('no call placed');
          print({ event: 'calls', rtpPort: witness.remotePort, rtcpPort: witness.remoteRtcpPort });
        } catch (error) {
          print({ event: 'error', message: (error as Error).message });
        }
      })();
    }
  })
  .on('close', () => void finish());
print({ event: 'ready', botUrl: bot.url, witnessPort: witnessRtp.address().port });
