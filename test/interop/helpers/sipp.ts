/**
 * A reusable SIPp (sip-tester 3.6) runner for interop and load tests.
 *
 * `startSipp` spawns one sipp process in its own temporary directory with `-trace_stat`
 * (statistics CSV), `-trace_rtt` (per-call response times) and `-trace_err` (errors log),
 * and returns a handle whose `result` resolves when sipp exits or the timeout kills it.
 * Always `await handle.stop()` (e.g. in `finally`) so no sipp outlives a failed test.
 *
 * SIPp exit codes: 0 all calls succeeded, 1 some failed, 97 exit by internal command,
 * 99 normal exit without calls processed, 255/254 fatal errors (see `man sipp`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandAvailable, skipUnlessPresent } from '../../helpers/peers.js';

/** Where Debian's sip-tester installs SIPp's sample captures. */
export const SIPP_PCAP_DIR = '/usr/share/sip-tester';

export interface SippOptions {
  /** Built-in scenario (`-sn`), or a scenario file path (`-sf`) when it ends in `.xml`. */
  scenario: 'uac' | 'uas' | 'uac_pcap' | string;
  /** `host:port` to call; omitted for a UAS. */
  remote?: string;
  /** Local SIP port (`-p`); sipp binds 127.0.0.1 (`-i`). */
  localPort: number;
  /** `u1` (UDP, one socket) or `t1` (TCP, one connection). */
  transport?: 'u1' | 't1';
  /** Total calls before exiting (`-m`). */
  calls?: number;
  /** Calls per second (`-r`). */
  rate?: number;
  /** Maximum simultaneous calls (`-l`). */
  concurrentLimit?: number;
  /** Hard limit for the whole run; sipp is killed (SIGKILL) beyond it. */
  timeoutMs: number;
  /** Anything else, e.g. `['-d', '500']` (call hold), `['-recv_timeout', '20000']`. */
  extraArgs?: string[];
}

export interface SippResult {
  /** Process exit code, or null when killed by a signal (timeout or stop()). */
  exitCode: number | null;
  timedOut: boolean;
  successfulCalls: number;
  failedCalls: number;
  createdCalls: number;
  /** Retransmissions sipp made (UDP); 0 when the column is absent. */
  retransmissions: number;
  /** The last row of the statistics CSV, by column name (e.g. `FailedMaxUDPRetrans(C)`). */
  statistics: Record<string, string>;
  /** One entry per measured call, in ms (sipp's rtd, 1 ms resolution). */
  responseTimesMs: number[];
  /** Contents of sipp's error log (unexpected messages, parse errors). */
  errors: string;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

export interface SippHandle {
  readonly pid: number | undefined;
  readonly result: Promise<SippResult>;
  /** Kills sipp if still running and removes its directory. Idempotent. */
  stop(): Promise<SippResult>;
}

/** True when the `sipp` binary is on PATH. */
export function sippAvailable(): boolean {
  return commandAvailable('sipp', ['-v']);
}

/**
 * The `skip` value for interop tests: skip when sipp is missing, except on CI where a
 * missing binary must fail the run.
 */
export function skipWithoutSipp(): string | false {
  return skipUnlessPresent(sippAvailable(), 'sipp (Debian package sip-tester) is not installed');
}

const MAX_CAPTURED_OUTPUT = 256 * 1024;

export function startSipp(options: SippOptions): SippHandle {
  const dir = mkdtempSync(join(tmpdir(), 'patchbay-sipp-'));
  // Built-in pcap scenarios (uac_pcap) open pcap/g711a.pcap relative to the working directory.
  if (existsSync(SIPP_PCAP_DIR)) symlinkSync(SIPP_PCAP_DIR, join(dir, 'pcap'));
  const statFile = join(dir, 'stat.csv');
  const errorFile = join(dir, 'errors.log');
  const args = [
    ...(options.remote ? [options.remote] : []),
    ...(options.scenario.endsWith('.xml') ? ['-sf', options.scenario] : ['-sn', options.scenario]),
    '-i',
    '127.0.0.1',
    '-p',
    String(options.localPort),
    '-t',
    options.transport ?? 'u1',
    '-nostdin',
    '-trace_stat',
    '-stf',
    statFile,
    '-fd',
    '1',
    '-trace_rtt',
    '-rtt_freq',
    '1',
    '-trace_err',
    '-error_file',
    errorFile,
    ...(options.calls === undefined ? [] : ['-m', String(options.calls)]),
    ...(options.rate === undefined ? [] : ['-r', String(options.rate)]),
    ...(options.concurrentLimit === undefined ? [] : ['-l', String(options.concurrentLimit)]),
    ...(options.extraArgs ?? []),
  ];
  const started = performance.now();
  const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout = (stdout + chunk.toString()).slice(-MAX_CAPTURED_OUTPUT);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-MAX_CAPTURED_OUTPUT);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);

  const result = new Promise<SippResult>((resolve) => {
    const finish = (exitCode: number | null) => {
      clearTimeout(timer);
      const collected = collect(dir, statFile, errorFile);
      rmSync(dir, { recursive: true, force: true });
      resolve({ ...collected, exitCode, timedOut, stdout, stderr, elapsedMs: performance.now() - started });
    };
    child.on('error', (error) => {
      stderr += String(error);
      finish(null);
    });
    child.on('exit', (code) => finish(code));
  });

  return {
    pid: child.pid,
    result,
    stop: async () => {
      if (isRunning(child)) child.kill('SIGKILL');
      return result;
    },
  };
}

/** Runs sipp to completion. */
export function runSipp(options: SippOptions): Promise<SippResult> {
  return startSipp(options).result;
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

type Collected = Omit<SippResult, 'exitCode' | 'timedOut' | 'stdout' | 'stderr' | 'elapsedMs'>;

function collect(dir: string, statFile: string, errorFile: string): Collected {
  const statistics = existsSync(statFile) ? lastCsvRow(readFileSync(statFile, 'utf8')) : {};
  const count = (name: string) => Number(statistics[name] ?? 0) || 0;
  const rttFile = readdirSync(dir).find((name) => name.endsWith('_rtt.csv'));
  return {
    statistics,
    successfulCalls: count('SuccessfulCall(C)'),
    failedCalls: count('FailedCall(C)'),
    createdCalls: count('TotalCallCreated'),
    retransmissions: count('Retransmissions(C)'),
    responseTimesMs: rttFile ? parseRtt(readFileSync(join(dir, rttFile), 'utf8')) : [],
    errors: existsSync(errorFile) ? readFileSync(errorFile, 'utf8') : '',
  };
}

/** sipp's CSVs are `;`-separated with a header row. */
function lastCsvRow(text: string): Record<string, string> {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const header = lines[0]?.split(';') ?? [];
  const last = lines.length > 1 ? (lines.at(-1)?.split(';') ?? []) : [];
  const row: Record<string, string> = {};
  header.forEach((name, i) => {
    row[name] = last[i] ?? '';
  });
  return row;
}

/** `Date_ms;response_time_ms;rtd_no` rows. */
function parseRtt(text: string): number[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => Number(line.split(';')[1]))
    .filter((value) => Number.isFinite(value));
}

/** The p-th percentile (0..100) by nearest rank; NaN for no samples. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** A port free for both UDP and TCP on 127.0.0.1 right now (sipp needs a number up front). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port found in 20 attempts');
}
