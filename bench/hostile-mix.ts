/**
 * The hostile mix at full rates for a long run (bench/lib/hostile/mix.ts): a clean witness
 * call through mutated SIP at 1,500/s from ten sources (each under its limit), an INVITE flood
 * at 10x its source's limit, 100 idle and 100 slowloris TCP connections, 3,000 malformed
 * RTP/RTCP datagrams/s at the witness's ports, and two bots bursting 10,000 bad messages and
 * 10,000 marks every 20 s. Per run it prints the witness's gaps and losses next to a bare
 * pacer's, OPTIONS latency, RSS, CPU, the gateway's loop stalls and the shed counts from
 * /metrics; then the median of each figure over the runs. The whole report of every run goes
 * to `--out` (JSON). Runs the compiled gateway: `npm run build` first.
 *
 *   npx tsx bench/hostile-mix.ts [--seconds 120] [--runs 3] [--seed 1] [--scale 1] [--jitter-floor 0]
 *     [--attacker-nice 0] [--out FILE] [--trace DIR]
 *
 * `--scale` multiplies the SIP and RTP rates and the per-source limit (the flood stays at 10x
 * the limit); 0.2 is the rate of test/interop/hostile-mix.test.ts. `--jitter-floor` is the
 * witness trunk's `media.jitterBuffer.minDelayMs` (the test's is 60). `--trace` runs the gateway
 * under `--cpu-prof` with gc-watch.ts, keeps each run's profile and output in DIR/run-N, and
 * prints what filled the attack's stalls (stall-trace.ts): the CPU profile and the GC add load
 * of their own, so a traced run's figures are not comparable with an untraced one's. More node
 * flags for the gateway go in HOSTILE_GATEWAY_NODE_ARGS (space-separated). `--attacker-nice N`
 * runs the attack's generators and bots (this process's main thread) at niceness N while they
 * attack, as if the attacker had a machine of its own: on a 2-core box they otherwise take the
 * CPU the gateway, the witness and the bare pacer need, and the figures measure the box.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { percentile } from '../test/interop/helpers/sipp.js';
import { parseBenchArgs } from './lib/bench-args.js';
import { stallTraceArgs } from './lib/hostile/loop-stalls.js';
import { type HostileMixReport, runHostileMix } from './lib/hostile/mix.js';
import { stallTotals, traceStalls } from './lib/hostile/stall-trace.js';
import { metricSum } from './lib/metrics.js';
import { profileIn } from './load/profile.js';

const { values } = parseBenchArgs(
  'usage: npx tsx bench/hostile-mix.ts [--seconds 120] [--runs 3] [--seed 1] [--scale 1] [--jitter-floor 0] [--attacker-nice 0] [--out FILE] [--trace DIR]',
  {
    seconds: { type: 'string', default: '120' },
    runs: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    scale: { type: 'string', default: '1' },
    'jitter-floor': { type: 'string', default: '0' },
    'attacker-nice': { type: 'string', default: '0' },
    out: { type: 'string' },
    trace: { type: 'string' },
  },
);
const seconds = Number(values.seconds);
const scale = Number(values.scale);

/** One run's figures, in print order. */
function figures(report: HostileMixReport): Array<[string, number]> {
  const [, witness, after] = report.witness;
  const [, floor] = report.floor;
  const [, inbound] = report.inbound;
  const [, options] = report.options;
  const [, loop] = report.gatewayLoop;
  const metric = (name: string, label = '') => metricSum(report.metrics, name, label);
  const histogram = witness?.gapHistogram ?? [];
  return [
    ['witness packets', witness?.packets ?? 0],
    ['witness max gap ms', witness?.maxGapMs ?? 0],
    ['witness gaps ≤25 ms', histogram[0] ?? 0],
    ['witness gaps 25-40 ms', histogram[1] ?? 0],
    ['witness gaps 40-60 ms', histogram[2] ?? 0],
    ['witness gaps 60-100 ms', histogram[3] ?? 0],
    ['witness gaps >100 ms', histogram[4] ?? 0],
    ['frames lost on the wire', (witness?.sequenceLost ?? 0) + (after?.sequenceLost ?? 0)],
    ['ticks skipped', (witness?.ticksLost ?? 0) + (after?.ticksLost ?? 0)],
    ['frames lost through the bot', (witness?.echoLost ?? 0) + (after?.echoLost ?? 0)],
    ['frames inserted (underrun, concealment)', witness?.echoInserted ?? 0],
    ['bare pacer max gap ms', floor?.maxGapMs ?? 0],
    ['bare pacer gaps >60 ms', floor?.gapsOver60Ms ?? 0],
    ["witness's own RTP max gap ms", inbound?.maxGapMs ?? 0],
    ['OPTIONS sent', options?.sent ?? 0],
    ['OPTIONS unanswered', (options?.sent ?? 0) - (options?.answered ?? 0)],
    ['OPTIONS p50 ms', options?.p50Ms ?? 0],
    ['OPTIONS p99 ms', options?.p99Ms ?? 0],
    ['OPTIONS max ms', options?.maxMs ?? 0],
    ['legit call answered', report.legitCall.successful ? 1 : 0],
    ['legit call INVITE retransmissions', report.legitCall.retransmissions],
    ['legit call niceness', report.legitCall.nice],
    ['RSS idle MB', report.rss.idleKb / 1024],
    ['RSS with calls MB', report.rss.withCallsKb / 1024],
    ['RSS peak MB', report.rss.peakKb / 1024],
    ['RSS limit MB', report.rss.limitKb / 1024],
    ['gateway CPU % of a core', report.cpu.gatewayPercent],
    ['attack CPU % of a core', report.cpu.attackPercent],
    ['gateway loop stalls >40 ms', loop?.stalls ?? 0],
    ['gateway longest stall ms (wall)', loop?.maxWallMs ?? 0],
    ['gateway longest stall ms (own: min of wall, CPU)', loop?.maxOwnMs ?? 0],
    ['gateway longest time descheduled in a stall ms', loop?.maxDescheduledMs ?? 0],
    ["gateway longest stall ms (main thread's CPU)", loop?.maxMainThreadMs ?? 0],
    ['gateway longest wait for a CPU in a stall ms (main thread)', loop?.maxRunQueueMs ?? 0],
    ['media ticks late', metric('patchbay_media_clock_ticks_total', 'outcome="late"')],
    ['media ticks skipped', metric('patchbay_media_clock_ticks_total', 'outcome="skipped"')],
    ['SIP shed rate_limited', metric('patchbay_sip_shed_total', 'reason="rate_limited"')],
    ['SIP shed malformed', metric('patchbay_sip_shed_total', 'reason="malformed"')],
    ['SIP shed oversize', metric('patchbay_sip_shed_total', 'reason="oversize"')],
    ['SIP shed memory', metric('patchbay_sip_shed_total', 'reason="memory"')],
    ['SIP UDP kernel drops', metric('patchbay_sip_socket_drops_total')],
    ['RTP kernel drops', metric('patchbay_rtp_socket_drops_total')],
    ['TCP closed idle', metric('patchbay_sip_tcp_closed_total', 'reason="idle"')],
    ['TCP closed header_timeout', metric('patchbay_sip_tcp_closed_total', 'reason="header_timeout"')],
    ['TCP closed framing_error', metric('patchbay_sip_tcp_closed_total', 'reason="framing_error"')],
    ['TCP closed per_source_limit', metric('patchbay_sip_tcp_closed_total', 'reason="per_source_limit"')],
    ['bot socket pauses', metric('patchbay_bot_socket_pauses_total')],
    ['flood INVITEs', report.sent.flood.invites],
    ['flood INVITEs answered', report.sent.flood.answeredInvites],
    ['flood 503s (retransmissions included)', report.sent.flood.finals['503'] ?? 0],
    ['fuzz messages UDP', report.sent.sipFuzz.udp],
    ['fuzz messages TCP', report.sent.sipFuzz.tcp],
    ['RTP/RTCP junk', Object.values(report.sent.rtpJunk).reduce((sum, n) => sum + n, 0)],
    ['marks echoed', report.sent.bots.marksEchoed],
    ['marks echoed out of order', report.sent.bots.marksOutOfOrder],
  ];
}

const reports: HostileMixReport[] = [];
/** A traced run's stalls over this long (own time) are explained one by one. */
const TRACED_STALL_MS = 25;

for (let run = 0; run < Number(values.runs); run++) {
  const traceDir = values.trace ? join(values.trace, `run-${run + 1}`) : undefined;
  if (traceDir) mkdirSync(traceDir, { recursive: true });
  const report = await runHostileMix({
    seed: Number(values.seed) + run,
    baselineMs: 5000,
    hostileMs: seconds * 1000,
    requestsPerSourcePerSec: 200 * scale,
    sipFuzz: { ratePerSec: 1500 * scale, sources: 10, tcpShare: 0.2 },
    floodFactor: 10,
    tcp: { idle: 100, slow: 100, idleTimeoutSec: 30, headerTimeoutSec: 10 },
    rtpJunkPerSec: 3000 * scale,
    bots: { badMessages: 10_000, marks: 10_000, bursts: Math.max(1, Math.round(seconds / 20)) },
    jitterFloorMs: Number(values['jitter-floor']),
    attackerNice: Number(values['attacker-nice']),
    gatewayNodeArgs: gatewayNodeArgs(traceDir),
    log: (line) => console.error(`[run ${run + 1}] ${line}`),
  });
  reports.push(report);
  console.log(
    `run ${run + 1}: ${figures(report)
      .map(([name, value]) => `${name} ${round(value)}`)
      .join('; ')}`,
  );
  if (values.out) writeFileSync(values.out, JSON.stringify(reports, null, 1));
  if (traceDir) printTrace(traceDir, report);
}

/** `--trace`'s flags, and any in HOSTILE_GATEWAY_NODE_ARGS (space-separated, e.g. `--trace-gc`). */
function gatewayNodeArgs(traceDir: string | undefined): string[] | undefined {
  const extra = process.env['HOSTILE_GATEWAY_NODE_ARGS']?.split(' ').filter(Boolean) ?? [];
  const args = [...(traceDir ? stallTraceArgs(traceDir) : []), ...extra];
  return args.length > 0 ? args : undefined;
}

/** Each stall of the run's attack phase with its GC and busiest functions, then their sum. */
function printTrace(dir: string, report: HostileMixReport): void {
  const logs = report.gatewayLogs ?? '';
  writeFileSync(join(dir, 'gateway.log'), logs);
  const hostile = report.phases.find((phase) => phase.name === 'hostile') ?? { atMs: 0, toMs: 0 };
  const traces = traceStalls(logs, profileIn(dir), hostile, TRACED_STALL_MS);
  writeFileSync(join(dir, 'stalls.json'), JSON.stringify(traces, null, 1));
  for (const trace of traces) {
    const gc = Object.entries(trace.gcMs).map(([kind, ms]) => `${kind} ${round(ms)}`);
    const top = trace.top.slice(0, 4).map(([name, ms]) => `${name} ${round(ms)}`);
    console.log(
      `stall at ${trace.atMs}: wall ${trace.wallMs} cpu ${trace.cpuMs} main thread ${trace.mainThreadMs} ` +
        `run queue ${trace.runQueueMs}; gc [${gc.join(', ')}]; ${top.join('; ')}`,
    );
  }
  console.log(`stall time by function (${traces.length} stalls):`);
  for (const [name, ms] of stallTotals(traces).slice(0, 20)) console.log(`  ${round(ms)} ${name}`);
}

const names = figures(reports[0] as HostileMixReport).map(([name]) => name);
console.log(
  `\n| figure (${seconds} s at ${scale}x, ${reports.length} runs) | median | runs |\n| --- | --- | --- |`,
);
for (const [i, name] of names.entries()) {
  const runs = reports.map((report) => figures(report)[i]?.[1] ?? Number.NaN);
  console.log(`| ${name} | ${round(percentile(runs, 50))} | ${runs.map(round).join(', ')} |`);
}

function round(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}
