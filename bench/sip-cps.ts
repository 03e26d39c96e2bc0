/**
 * Sustained INVITE-200-ACK-BYE calls per second under SIPp (`-sn uac -r N -m M`), stepping
 * the rate up, against three UAS, each in its own process so its CPU can be read from /proc:
 *
 * - SIPp's own uas (`-sn uas`): the baseline, in the same run;
 * - the patchbay SIP stack alone (bench/lib/stack-uas.ts: the stack's SipUserAgent answering
 *   every INVITE 200 with SDP);
 * - a real `patchbay start` (compiled: `npm run build` first) with a bot WebSocket per call:
 *   INVITE -> media leg -> WebSocket open to the echo bot (bench/load/echo-bot.ts, its own
 *   process) -> Twilio `connected`/`start` -> 200 -> ACK -> held `holdMs` -> BYE. After each
 *   step, how long until the gateway's `patchbay_active_calls` is back at 0 (a call still
 *   active 45 s later is stuck).
 *
 *   With `overload` (a JSON `limits.overload`, e.g. '{"mediaClockLateShare":0.1,"windowSec":1}'),
 *   the gateway refuses new INVITEs with 503 while its event loop or media clock falls behind.
 *
 *   npx tsx bench/sip-cps.ts [rates=200,400,600,800] [secondsPerStep=5] [holdMs=0] [targets=sipp,stack,gateway] [overload]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startGatewayProcess } from '../test/interop/helpers/gateway-process.js';
import { freePort, percentile, runSipp, type SippHandle, startSipp } from '../test/interop/helpers/sipp.js';
import { metricSum, scrapeMetrics } from './lib/metrics.js';
import { cpuSeconds } from './lib/proc-stat.js';
import { EchoBotProcess } from './load/bot-process.js';

const rates = (process.argv[2] ?? '200,400,600,800').split(',').map(Number);
const secondsPerStep = Number(process.argv[3] ?? 5);
const holdMs = Number(process.argv[4] ?? 0);
const targets = new Set((process.argv[5] ?? 'sipp,stack,gateway').split(','));
const overload = process.argv[6] === undefined ? undefined : JSON.parse(process.argv[6]);
/**
 * How long a step's calls may take to end once SIPp is done: past Timer H (32 s, a 200 never
 * ACKed, RFC 3261 §13.3.1.4) and the bot's connect timeout, a call still active is stuck.
 */
const SETTLE_LIMIT_MS = 45_000;

interface StepRow {
  rate: number;
  calls: number;
  successful: number;
  failed: number;
  achievedCps: number;
  p50: number;
  p95: number;
  p99: number;
  uasCpuPercent: number;
  /** CPU of the bot process, when there is one. */
  botCpuPercent?: number;
  /** Seconds after SIPp ended until the gateway had no call active, or the calls left at the limit. */
  settled?: string;
  /** INVITEs the gateway refused as overloaded (503, `rejected_overload`) in the step. */
  refusedOverload?: number;
  /** 1-minute load average of the machine when the step started. */
  loadavg: number;
}

/** What a step measures besides SIPp's own figures. */
interface StepProbe {
  pid: number;
  botPid?: number;
  activeCalls?: () => Promise<number>;
  /** `patchbay_calls_total{outcome="rejected_overload"}` so far. */
  refusedOverload?: () => Promise<number>;
}

/** Polls the active calls once a second until none is left, or the limit. */
async function settle(activeCalls: () => Promise<number>): Promise<string> {
  const started = performance.now();
  for (;;) {
    const active = await activeCalls();
    const elapsedMs = performance.now() - started;
    if (active === 0) return `${(elapsedMs / 1000).toFixed(0)} s`;
    if (elapsedMs >= SETTLE_LIMIT_MS) return `${active} still active at ${SETTLE_LIMIT_MS / 1000} s`;
    await delay(1000);
  }
}

async function step(probe: StepProbe, uasPort: number, rate: number): Promise<StepRow> {
  const calls = rate * secondsPerStep;
  const load = loadavg()[0] ?? 0;
  const refusedBefore = (await probe.refusedOverload?.()) ?? 0;
  const cpuBefore = cpuSeconds(probe.pid);
  const botCpuBefore = probe.botPid ? cpuSeconds(probe.botPid) : 0;
  const started = performance.now();
  const result = await runSipp({
    scenario: 'uac',
    remote: `127.0.0.1:${uasPort}`,
    localPort: await freePort(),
    calls,
    rate,
    timeoutMs: (secondsPerStep + 60) * 1000,
    extraArgs: ['-recv_timeout', '10000', '-d', String(holdMs)],
  });
  const wallSeconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(probe.pid) - cpuBefore;
  const botCpu = probe.botPid ? cpuSeconds(probe.botPid) - botCpuBefore : undefined;
  const settled = probe.activeCalls ? await settle(probe.activeCalls) : undefined;
  const refused = probe.refusedOverload ? (await probe.refusedOverload()) - refusedBefore : undefined;
  return {
    rate,
    calls,
    successful: result.successfulCalls,
    failed: result.failedCalls + (calls - result.successfulCalls - result.failedCalls),
    achievedCps: result.successfulCalls / (result.elapsedMs / 1000),
    p50: percentile(result.responseTimesMs, 50),
    p95: percentile(result.responseTimesMs, 95),
    p99: percentile(result.responseTimesMs, 99),
    uasCpuPercent: (100 * cpu) / wallSeconds,
    ...(botCpu === undefined ? {} : { botCpuPercent: (100 * botCpu) / wallSeconds }),
    ...(settled === undefined ? {} : { settled }),
    ...(refused === undefined ? {} : { refusedOverload: refused }),
    loadavg: load,
  };
}

async function runAgainst(label: string, uas: SippHandle, uasPort: number): Promise<void> {
  const pid = uas.pid;
  if (pid === undefined) throw new Error(`${label}: UAS did not start`);
  for (const rate of rates) printRow(label, await step({ pid }, uasPort, rate));
}

function printRow(label: string, row: StepRow): void {
  console.log(
    `| ${label} | ${row.rate} | ${row.calls} | ${row.successful} | ${row.failed} | ${row.achievedCps.toFixed(0)} | ` +
      `${row.p50} / ${row.p95} / ${row.p99} | ${row.uasCpuPercent.toFixed(0)}% | ` +
      `${row.botCpuPercent === undefined ? '–' : `${row.botCpuPercent.toFixed(0)}%`} | ${row.settled ?? '–'} | ` +
      `${row.refusedOverload ?? '–'} | ${row.loadavg.toFixed(1)} |`,
  );
}

console.log(
  `SIPp uac steps of ${secondsPerStep} s, calls held ${holdMs} ms; response time = INVITE -> 200 (SIPp rtd, 1 ms resolution)` +
    `${overload === undefined ? '' : `; limits.overload ${JSON.stringify(overload)}`}; loadavg ${loadavg()
      .map((load) => load.toFixed(1))
      .join(' ')}\n`,
);
console.log(
  '| UAS | target CPS | calls | ok | failed | achieved CPS | resp ms p50 / p95 / p99 | UAS CPU | bot CPU | calls ended after | 503 overload | loadavg |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
if (targets.has('sipp')) {
  const baselinePort = await freePort();
  const baseline = startSipp({ scenario: 'uas', localPort: baselinePort, timeoutMs: 600_000 });
  try {
    await runAgainst('SIPp uas (baseline)', baseline, baselinePort);
  } finally {
    await baseline.stop();
  }
}

if (targets.has('stack')) {
  const stackPort = await freePort();
  const stackScript = fileURLToPath(
    new URL(`./lib/stack-uas${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
  );
  const stack = spawn(process.execPath, [...process.execArgv, stackScript, String(stackPort)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await once(stack.stdout, 'data');
    const pid = stack.pid;
    if (pid === undefined) throw new Error('patchbay UAS did not start');
    for (const rate of rates) printRow('patchbay SIP stack', await step({ pid }, stackPort, rate));
  } finally {
    stack.kill('SIGTERM');
  }
}

if (targets.has('gateway')) {
  const top = Math.max(...rates);
  const bot = await EchoBotProcess.start();
  // Room for every call of the top step at once, and the one SIPp source's requests.
  const concurrent = Math.ceil(top * (1 + holdMs / 1000)) * 2;
  const gateway = await startGatewayProcess({
    botUrl: bot.url,
    codecs: ['PCMU'],
    cps: { rate: top * 2, burst: top * 2 },
    maxCalls: concurrent,
    requestsPerSourcePerSec: top * 20,
    drainTimeoutSec: 2,
    ...(overload === undefined ? {} : { overload }),
  });
  // One series per direction.
  const activeCalls = async () => metricSum(await scrapeMetrics(gateway.apiUrl), 'patchbay_active_calls');
  const refusedOverload = async () =>
    metricSum(await scrapeMetrics(gateway.apiUrl), 'patchbay_calls_total', 'outcome="rejected_overload"');
  try {
    const pid = gateway.child.pid;
    if (pid === undefined) throw new Error('patchbay start did not start');
    for (const rate of rates)
      printRow(
        `patchbay start + bot WebSocket${overload === undefined ? '' : ' (limits.overload)'}`,
        await step({ pid, botPid: bot.pid, activeCalls, refusedOverload }, gateway.sipPort, rate),
      );
  } finally {
    await gateway.stop();
    await bot.close();
  }
}
