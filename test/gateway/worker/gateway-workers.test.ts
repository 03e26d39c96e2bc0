/**
 * `media.workers: 2` in-process: the Gateway on real loopback sockets with real worker threads
 * (the TypeScript entry under tsx, the compiled one under dist) and the embedded echo bot.
 * Two calls land on the two workers and carry RTP both ways; the metrics media feeds move on
 * the main registry; ending one worker's thread ends only its call (cause media_worker_failed,
 * one record), the worker is replaced, a new call then works, and stop() ends every thread.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Gateway } from '../../../src/gateway/index.js';
import { portSlices } from '../../../src/gateway/worker/media-workers.js';
import { SystemClock } from '../../../src/util/index.js';
import { closeCaller, placeRtpCall, type RtpCaller } from '../../interop/helpers/rtp-caller.js';
import { freePort } from '../../interop/helpers/sipp.js';
import { type StackUa, startStackUa } from '../../interop/helpers/stack-ua.js';
import { startLoopbackGateway } from '../helpers/loopback-gateway.js';

const PORT_MIN = 30_000 + Math.floor(Math.random() * 100) * 100;
const PORT_MAX = PORT_MIN + 99;

let gateway: Gateway | undefined;
let agent: StackUa;
let proxy: string;
const callers: RtpCaller[] = [];
const recordsDir = mkdtempSync(join(tmpdir(), 'patchbay-workers-'));
const recordsFile = join(recordsDir, 'calls.jsonl');

before(async () => {
  const sipPort = await freePort();
  proxy = `127.0.0.1:${sipPort}`;
  const clock = new SystemClock();
  gateway = await startLoopbackGateway({
    clock,
    sipPort,
    recordsFile,
    extra: { rtp: { portMin: PORT_MIN, portMax: PORT_MAX }, media: { workers: 2 } },
  });
  agent = await startStackUa('udp', false);
});

after(async () => {
  for (const caller of callers) closeCaller(caller);
  await agent?.close();
  await gateway?.stop();
  rmSync(recordsDir, { recursive: true, force: true });
});

/** Polls `condition` every 50 ms for up to `timeoutMs` (real threads: no clock to advance). */
async function eventually(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await delay(50);
  }
}

async function answeredCall(): Promise<RtpCaller> {
  const caller = await placeRtpCall(agent, proxy, callers.length);
  callers.push(caller);
  assert.ok(caller.answeredAtMs, `call ${caller.index} answered`);
  // The echo bot's greeting: bot audio paced out by the worker, towards the caller.
  await eventually(`call ${caller.index}: the bot's tone`, () =>
    caller.received.some((packet) => packet.tone),
  );
  return caller;
}

function workerOf(caller: RtpCaller): number {
  const slices = portSlices(PORT_MIN, PORT_MAX, 2);
  return slices.findIndex(([min, max]) => caller.target.port >= min && caller.target.port <= max);
}

async function metric(name: string): Promise<number> {
  const metrics = await (gateway ?? assert.fail('gateway')).metrics.registry.getMetricsAsJSON();
  const found = metrics.find((entry) => entry.name === name);
  return (found?.values ?? [])
    .filter((value) => !('metricName' in value) || value.metricName === `${name}_count`)
    .reduce((sum, value) => sum + value.value, 0);
}

type ByWorker = Record<string, number>;

/** The patchbay_media_worker_* gauges by worker label, from one scrape. */
async function workerGauges(): Promise<{
  calls: ByWorker;
  busySeconds: ByWorker;
  heapUsed: ByWorker;
  external: ByWorker;
  committed: ByWorker;
}> {
  const metrics = await (gateway ?? assert.fail('gateway')).metrics.registry.getMetricsAsJSON();
  const byWorker = (name: string) =>
    Object.fromEntries(
      (metrics.find((entry) => entry.name === name)?.values ?? []).map((value) => [
        String(value.labels['worker']),
        value.value,
      ]),
    );
  return {
    calls: byWorker('patchbay_media_worker_calls'),
    busySeconds: byWorker('patchbay_media_worker_busy_seconds_total'),
    heapUsed: byWorker('patchbay_media_worker_heap_used_bytes'),
    external: byWorker('patchbay_media_worker_external_memory_bytes'),
    committed: byWorker('patchbay_media_worker_heap_committed_bytes'),
  };
}

/** Each worker thread's own heap (in use and committed) and the memory its objects hold outside it, reported. */
function assertHeapsReported({
  heapUsed,
  external,
  committed,
}: {
  heapUsed: ByWorker;
  external: ByWorker;
  committed: ByWorker;
}): void {
  assert.deepEqual(Object.keys(heapUsed).sort(), ['0', '1']);
  for (const worker of ['0', '1']) {
    // A worker's isolate under tsx (modules, codecs, a call): megabytes, not a few bytes.
    assert.ok((heapUsed[worker] ?? 0) > 2 ** 20, `worker ${worker} heap in use: ${heapUsed[worker]}`);
    assert.ok((external[worker] ?? 0) > 0, `worker ${worker} external memory: ${external[worker]}`);
    assert.ok(
      (committed[worker] ?? 0) >= (heapUsed[worker] ?? 0),
      `worker ${worker} heap committed ${committed[worker]} covers what is in use`,
    );
  }
}

function records(): Array<{
  id: string;
  end: { cause: string; detail?: string };
  media: { rtp?: { packetsReceived: number } };
}> {
  if (!existsSync(recordsFile)) return [];
  return readFileSync(recordsFile, 'utf8')
    .trim()
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line));
}

describe('media.workers: 2 (in-process gateway, real worker threads)', () => {
  it('carries calls on both workers, and a dead worker ends only its own call', {
    timeout: 60_000,
  }, async () => {
    const live = gateway ?? assert.fail('gateway started');
    const workers = live.mediaWorkers ?? assert.fail('media workers running');
    await eventually('two media threads', () => workers.threads.length === 2);
    const first = await answeredCall();
    const second = await answeredCall();
    assert.deepEqual([workerOf(first), workerOf(second)].sort(), [0, 1], 'one call per worker');

    // The workers' reports reach the main thread: stats, the latency histogram, clock ticks.
    await eventually('caller RTP counted', () =>
      live.calls.live().every((call) => (call.detail().media.rtp?.packetsReceived ?? 0) > 0),
    );
    await eventually(
      'frames counted reaching the bot socket',
      async () => (await metric('patchbay_rtp_to_websocket_seconds')) > 0,
    );
    assert.ok((await metric('patchbay_media_clock_ticks_total')) > 0, 'worker clocks counted');
    // Each worker's share: one call each, and a thread whose busy time grows between scrapes.
    const before = await workerGauges();
    await delay(500);
    const perWorker = await workerGauges();
    assert.deepEqual(perWorker.calls, { '0': 1, '1': 1 });
    for (const worker of ['0', '1']) {
      const busy = (perWorker.busySeconds[worker] ?? 0) - (before.busySeconds[worker] ?? 0);
      assert.ok(busy > 0, `worker ${worker} busy ${busy} s more`);
    }
    assertHeapsReported(perWorker);

    const lostCaller = workerOf(first) === 0 ? first : second;
    const keptCaller = lostCaller === first ? second : first;
    const bye = new Promise((resolve) => lostCaller.session.once('terminated', resolve));
    await (workers.threads[0] ?? assert.fail('worker 0')).terminate();
    await bye;
    await eventually('the dead worker’s call ended', () => live.calls.size === 1);
    // The record writer appends through a stream: the line lands a moment later.
    await eventually('its record', () => records().length === 1);
    const [ended] = records();
    assert.equal(ended?.end.cause, 'media_worker_failed');
    assert.match(ended?.end.detail ?? '', /media worker exited/);
    // The worker cannot answer the close: the record keeps the figures it last sent of the call.
    assert.ok((ended?.media.rtp?.packetsReceived ?? 0) > 0, 'the dead worker’s call keeps its RTP figures');

    const tonesBefore = keptCaller.received.length;
    await eventually(
      'the other call still carries audio',
      () => keptCaller.received.length > tonesBefore + 10,
    );
    await eventually('a replacement worker', () => workers.threads.length === 2);
    const third = await answeredCall();
    assert.equal(workerOf(third), 0, 'the new call goes to the emptier, replaced worker');
    assert.equal(live.calls.size, 2);
    // The replaced slot shows its new thread's heap once that thread has reported.
    await eventually('the replacement’s heap reported', async () => {
      const { heapUsed } = await workerGauges();
      return (heapUsed['0'] ?? 0) > 0;
    });
    assertHeapsReported(await workerGauges());

    await live.stop();
    gateway = undefined;
    assert.equal(workers.threads.length, 0, 'every media thread ended');
    const causes = records().map((record) => record.end.cause);
    assert.deepEqual(causes, ['media_worker_failed', 'shutdown', 'shutdown']);
  });
});
