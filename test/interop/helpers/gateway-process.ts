/**
 * A real `patchbay start --config` process for end-to-end tests: writes a gateway YAML and a
 * trunk profile into a temp directory (free ports, loopback only), starts the compiled CLI,
 * waits for its "patchbay started" log line, and stops it with a signal.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort, type SippHandle, type SippOptions, startSipp } from './sipp.js';

const MAX_LOG_CHARS = 500_000;
/** The compiled CLI, also when this helper runs from source under tsx (a bench): build first. */
const CLI = join(
  import.meta.dirname,
  import.meta.url.endsWith('.ts') ? '../../../dist' : '../../..',
  'src/cli/index.js',
);

export interface GatewayProcessOptions {
  /** Route target URL for every number (e.g. the test bot's ws:// URL, or builtin:echo). */
  botUrl: string;
  /** Routes ahead of the catch-all one to `botUrl`: a called-number pattern and its bot's URL. */
  routes?: Array<{ match: string; url: string }>;
  dialect?: 'twilio' | 'stereo' | 'exotel';
  sampleRate?: 8000 | 16000 | 24000;
  /** Extra trunk files: name → YAML text (the loopback inbound trunk `local` is always written). */
  trunks?: Record<string, string>;
  /** Codecs of the loopback trunk. */
  codecs?: string[];
  /** Extra YAML appended to the gateway file (top-level keys). */
  extraGatewayYaml?: string;
  drainTimeoutSec?: number;
  /** Digest credentials the loopback trunk demands of callers (RFC 3261 §22). */
  inboundAuth?: { username: string; password: string; algorithms?: Array<'SHA-256' | 'MD5'> };
  /** CPS of the loopback trunk (default 200/s, burst 200). */
  cps?: { rate: number; burst: number };
  /**
   * A TLS listener too (files as the gateway file names them, absolute or relative to its
   * directory); with `requireClientCert`, clients must present a certificate chaining to `caFile`.
   */
  tls?: { certFile: string; keyFile: string; caFile?: string; requireClientCert?: boolean };
  /** Transports the loopback trunk takes (default all). */
  inboundTransports?: Array<'udp' | 'tcp' | 'tls'>;
  /** `inbound.tlsClientNames` of the loopback trunk: what its callers' certificates name (mutual TLS). */
  tlsClientNames?: string[];
  /** `media.encryption` of the loopback trunk (default none). */
  encryption?: 'none' | 'optional' | 'required';
  /** `media.jitterBuffer.minDelayMs` of the loopback trunk (default 0: adaptive only). */
  jitterFloorMs?: number;
  /**
   * Concurrent calls the node and the loopback trunk admit (default: the node's 500, the
   * trunk's 200); sizes the RTP range for them and lets one caller address send their requests.
   */
  maxCalls?: number;
  /**
   * `media.workers`: media worker threads. Default: PATCHBAY_TEST_MEDIA_WORKERS when set (e.g. 0
   * to run the interop suite with its calls' media on the main thread), else the gateway's own
   * default, `auto` (one worker per core).
   */
  mediaWorkers?: number;
  /** Node flags for the gateway process (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /** Environment variables for the gateway process on top of this one's (e.g. MALLOC_ARENA_MAX). */
  env?: Record<string, string>;
  /** `limits.requestsPerSourcePerSec` (default: the gateway's, or enough for `maxCalls`). */
  requestsPerSourcePerSec?: number;
  /** `limits.rtpInactivityTimeoutSec` (default 30). */
  rtpInactivityTimeoutSec?: number;
  /** `limits.overload` (default none: load never refuses). */
  overload?: {
    eventLoopDelayP99Ms?: number;
    mediaClockLateShare?: number;
    eventLoopUtilization?: number;
    windowSec?: number;
    retryAfterSec?: number;
  };
}

export interface GatewayProcess {
  sipPort: number;
  /** The TLS listener's port (0 without one). */
  tlsPort: number;
  /** Its `rtp.portMin` and `rtp.portMax`, for a capture of its media only. */
  rtpPorts: [number, number];
  apiUrl: string;
  dir: string;
  gatewayFile: string;
  recordsFile: string;
  child: ChildProcess;
  logs(): string;
  /** Parsed call-record lines written so far. */
  records(): Array<Record<string, unknown>>;
  /**
   * The records once `done` holds for them, or as they stand after `timeoutMs` (5 s), so the
   * test's own assertions say what is missing. A record is appended only after the media
   * worker's final figures arrive, some time after the call's BYE is answered.
   */
  recordsWhen(
    done: (records: Array<Record<string, unknown>>) => boolean,
    timeoutMs?: number,
  ): Promise<Array<Record<string, unknown>>>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/**
 * The records' end causes, each with its detail ("error (no free RTP port pair ...)"), counted,
 * leaving out the causes in `expected`: why calls ended otherwise than a test meant them to.
 */
export function endCauseCounts(
  records: ReadonlyArray<Record<string, unknown>>,
  expected: readonly string[],
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const record of records) {
    const end = record['end'] as { cause?: string; detail?: string } | undefined;
    const cause = end?.cause ?? 'none';
    if (expected.includes(cause)) continue;
    const key = `${cause}${end?.detail ? ` (${end.detail})` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/**
 * A SIPp caller (from a free loopback port) towards `gateway`; with `to`, it calls that number
 * (`-s`), else the scenario's own Request-URI user.
 */
export async function callGateway(
  gateway: GatewayProcess,
  options: Omit<SippOptions, 'remote' | 'localPort'> & { to?: string },
): Promise<SippHandle> {
  const { to, extraArgs = [], ...rest } = options;
  return startSipp({
    ...rest,
    remote: `127.0.0.1:${gateway.sipPort}`,
    localPort: await freePort(),
    extraArgs: to === undefined ? extraArgs : [...extraArgs, '-s', to],
  });
}

export interface PatchbayChild {
  child: ChildProcess;
  /** The last ~500 kB of its stdout and stderr. */
  logs(): string;
  exited: Promise<number | null>;
}

/**
 * Starts the compiled CLI with `args` (and `nodeArgs` before it, e.g. `--cpu-prof`; `env` added to
 * this process's environment) and resolves once it logs "patchbay started".
 */
export async function spawnPatchbay(
  args: readonly string[],
  nodeArgs: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<PatchbayChild> {
  const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), 15_000);
    const onData = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-MAX_LOG_CHARS);
      if (output.includes('"patchbay started"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-MAX_LOG_CHARS);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${output}`));
    });
  });
  return { child, logs: () => output, exited };
}

/**
 * POST /v1/calls through `trunk` to `streamUrl` (default the embedded echo bot), with a
 * status callback if given; resolves with the call's id.
 */
export async function placeCall(
  gateway: GatewayProcess,
  trunk: string,
  options: { streamUrl?: string; statusCallback?: string; headers?: Record<string, string> } = {},
): Promise<string> {
  const { streamUrl = 'builtin:echo', statusCallback, headers } = options;
  const response = await fetch(`${gateway.apiUrl}/v1/calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      to: '+15551230000',
      from: '+15559870000',
      trunk,
      stream: { url: streamUrl },
      ...(statusCallback ? { statusCallback } : {}),
      ...(headers ? { headers } : {}),
    }),
  });
  if (response.status !== 201) throw new Error(`POST /v1/calls: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

/**
 * One call placed through `trunk` to `bot`, held `holdMs` once the bot has it, then hung up
 * (the hang-up must find it still up): each attempt's gateway and outcome, from the call record.
 */
export async function answeredCallAttempts(
  gateway: GatewayProcess,
  trunk: string,
  bot: { url: string; calls: readonly unknown[] },
  holdMs = 0,
): Promise<string[][]> {
  const id = await placeCall(gateway, trunk, { streamUrl: bot.url });
  for (let i = 0; i < 100 && bot.calls.length === 0; i++) await delay(100);
  assert.equal(bot.calls.length, 1, `the call was answered\n${gateway.logs().slice(-3000)}`);
  await delay(holdMs);
  const hangup = await fetch(`${gateway.apiUrl}/v1/calls/${id}`, { method: 'DELETE' });
  assert.equal(hangup.status, 204, 'the call was still up');
  const records = await gateway.recordsWhen((written) => written.some((r) => r['id'] === id));
  const record = records.find((r) => r['id'] === id);
  return ((record?.['attempts'] ?? []) as Array<{ gateway: string; outcome: string }>).map((a) => [
    a.gateway,
    a.outcome,
  ]);
}

/** The client-certificate keys of a TLS listener, as `, key: value` YAML. */
function tlsClients(tls: NonNullable<GatewayProcessOptions['tls']>): string {
  const ca = tls.caFile === undefined ? '' : `, caFile: ${JSON.stringify(tls.caFile)}`;
  return tls.requireClientCert ? `${ca}, requireClientCert: true` : ca;
}

/** PATCHBAY_TEST_MEDIA_WORKERS as a worker count, or undefined when unset. */
function testMediaWorkers(): number | undefined {
  const text = process.env['PATCHBAY_TEST_MEDIA_WORKERS'];
  if (text === undefined || text === '') return undefined;
  const workers = Number(text);
  if (!Number.isInteger(workers) || workers < 0)
    throw new Error(`PATCHBAY_TEST_MEDIA_WORKERS=${text}: not a count`);
  return workers;
}

/**
 * Its ports are found free, but another test's socket can take one before the gateway binds it
 * (they are the kernel's ephemeral ports): a start refused EADDRINUSE tries again on new ones.
 */
export async function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      if (attempt >= 3 || !(error as Error).message.includes('EADDRINUSE')) throw error;
    }
  }
}

async function startOnce(options: GatewayProcessOptions): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'patchbay-e2e-'));
  const sipPort = await freePort();
  const tlsPort = options.tls ? await freePort() : 0;
  const apiPort = await freePort();
  // Each call holds an even RTP port and the odd one above.
  const rtpPorts = Math.max(998, 2 * (options.maxCalls ?? 0) + 200);
  // The whole range below the kernel's ephemeral ports (32768 up), where sockets of other tests land.
  const rtpBase = 20000 + 2 * Math.floor((Math.random() * (32768 - 20000 - rtpPorts)) / 2);
  // One address places every call (INVITEs, ACKs, then all the BYEs at once): not a flood.
  const requestsPerSource =
    options.requestsPerSourcePerSec ??
    (options.maxCalls === undefined ? undefined : Math.max(200, options.maxCalls));
  const callLimits = [
    ...(options.maxCalls === undefined ? [] : [`maxCalls: ${options.maxCalls}`]),
    ...(requestsPerSource === undefined ? [] : [`requestsPerSourcePerSec: ${requestsPerSource}`]),
    ...(options.overload === undefined ? [] : [`overload: ${JSON.stringify(options.overload)}`]),
  ]
    .map((limit) => `, ${limit}`)
    .join('');
  const mediaWorkers = options.mediaWorkers ?? testMediaWorkers();
  const recordsFile = join(dir, 'calls.jsonl');
  mkdirSync(join(dir, 'sip-profiles'));
  writeFileSync(
    join(dir, 'sip-profiles', 'local.yaml'),
    [
      'name: local',
      'inbound:',
      '  allowedCidrs: ["127.0.0.0/8"]',
      '  unknownSourceAction: 403',
      ...(options.inboundTransports ? [`  transports: [${options.inboundTransports.join(', ')}]`] : []),
      ...(options.tlsClientNames ? [`  tlsClientNames: ${JSON.stringify(options.tlsClientNames)}`] : []),
      ...(options.inboundAuth ? [`  auth: ${JSON.stringify(options.inboundAuth)}`] : []),
      `codecs: [${(options.codecs ?? ['PCMU', 'PCMA', 'opus']).join(', ')}]`,
      'media:',
      `  encryption: ${options.encryption ?? 'none'}`,
      `  jitterBuffer: { minDelayMs: ${options.jitterFloorMs ?? 0} }`,
      `cps: { rate: ${options.cps?.rate ?? 200}, burst: ${options.cps?.burst ?? 200} }`,
      `maxConcurrentCalls: ${options.maxCalls ?? 200}`,
      'probing: { enabled: false }',
      '',
    ].join('\n'),
  );
  for (const [name, yaml] of Object.entries(options.trunks ?? {}))
    writeFileSync(join(dir, 'sip-profiles', `${name}.yaml`), yaml);
  const gatewayFile = join(dir, 'gateway.yaml');
  writeFileSync(
    gatewayFile,
    [
      'listen:',
      `  - { transport: udp, host: 127.0.0.1, port: ${sipPort} }`,
      `  - { transport: tcp, host: 127.0.0.1, port: ${sipPort} }`,
      ...(options.tls
        ? [
            `  - transport: tls`,
            `    host: 127.0.0.1`,
            `    port: ${tlsPort}`,
            `    tls: { certFile: ${JSON.stringify(options.tls.certFile)}, keyFile: ${JSON.stringify(options.tls.keyFile)}${tlsClients(options.tls)} }`,
          ]
        : []),
      `rtp: { portMin: ${rtpBase}, portMax: ${rtpBase + rtpPorts} }`,
      ...(mediaWorkers === undefined ? [] : [`media: { workers: ${mediaWorkers} }`]),
      `api: { host: 127.0.0.1, port: ${apiPort} }`,
      'logLevel: info',
      `callRecords: { enabled: true, path: ${JSON.stringify(recordsFile)} }`,
      `limits: { drainTimeoutSec: ${options.drainTimeoutSec ?? 30}, rtpInactivityTimeoutSec: ${options.rtpInactivityTimeoutSec ?? 30}${callLimits} }`,
      'routes:',
      ...[...(options.routes ?? []), { match: '*', url: options.botUrl }].flatMap((route) => [
        `  - match: ${JSON.stringify(route.match)}`,
        '    target:',
        `      url: ${JSON.stringify(route.url)}`,
        `      dialect: ${options.dialect ?? 'twilio'}`,
        `      sampleRate: ${options.sampleRate ?? 8000}`,
        '      customParameters: { test: e2e }',
      ]),
      options.extraGatewayYaml ?? '',
      '',
    ].join('\n'),
  );
  const { child, logs, exited } = await spawnPatchbay(
    ['start', '--config', gatewayFile],
    options.nodeArgs,
    options.env,
  ).catch((error: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  return {
    sipPort,
    tlsPort,
    rtpPorts: [rtpBase, rtpBase + rtpPorts],
    apiUrl: `http://127.0.0.1:${apiPort}`,
    dir,
    gatewayFile,
    recordsFile,
    child,
    logs,
    records: () => readRecords(recordsFile),
    recordsWhen: async (done, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const records = readRecords(recordsFile);
        if (done(records) || Date.now() > deadline) return records;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

/** The complete lines of a call-records file; a line still being appended is left for later. */
function readRecords(recordsFile: string): Array<Record<string, unknown>> {
  if (!existsSync(recordsFile)) return [];
  const text = readFileSync(recordsFile, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
