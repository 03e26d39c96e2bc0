/**
 * `deploy/run-loopback.sh` for interop tests: the cluster topology (Redis, two `patchbay start`
 * nodes on 127.0.0.2 and 127.0.0.3, Kamailio dispatching to them) on free loopback ports, its
 * addresses from the script's `READY` line, the nodes' call records, and a bounded stop.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './sipp.js';

/** The script from dist/test/interop/helpers (compiled tests) or test/interop/helpers (tsx, benches). */
const SCRIPT =
  ['../../..', '../../../..']
    .map((up) => join(import.meta.dirname, up, 'deploy/run-loopback.sh'))
    .find((path) => existsSync(path)) ?? 'deploy/run-loopback.sh';
const MAX_LOG_CHARS = 200_000;

export type NodeName = 'a' | 'b';

export interface LoopbackClusterOptions {
  trunkCps: number;
  trunkBurst: number;
  trunkMaxCalls: number;
  heartbeatMs?: number;
  leaseTtlMs?: number;
  /** Turns `cluster.takeover` on with this deadAfterMs. */
  takeoverDeadAfterMs?: number;
  /** The nodes' bot (default: the built-in echo bot). */
  botUrl?: string;
  /** Kamailio's wait for a node's answer to an in-dialog request before failover. */
  dialogFrTimerMs?: number;
  /** The trunk's media.encryption (default none). */
  trunkEncryption?: 'optional' | 'required';
  /** cluster.takeover.snapshotSecret, given to the nodes in their environment. */
  snapshotSecret?: string;
  /** Each node's media.workers (default PATCHBAY_TEST_MEDIA_WORKERS, else the script's 0). */
  mediaWorkers?: number;
}

/**
 * The takeover scenario's cluster (test/interop/takeover.test.ts, bench/takeover-repeat.ts):
 * takeover on, heartbeats and leases short, in-dialog failover after 1 s, calls to `botUrl`.
 */
export function takeoverClusterOptions(botUrl: string, deadAfterMs: number): LoopbackClusterOptions {
  return {
    trunkCps: 50,
    trunkBurst: 50,
    trunkMaxCalls: 200,
    heartbeatMs: 500,
    leaseTtlMs: 3000,
    takeoverDeadAfterMs: deadAfterMs,
    dialogFrTimerMs: 1000,
    botUrl,
  };
}

export interface ClusterRecord {
  id: string;
  startedAt: string;
  answeredAt?: string;
  endedAt: string;
  end: { cause: string };
}

export interface LoopbackCluster {
  /** `host:port` of Kamailio. */
  proxy: string;
  redisUrl: string;
  token: string;
  workdir: string;
  nodes: Record<NodeName, { sip: string; api: string }>;
  /** Finished calls' records of one node. */
  records(node: NodeName): ClusterRecord[];
  /** One node's log lines (pino JSON), parsed; lines that are not JSON are skipped. */
  logLines(node: NodeName): Array<{ time: number; msg: string; cause?: string }>;
  pid(process: `node-${NodeName}` | 'kamailio' | 'redis'): number;
  /** Rewrites the trunk's concurrent-call cap; both nodes pick it up by hot reload (resolves then). */
  setTrunkMaxCalls(maxCalls: number): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

/** Starts the topology and resolves once every part answers (bounded by `startTimeoutMs`). */
export async function startLoopbackCluster(
  options: LoopbackClusterOptions,
  startTimeoutMs = 60_000,
): Promise<LoopbackCluster> {
  const workdir = mkdtempSync(join(tmpdir(), 'patchbay-cluster-'));
  const token = 'cluster-interop-token-0123456789';
  const rtpMin = 40_000 + Math.floor(Math.random() * 10) * 2000;
  const env = {
    ...process.env,
    PB_WORKDIR: workdir,
    PB_API_TOKEN: token,
    PB_PROXY_PORT: String(await freePort()),
    PB_REDIS_PORT: String(await freePort()),
    PB_NODE_A_SIP_PORT: String(await freePort()),
    PB_NODE_B_SIP_PORT: String(await freePort()),
    PB_NODE_A_API_PORT: String(await freePort()),
    PB_NODE_B_API_PORT: String(await freePort()),
    PB_NODE_A_RTP_MIN: String(rtpMin),
    PB_NODE_B_RTP_MIN: String(rtpMin + 1000),
    PB_TRUNK_CPS: String(options.trunkCps),
    PB_TRUNK_BURST: String(options.trunkBurst),
    PB_TRUNK_MAX_CALLS: String(options.trunkMaxCalls),
    PB_HEARTBEAT_MS: String(options.heartbeatMs ?? 500),
    PB_LEASE_TTL_MS: String(options.leaseTtlMs ?? 3000),
    PB_DRAIN_TIMEOUT_SEC: '3',
    // A shared 2-core CI machine can starve a node for seconds: fail over on silence, not on load.
    PB_FR_TIMER_MS: '6000',
    ...(options.takeoverDeadAfterMs
      ? { PB_TAKEOVER_DEAD_AFTER_MS: String(options.takeoverDeadAfterMs) }
      : {}),
    ...(options.botUrl ? { PB_BOT_URL: options.botUrl } : {}),
    // The interop suite run with media workers (gateway-process.ts) runs the cluster's nodes so too.
    ...(process.env['PATCHBAY_TEST_MEDIA_WORKERS']
      ? { PB_MEDIA_WORKERS: process.env['PATCHBAY_TEST_MEDIA_WORKERS'] }
      : {}),
    ...(options.mediaWorkers === undefined ? {} : { PB_MEDIA_WORKERS: String(options.mediaWorkers) }),
    ...(options.dialogFrTimerMs ? { PB_DIALOG_FR_TIMER_MS: String(options.dialogFrTimerMs) } : {}),
    ...(options.trunkEncryption ? { PB_TRUNK_ENCRYPTION: options.trunkEncryption } : {}),
    ...(options.snapshotSecret ? { PB_TAKEOVER_SNAPSHOT_SECRET: options.snapshotSecret } : {}),
  };
  // Its own process group: stop() can end the script and everything it started at once.
  const child: ChildProcess = spawn('bash', [SCRIPT], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const append = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-MAX_LOG_CHARS);
  };
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<{
    proxy: string;
    redis: string;
    nodes: Record<NodeName, { sip: string; api: string }>;
  }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cluster did not start:\n${output}`)), startTimeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      append(chunk);
      const line = output.split('\n').find((text) => text.startsWith('READY '));
      if (!line) return;
      clearTimeout(timer);
      resolve(JSON.parse(line.slice('READY '.length)));
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`run-loopback.sh exited:\n${output}\n${logs(workdir)}`));
    });
  }).catch(async (error: unknown) => {
    await stopGroup(child, exited);
    rmSync(workdir, { recursive: true, force: true });
    throw error;
  });
  return {
    proxy: ready.proxy,
    redisUrl: ready.redis,
    token,
    workdir,
    nodes: ready.nodes,
    records: (node) => readRecords(join(workdir, `node-${node}-calls.jsonl`)),
    logLines: (node) => readLogLines(join(workdir, `node-${node}.log`)),
    pid: (name) => Number(readFileSync(join(workdir, `${name}.pid`), 'utf8')),
    setTrunkMaxCalls: async (maxCalls) => {
      const file = join(workdir, 'profiles', 'proxy.yaml');
      const since = Date.now();
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace(/^maxConcurrentCalls: .*$/m, `maxConcurrentCalls: ${maxCalls}`),
      );
      const reloaded = (node: NodeName) =>
        readLogLines(join(workdir, `node-${node}.log`)).some(
          (line) => line.msg === 'config reloaded' && line.time >= since,
        );
      for (let waited = 0; !(reloaded('a') && reloaded('b')); waited += 50) {
        if (waited > 10_000) throw new Error('the nodes did not reload the trunk file');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    output: () => `${output}\n${logs(workdir)}`,
    stop: async () => {
      await stopGroup(child, exited);
      rmSync(workdir, { recursive: true, force: true });
    },
  };
}

/** SIGTERM to the script (it stops its processes); SIGKILL to the whole group after 15 s. */
async function stopGroup(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined) return;
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, 15_000)))]);
  clearTimeout(timer);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}

function readRecords(path: string): ClusterRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as ClusterRecord);
}

function readLogLines(path: string): Array<{ time: number; msg: string; cause?: string }> {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as { time: number; msg: string; cause?: string }];
      } catch {
        return [];
      }
    });
}

/** The tail of each process log, for a failure message. */
function logs(workdir: string): string {
  return ['node-a.log', 'node-b.log', 'kamailio.log', 'redis.log']
    .map((name) => join(workdir, name))
    .filter((path) => existsSync(path))
    .map((path) => `--- ${path}\n${readFileSync(path, 'utf8').slice(-4000)}`)
    .join('\n');
}
