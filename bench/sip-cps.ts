/**
 * Sustained INVITE-200-ACK-BYE calls per second under SIPp (`-sn uac -r N -m M`), stepping
 * the rate up, against a UAS running in its own process so its CPU can be read from /proc.
 *
 *   npx tsx bench/sip-cps.ts [rates=200,400,600,800] [secondsPerStep=5]
 *
 * Baseline in the same run: SIPp uac against SIPp uas (`-sn uas`), then the same steps against
 * the patchbay UAS (bench/lib/stack-uas.ts, the stack's SipUserAgent in its own process).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { freePort, percentile, runSipp, type SippHandle, startSipp } from '../test/interop/helpers/sipp.js';
import { cpuSeconds } from './lib/proc-stat.js';

const rates = (process.argv[2] ?? '200,400,600,800').split(',').map(Number);
const secondsPerStep = Number(process.argv[3] ?? 5);

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
}

async function step(uasPid: number, uasPort: number, rate: number): Promise<StepRow> {
  const calls = rate * secondsPerStep;
  const cpuBefore = cpuSeconds(uasPid);
  const started = performance.now();
  const result = await runSipp({
    scenario: 'uac',
    remote: `127.0.0.1:${uasPort}`,
    localPort: await freePort(),
    calls,
    rate,
    timeoutMs: (secondsPerStep + 60) * 1000,
    extraArgs: ['-recv_timeout', '10000'],
  });
  const wallSeconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(uasPid) - cpuBefore;
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
  };
}

async function runAgainst(label: string, uas: SippHandle, uasPort: number): Promise<void> {
  const pid = uas.pid;
  if (pid === undefined) throw new Error(`${label}: UAS did not start`);
  for (const rate of rates) printRow(label, await step(pid, uasPort, rate));
}

function printRow(label: string, row: StepRow): void {
  console.log(
    `| ${label} | ${row.rate} | ${row.calls} | ${row.successful} | ${row.failed} | ${row.achievedCps.toFixed(0)} | ` +
      `${row.p50} / ${row.p95} / ${row.p99} | ${row.uasCpuPercent.toFixed(0)}% |`,
  );
}

console.log(
  `SIPp uac steps of ${secondsPerStep} s; response time = INVITE -> 200 (SIPp rtd, 1 ms resolution)\n`,
);
console.log('| UAS | target CPS | calls | ok | failed | achieved CPS | resp ms p50 / p95 / p99 | UAS CPU |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
const baselinePort = await freePort();
const baseline = startSipp({ scenario: 'uas', localPort: baselinePort, timeoutMs: 600_000 });
try {
  await runAgainst('SIPp uas (baseline)', baseline, baselinePort);
} finally {
  await baseline.stop();
}

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
  for (const rate of rates) printRow('patchbay UAS', await step(pid, stackPort, rate));
} finally {
  stack.kill('SIGTERM');
}
