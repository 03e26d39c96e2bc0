/**
 * The hostile mix against a real `patchbay start` process, seeded and bounded: while a clean
 * witness call runs (carrier.ts, its own process), every part attacks at once for
 * `hostileMs` — mutated and generated SIP over UDP and TCP from several sources each under
 * its limit, one allowed source flooding INVITEs at `floodFactor` times its limit, idle and
 * slowloris TCP connections, malformed RTP/RTCP at the witness call's ports, and the bots of
 * two other calls bursting bad messages and marks — and a legitimate SIPp call is placed
 * halfway through. Used by test/interop/hostile-mix.test.ts (short, lower rates) and
 * bench/hostile-mix.ts (long, full rates).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { CallRecord } from '../../../src/gateway/call-record.js';
import { callGateway, startGatewayProcess } from '../../../test/interop/helpers/gateway-process.js';
import { type Capture, captureUdp } from '../../../test/interop/helpers/tshark.js';
import { HostileBots, type HostileBotsReport } from './bots.js';
import type { CarrierReport } from './carrier.js';
import { CarrierProcess, libScript } from './carrier-process.js';
import { type InviteFloodReport, runInviteFlood } from './invite-flood.js';
import { LOOP_WATCH, type LoopPhase, summarizeLoop } from './loop-stalls.js';
import { loopbackSources } from './pace.js';
import { type RtpJunkReport, runRtpJunk } from './rtp-junk.js';
import { runSipFuzz, type SipFuzzReport } from './sip-fuzz.js';
import { holdTcpConnections, type TcpHoldersReport } from './tcp-holders.js';
import {
  type Arrival,
  codesOf,
  type OptionsPhase,
  summarizeProbes,
  summarizeWitness,
  type WitnessPhase,
} from './witness-report.js';

export interface HostileMixOptions {
  seed: number;
  /** Quiet time with every call up before the attack: the baseline phase. */
  baselineMs: number;
  hostileMs: number;
  /** The gateway's `limits.requestsPerSourcePerSec`. */
  requestsPerSourcePerSec: number;
  /** Fuzz over all sources; each source stays under the per-source limit. */
  sipFuzz: { ratePerSec: number; sources: number; tcpShare: number };
  /** The INVITE flood's rate as a multiple of the per-source limit. */
  floodFactor: number;
  tcp: { idle: number; slow: number; idleTimeoutSec: number; headerTimeoutSec: number };
  rtpJunkPerSec: number;
  /** Each burst: `badMessages` from the junk bot and `marks` from the marks bot. */
  bots: { badMessages: number; marks: number; bursts: number };
  /**
   * Niceness of the attack while it runs (default 0: as every other process). The attack's
   * generators and bots run on this process's main thread; on Linux niceness is per thread, so
   * this lowers their CPU priority alone, standing in for an attacker on a machine of its own:
   * the gateway, the witness's carrier and the bare pacer keep theirs. SIPp's legit call,
   * spawned from here during the attack, is set back to the rig's niceness (root only;
   * otherwise it keeps the attack's and the report says so).
   */
  attackerNice?: number;
  /** Node flags for the gateway process (`--cpu-prof`, `--trace-gc`: its output is in `gatewayLogs`). */
  gatewayNodeArgs?: string[];
  /**
   * `media.jitterBuffer.minDelayMs` of the witness's trunk (default 0: the adaptive buffer
   * alone, which conceals and then time-compresses whenever jitter it has not yet seen arrives).
   */
  jitterFloorMs?: number;
  log?: (line: string) => void;
}

export type GapSummary = Pick<
  WitnessPhase,
  'name' | 'packets' | 'maxGapMs' | 'gapHistogram' | 'gapsOver60Ms' | 'largestGaps'
>;

export interface HostileMixReport {
  /** The witness call per phase (baseline, hostile, after), from the capture of its RTP. */
  witness: WitnessPhase[];
  /**
   * The floor: a bare pacer process (bench/lib/bare-pacer.ts, the same MediaClock sending one
   * packet per tick and doing nothing else) captured beside the witness. Its gaps are what the
   * machine alone allowed in that phase.
   */
  floor: GapSummary[];
  /**
   * The witness's own RTP towards the gateway, as it left the carrier process: jitter the
   * gateway's jitter buffer had to absorb, not of the gateway's making.
   */
  inbound: GapSummary[];
  /** The well-behaved source's OPTIONS per phase. */
  options: OptionsPhase[];
  carrier: Omit<CarrierReport, 'probes'>;
  /** The gateway's own view of the witness call: its call record's media statistics. */
  witnessMedia: CallRecord['media'] | undefined;
  legitCall: { successful: boolean; retransmissions: number; errors: string; nice: number };
  /** VmRSS of the gateway process, kB: idle, with the calls up (baseline end), peak under attack. */
  rss: {
    idleKb: number;
    withCallsKb: number;
    peakKb: number;
    perCallKb: number;
    maxCalls: number;
    limitKb: number;
  };
  /** Counters and gauges scraped from /metrics after the run, `name{labels}` → value. */
  metrics: Record<string, number>;
  sent: {
    sipFuzz: SipFuzzReport;
    flood: InviteFloodReport;
    tcp: TcpHoldersReport;
    rtpJunk: RtpJunkReport;
    bots: HostileBotsReport;
  };
  gateway: { running: boolean; errorLines: string[] };
  /** The gateway's output (the last 500 kB), when `gatewayNodeArgs` asked for more than logs. */
  gatewayLogs: string | undefined;
  /**
   * The gateway's event loop per phase, from loop-watch.ts inside it: waits over 40 ms, the
   * longest in wall time, and the longest its own work can have held the loop (the smaller of
   * wall and CPU time: CPU well under wall is the process descheduled, not busy).
   */
  gatewayLoop: LoopPhase[];
  /** Each phase's window, epoch ms (baseline, hostile, after). */
  phases: Array<{ name: string; atMs: number; toMs: number }>;
  /** Share of one core used during the attack by the gateway, and by this process (the attack and the bots). */
  cpu: { gatewayPercent: number; attackPercent: number };
}

const CARRIER = '127.0.0.5';
/** The bare pacer's packets carry SSRC 0, which tells them apart from the witness's in the capture. */
const PACER_SSRC = 0;
/** How long the capture goes on after the attack. */
const AFTER_MS = 2000;
const PROBER = '127.0.0.6';
const NUMBERS = {
  witness: '+15551000001',
  junk: '+15551000002',
  marks: '+15551000003',
  legit: '+15551000004',
};
const FLOOD_NUMBER = '+15551000009';
/** Calls the fuzz and the flood can hold at once (their trunks' maxConcurrentCalls). */
const FUZZ_CALLS = 2;
const FLOOD_CALLS = 4;
const METRICS =
  /^(patchbay_(sip_shed_total|sip_tcp_closed_total|sip_socket_drops_total|rtp_socket_drops_total|bot_socket_pauses_total|media_clock_ticks_total|media_clock_overruns_total|calls_total|active_calls)\S*) (\S+)$/gm;

const TRUNKS = {
  fuzz: [
    'name: fuzz',
    'inbound: { allowedCidrs: ["127.0.1.0/24", "127.0.2.0/24"] }',
    'codecs: [PCMU, PCMA]',
    'cps: { rate: 1, burst: 2 }',
    `maxConcurrentCalls: ${FUZZ_CALLS}`,
    'probing: { enabled: false }',
    '',
  ].join('\n'),
  flooder: [
    'name: flooder',
    'inbound: { allowedCidrs: ["127.0.3.0/24"] }',
    'codecs: [PCMU]',
    'cps: { rate: 5, burst: 5 }',
    `maxConcurrentCalls: ${FLOOD_CALLS}`,
    'probing: { enabled: false }',
    '',
  ].join('\n'),
};

/** Epoch milliseconds, comparable with the capture's kernel timestamps. */
function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

const CAPTURE_FIELDS = ['frame.time_epoch', 'rtp.ssrc', 'rtp.seq', 'rtp.timestamp', 'rtp.payload'];

type CapturedRtp = Arrival & { ssrc: number };

function gapSummary(phase: WitnessPhase): GapSummary {
  const { name, packets, maxGapMs, gapHistogram, gapsOver60Ms, largestGaps } = phase;
  return { name, packets, maxGapMs, gapHistogram, gapsOver60Ms, largestGaps };
}

/** tshark's fields per packet (epoch seconds, SSRC, sequence, timestamp, payload as colon-separated hex). */
function parseCapture(rows: string[][]): CapturedRtp[] {
  return rows.map(([epoch, ssrc, sequence, timestamp, payload]) => ({
    atMs: Number(epoch) * 1000,
    ssrc: Number(ssrc),
    sequence: Number(sequence),
    timestamp: Number(timestamp),
    codes: codesOf(Buffer.from((payload ?? '').replaceAll(':', ''), 'hex')),
  }));
}

/** CPU time a process has used, ms (utime + stime from /proc/<pid>/stat, in clock ticks of 10 ms). */
export function readCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** VmRSS of a process in kB, from /proc/<pid>/status. */
export function readRssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
}

export async function runHostileMix(options: HostileMixOptions): Promise<HostileMixReport> {
  const log = options.log ?? (() => undefined);
  const bots = await HostileBots.start(options.seed);
  const carrier = new CarrierProcess(CARRIER, PROBER);
  let gateway: Awaited<ReturnType<typeof startGatewayProcess>> | undefined;
  let capture: Capture | undefined;
  let inboundCapture: Capture | undefined;
  let pacer: ChildProcess | undefined;
  try {
    const { botUrl, witnessPort } = await carrier.next('ready', 15_000);
    capture = captureUdp(witnessPort, CAPTURE_FIELDS);
    gateway = await startGatewayProcess({
      botUrl: bots.url('sink'),
      routes: [
        { match: NUMBERS.witness, url: botUrl },
        { match: NUMBERS.legit, url: botUrl },
        { match: NUMBERS.junk, url: bots.url('junk') },
        { match: NUMBERS.marks, url: bots.url('marks') },
      ],
      trunks: TRUNKS,
      codecs: ['PCMU'],
      jitterFloorMs: options.jitterFloorMs ?? 0,
      nodeArgs: ['--import', LOOP_WATCH, ...(options.gatewayNodeArgs ?? [])],
      requestsPerSourcePerSec: options.requestsPerSourcePerSec,
      extraGatewayYaml: `sip: { tcp: { idleTimeoutSec: ${options.tcp.idleTimeoutSec}, headerTimeoutSec: ${options.tcp.headerTimeoutSec} } }`,
    });
    const pid = gateway.child.pid as number;
    const target = { host: '127.0.0.1', port: gateway.sipPort };
    await delay(1000);
    const idleKb = readRssKb(pid);

    carrier.send({
      cmd: 'calls',
      gatewayPort: gateway.sipPort,
      numbers: [NUMBERS.witness, NUMBERS.junk, NUMBERS.marks],
    });
    const witness = await carrier.next('calls', 20_000);
    inboundCapture = captureUdp(witness.rtpPort, CAPTURE_FIELDS, [], CARRIER);
    await Promise.all([capture.ready, inboundCapture.ready]);
    for (let i = 0; i < 100 && !(bots.started('junk') && bots.started('marks')); i++) await delay(50);
    log(
      `calls up (witness at gateway RTP ${witness.rtpPort}/${witness.rtcpPort}); baseline ${options.baselineMs} ms`,
    );
    const phases = [{ name: 'baseline', atMs: epochMs() }];
    const floorPackets = (options.baselineMs + options.hostileMs + AFTER_MS) / 20 + 100;
    pacer = spawn(
      process.execPath,
      [...libScript('bare-pacer'), String(witnessPort), String(floorPackets), CARRIER],
      {
        stdio: 'ignore',
      },
    );
    await delay(options.baselineMs);
    const withCallsKb = readRssKb(pid);

    phases.push({ name: 'hostile', atMs: epochMs() });
    const attackNice = new AttackNiceness(options.attackerNice ?? 0, log);
    const cpuFrom = { gateway: readCpuMs(pid), attack: process.cpuUsage(), atMs: performance.now() };
    log(`hostile mix for ${options.hostileMs} ms`);
    let peakKb = withCallsKb;
    const rssTimer = setInterval(() => {
      peakKb = Math.max(peakKb, readRssKb(pid));
    }, 250);
    const burstEvery = options.hostileMs / Math.max(1, options.bots.bursts);
    const burstTimers = Array.from({ length: options.bots.bursts }, (_, i) =>
      setTimeout(
        () => {
          bots.junkBurst(options.bots.badMessages);
          bots.marksBurst(options.bots.marks);
        },
        1000 + i * burstEvery,
      ),
    );
    const legitCall = delay(options.hostileMs / 2).then(async () => {
      const sipp = await callGateway(gateway as NonNullable<typeof gateway>, {
        scenario: 'uac',
        calls: 1,
        timeoutMs: 20_000,
        extraArgs: ['-d', '1000'],
        to: NUMBERS.legit,
      });
      // No pid: SIPp did not start (its result says so); never this thread mid-attack.
      const nice = sipp.pid === undefined ? Number.NaN : attackNice.restore(sipp.pid);
      return { result: await sipp.result, nice };
    });
    const [sipFuzz, flood, tcp, rtpJunk] = await Promise.all([
      runSipFuzz({
        target,
        sources: loopbackSources('127.0.1.1', options.sipFuzz.sources),
        ratePerSec: options.sipFuzz.ratePerSec,
        tcpShare: options.sipFuzz.tcpShare,
        durationMs: options.hostileMs,
        seed: options.seed,
      }),
      runInviteFlood({
        target,
        source: '127.0.3.1',
        number: FLOOD_NUMBER,
        ratePerSec: options.requestsPerSourcePerSec * options.floodFactor,
        durationMs: options.hostileMs,
      }),
      holdTcpConnections({
        target,
        sources: loopbackSources('127.0.2.1', 8),
        idle: options.tcp.idle,
        slow: options.tcp.slow,
        trickleMs: 100,
        durationMs: options.hostileMs,
        maxOpens: (options.tcp.idle + options.tcp.slow) * 50,
      }),
      runRtpJunk({
        host: '127.0.0.1',
        rtpPort: witness.rtpPort,
        rtcpPort: witness.rtcpPort,
        sources: loopbackSources('127.0.4.1', 4),
        ratePerSec: options.rtpJunkPerSec,
        durationMs: options.hostileMs,
        seed: options.seed,
      }),
    ]);
    const attackMs = performance.now() - cpuFrom.atMs;
    const attackCpu = process.cpuUsage(cpuFrom.attack);
    const cpu = {
      gatewayPercent: (100 * (readCpuMs(pid) - cpuFrom.gateway)) / attackMs,
      attackPercent: (100 * (attackCpu.user + attackCpu.system)) / 1000 / attackMs,
    };
    for (const timer of burstTimers) clearTimeout(timer);
    const { result: legit, nice: legitNice } = await legitCall;
    attackNice.restore();
    phases.push({ name: 'after', atMs: epochMs() });
    log(`attack over; ${AFTER_MS} ms after it`);
    await delay(AFTER_MS);
    clearInterval(rssTimer);
    const endMs = epochMs();
    const [captured, inbound] = (
      await Promise.all([capture.stop({ untilQuiet: true }), inboundCapture.stop({ untilQuiet: true })])
    ).map(parseCapture) as [CapturedRtp[], CapturedRtp[]];
    const arrivals = captured.filter((arrival) => arrival.ssrc !== PACER_SSRC);
    const floorArrivals = captured.filter((arrival) => arrival.ssrc === PACER_SSRC);
    carrier.send({ cmd: 'finish' });
    const { report } = await carrier.next('report', 20_000);
    const windows = phases.map((phase, i) => ({ ...phase, toMs: phases[i + 1]?.atMs ?? endMs }));
    await delay(500);
    const text = await (await fetch(`${gateway.apiUrl}/metrics`)).text();
    const records = gateway.records() as unknown as CallRecord[];
    const gatewayLogs = gateway.logs();
    const metrics = Object.fromEntries(
      [...text.matchAll(METRICS)].map((m) => [m[1] as string, Number(m[3])]),
    );
    const perCallKb = (withCallsKb - idleKb) / 3;
    const maxCalls = 3 + 1 + FUZZ_CALLS + FLOOD_CALLS;
    return {
      witness: windows.map((w) => summarizeWitness(w.name, arrivals, w.atMs, w.toMs)),
      floor: windows.map((w) => gapSummary(summarizeWitness(w.name, floorArrivals, w.atMs, w.toMs))),
      inbound: windows.map((w) => gapSummary(summarizeWitness(w.name, inbound, w.atMs, w.toMs))),
      options: windows.map((w) => summarizeProbes(w.name, report.probes, w.atMs, w.toMs)),
      carrier: { answered: report.answered, endedByGateway: report.endedByGateway },
      witnessMedia: records.find((record) => record.to.includes(NUMBERS.witness))?.media,
      legitCall: {
        successful: legit.successfulCalls === 1,
        retransmissions: legit.retransmissions,
        errors: legit.errors,
        nice: legitNice,
      },
      rss: { idleKb, withCallsKb, peakKb, perCallKb, maxCalls, limitKb: 2 * idleKb + perCallKb * maxCalls },
      metrics,
      sent: { sipFuzz, flood, tcp, rtpJunk, bots: bots.report },
      cpu,
      gatewayLogs: options.gatewayNodeArgs ? gateway.logs() : undefined,
      gatewayLoop: windows.map((w) => summarizeLoop(w.name, gatewayLogs, w.atMs, w.toMs)),
      phases: windows,
      gateway: {
        running: gateway.child.exitCode === null,
        errorLines: gateway
          .logs()
          .split('\n')
          .filter((line) => /"level":(50|60)/.test(line)),
      },
    };
  } finally {
    pacer?.kill();
    await Promise.all([capture?.stop(), inboundCapture?.stop()]);
    carrier.kill();
    await gateway?.stop();
    await bots.close();
  }
}

/**
 * The attack's niceness (`attackerNice`) while it runs: this thread's (Linux: niceness is per
 * thread), and what a process this thread spawns inherits until restore() gives it back.
 */
class AttackNiceness {
  /** What this thread ran at before the attack, and what the rest of the rig runs at. */
  readonly #before = getPriority(0);
  readonly #lowered: boolean;

  constructor(nice: number, log: (line: string) => void) {
    this.#lowered = nice !== 0;
    if (!this.#lowered) return;
    setPriority(0, nice);
    log(`attack at niceness ${getPriority(0)}`);
  }

  /**
   * Gives the process `pid` (this thread when undefined) the niceness from before the attack;
   * raising priority needs root (CAP_SYS_NICE), so without it the attack's stays. Returns the
   * niceness it has (NaN once the process has exited).
   */
  restore(pid?: number): number {
    if (this.#lowered) {
      try {
        setPriority(pid ?? 0, this.#before);
      } catch {
        // Not permitted: it keeps the attack's niceness, which the report shows.
      }
    }
    try {
      return getPriority(pid ?? 0);
    } catch {
      return Number.NaN;
    }
  }
}
