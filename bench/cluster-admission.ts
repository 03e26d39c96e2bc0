/**
 * What clustering costs a call's admission: the gateway's admission (node limit, trunk
 * concurrency slot, CPS take over trunk + number buckets) on the in-memory path against the
 * same decisions shared through a real Redis on loopback (a concurrency lease: one Lua script;
 * the CPS take: one Lua script), in the same run. Reported per call: Redis round trips (from
 * Redis's own command counters), setup latency added before the 180 (admit + CPS) at p50/p99,
 * sequentially and with 32 admissions in flight; then the release (off the setup path) and one
 * heartbeat renewing 500 live calls.
 *
 * Run: npm run build && npx tsx bench/cluster-admission.ts   (needs redis-server on PATH)
 */
import { Redis } from 'ioredis';
import { Cluster, RedisLink } from '../src/cluster/index.js';
import { type ClusterConfig, trunkSchema } from '../src/config/index.js';
import type { CallSummary } from '../src/control/index.js';
import { GatewayAdmission } from '../src/gateway/admission.js';
import { ConcurrencyLimiter, CpsLimiter, callCpsLimits, MemoryCpsStore } from '../src/trunks/index.js';
import { SystemClock, silentLogger } from '../src/util/index.js';
import { noSharedHealth } from '../test/interop/helpers/no-shared-health.js';
import { RedisServer } from '../test/interop/helpers/redis-server.js';
import { freePort } from '../test/interop/helpers/sipp.js';

const CALLS = 2000;
const IN_FLIGHT = 32;
const HEARTBEAT_CALLS = 500;

const trunk = trunkSchema.parse({
  name: 'bench',
  inbound: { allowedCidrs: ['10.0.0.0/8'] },
  cps: { rate: 1e6, burst: 1e6, perNumber: { rate: 1e6, burst: 1e6 } },
  maxConcurrentCalls: 100_000,
});

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

let counter = 0;
function call(): { id: string; summary(): CallSummary } {
  const id = `bench-${++counter}`;
  const summary: CallSummary = {
    id,
    direction: 'inbound',
    state: 'initiated',
    from: '+15550000000',
    to: `+1555${String(counter % 10_000).padStart(7, '0')}`,
    trunk: 'bench',
    startedAt: new Date().toISOString(),
  };
  return { id, summary: () => summary };
}

/** One call's admission as the controller runs it: slot, then CPS; the release is timed apart. */
async function admitOne(admission: GatewayAdmission): Promise<{ setupMs: number; release: () => void }> {
  const started = performance.now();
  const caller = call();
  const slot = await admission.admit(trunk, caller);
  if (!slot.ok) throw new Error(`refused: ${slot.cause}`);
  const limits = callCpsLimits(trunk, caller.summary().to);
  const cps = await admission.cps(limits.limits, limits.overflow);
  if (cps.action !== 'accept') throw new Error('CPS refused');
  return { setupMs: performance.now() - started, release: slot.release };
}

async function run(name: string, admission: GatewayAdmission, inFlight: number) {
  for (let i = 0; i < 200; i++) (await admitOne(admission)).release(); // warm-up
  const setup: number[] = [];
  const releases: Array<() => void> = [];
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < CALLS) {
      next++;
      const admitted = await admitOne(admission);
      setup.push(admitted.setupMs);
      releases.push(admitted.release);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsedMs = performance.now() - started;
  for (const release of releases) release();
  setup.sort((a, b) => a - b);
  return {
    name,
    p50: percentile(setup, 50),
    p99: percentile(setup, 99),
    callsPerSec: (CALLS / elapsedMs) * 1000,
  };
}

function memoryAdmission(): GatewayAdmission {
  return new GatewayAdmission({
    concurrency: new ConcurrencyLimiter(),
    cps: new CpsLimiter(new MemoryCpsStore(), new SystemClock()),
    liveCalls: () => 0,
    maxCalls: () => 1e9,
  });
}

async function scriptCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let calls = 0;
  for (const match of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) calls += Number(match[1]);
  return calls;
}

const server = new RedisServer(await freePort());
await server.start();
const url = `redis://127.0.0.1:${server.port}`;
const config: ClusterConfig = { redis: url, leaseTtlMs: 15_000, heartbeatMs: 2000, localCpsShare: 'divide' };
const link = RedisLink.connect(url, { commandTimeoutMs: 2000 });
const cluster = new Cluster({
  config,
  nodeId: 'bench',
  apiUrl: 'http://127.0.0.1:1',
  apiToken: undefined,
  clock: new SystemClock(),
  logger: silentLogger,
  health: noSharedHealth,
  load: () => ({ calls: 0, maxCalls: 1e9, draining: false }),
  link,
});
const stats = new Redis(url);
try {
  while (!link.up) await new Promise((resolve) => setTimeout(resolve, 10));
  const clustered = new GatewayAdmission({
    concurrency: new ConcurrencyLimiter(),
    leases: cluster.leases,
    cps: new CpsLimiter(cluster.cps, new SystemClock()),
    liveCalls: () => 0,
    maxCalls: () => 1e9,
  });
  const rows = [];
  for (const inFlight of [1, IN_FLIGHT]) {
    rows.push(await run(`memory, ${inFlight} in flight`, memoryAdmission(), inFlight));
    const before = await scriptCalls(stats);
    const row = await run(`redis, ${inFlight} in flight`, clustered, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 200)); // releases land
    const trips = ((await scriptCalls(stats)) - before) / (CALLS + 200);
    rows.push({ ...row, name: `${row.name} (${trips.toFixed(2)} scripts/call incl. release)` });
  }
  console.log(`${CALLS} admissions per row; setup = admit (slot) + CPS take, before the 180\n`);
  console.log('| path | setup p50 ms | setup p99 ms | admissions/s |');
  console.log('| --- | --- | --- | --- |');
  for (const row of rows)
    console.log(
      `| ${row.name} | ${row.p50.toFixed(3)} | ${row.p99.toFixed(3)} | ${row.callsPerSec.toFixed(0)} |`,
    );

  const held = await Promise.all(Array.from({ length: HEARTBEAT_CALLS }, () => admitOne(clustered)));
  const beats: number[] = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    await cluster.heartbeat();
    beats.push(performance.now() - started);
  }
  beats.sort((a, b) => a - b);
  console.log(
    `\nheartbeat with ${HEARTBEAT_CALLS} live calls (liveness + lease renewal + registry refresh, one script; health share skipped: no gateways): p50 ${percentile(beats, 50).toFixed(2)} ms, max ${beats.at(-1)?.toFixed(2)} ms`,
  );
  for (const admitted of held) admitted.release();
} finally {
  stats.disconnect();
  cluster.close();
  await server.stop();
}
