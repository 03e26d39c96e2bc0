/**
 * A patchbay cluster as deployed: real Kamailio (dispatcher, call-load selection, failover) in
 * front of two `patchbay start` nodes sharing one real Redis, started by deploy/run-loopback.sh.
 * SIPp calls through Kamailio: the calls split between the nodes, the trunk's CPS limit and
 * concurrent-call cap hold for both nodes together, any node lists and hangs up any node's call,
 * and a node killed with SIGKILL gives its slots back within the lease TTL.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { commandAvailable } from '../helpers/peers.js';
import {
  type ClusterRecord,
  type LoopbackCluster,
  type NodeName,
  startLoopbackCluster,
} from './helpers/loopback-cluster.js';
import { freePort, skipWithoutSipp, startSipp } from './helpers/sipp.js';

const peers = ['kamailio', 'redis-server'].every((command) => commandAvailable(command, ['-v']));
const skip =
  skipWithoutSipp() || (peers || process.env.CI ? false : 'kamailio or redis-server not installed');
const FIXTURES = join(import.meta.dirname, '../../../fixtures/sipp');
const CPS = 10;
const BURST = 10;
const MAX_CALLS = 12;
const LEASE_TTL_MS = 3000;
/** Calls held when a node is killed: fewer than the cap, so the survivor has room for more. */
const HELD_CALLS = 8;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let cluster: LoopbackCluster | undefined;

before(async () => {
  if (skip) return;
  cluster = await startLoopbackCluster({
    trunkCps: CPS,
    trunkBurst: BURST,
    trunkMaxCalls: MAX_CALLS,
    leaseTtlMs: LEASE_TTL_MS,
  });
});
after(async () => {
  await cluster?.stop();
});

async function api(node: NodeName, method: string, path: string, body?: object): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${cluster!.token}` };
  if (body) headers['content-type'] = 'application/json';
  return fetch(`${cluster!.nodes[node].api}${path}`, {
    method,
    headers,
    ...(body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(5000),
  });
}

async function metric(node: NodeName, pattern: RegExp): Promise<number> {
  const text = await (await api(node, 'GET', '/metrics')).text();
  return text
    .split('\n')
    .filter((line) => pattern.test(line))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, withinMs = 10_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what} not within ${withinMs} ms\n${cluster!.output()}`);
    await sleep(100);
  }
}

/** SIPp through Kamailio; resolves with its result once every call ended. */
async function callThroughProxy(options: { rate: number; calls: number; holdMs: number; timeoutMs: number }) {
  const sipp = startSipp({
    scenario: join(FIXTURES, 'uac_proxy.xml'),
    remote: cluster!.proxy,
    localPort: await freePort(),
    rate: options.rate,
    calls: options.calls,
    timeoutMs: options.timeoutMs,
    extraArgs: ['-d', String(options.holdMs)],
  });
  try {
    return await sipp.result;
  } finally {
    await sipp.stop();
  }
}

const ANSWERED = /^patchbay_calls_total\{.*outcome="answered"/;

async function answeredCount(): Promise<number> {
  return (await metric('a', ANSWERED)) + (await metric('b', ANSWERED));
}

/**
 * The answered calls since `before` (record ids), from both nodes' records, once every call the
 * nodes counted as answered since `countBefore` has its record (written as the call ends).
 */
async function answeredSince(
  before: Set<string>,
  countBefore: number,
): Promise<Array<ClusterRecord & { node: NodeName }>> {
  return waitFor(async () => {
    const counted = (await answeredCount()) - countBefore;
    const fresh = (['a', 'b'] as const)
      .flatMap((node) => cluster!.records(node).map((record) => ({ ...record, node })))
      .filter((record) => !before.has(record.id) && record.answeredAt !== undefined);
    return counted > 0 && fresh.length === counted ? fresh : undefined;
  }, "the answered calls' records");
}

function seenIds(): Set<string> {
  return new Set((['a', 'b'] as const).flatMap((node) => cluster!.records(node).map((record) => record.id)));
}

test('CPS: 17 calls/s through Kamailio for 10 s; the trunk admits burst + 10/s across both nodes (±5%), split 35-65%', {
  skip,
  timeout: 60_000,
}, async () => {
  const before = seenIds();
  const countBefore = await answeredCount();
  const result = await callThroughProxy({ rate: 17, calls: 170, holdMs: 300, timeoutMs: 40_000 });
  assert.equal(result.failedCalls, 0, `every call answered or refused with 503\n${result.errors}`);
  const admitted = await answeredSince(before, countBefore);
  const starts = admitted.map((record) => Date.parse(record.startedAt)).sort((x, y) => x - y);
  const spanSec = ((starts.at(-1) ?? 0) - (starts[0] ?? 0)) / 1000;
  const expected = BURST + CPS * spanSec;
  const onA = admitted.filter((record) => record.node === 'a').length;
  const share = onA / admitted.length;
  console.log(
    `cluster CPS: ${admitted.length} admitted over ${spanSec.toFixed(2)} s (expected ${expected.toFixed(1)}), node a ${onA}, node b ${admitted.length - onA}, refused ${170 - admitted.length}`,
  );
  assert.ok(
    Math.abs(admitted.length - expected) <= expected * 0.05,
    `admitted ${admitted.length}, expected ${expected.toFixed(1)} ±5%`,
  );
  assert.ok(share >= 0.35 && share <= 0.65, `node a took ${(share * 100).toFixed(0)}% of the calls`);
});

test('concurrency: 6 calls/s held 4 s want ~24 at once; the trunk cap (12) holds across both nodes and is reached', {
  skip,
  timeout: 60_000,
}, async () => {
  const before = seenIds();
  const countBefore = await answeredCount();
  const refusedBefore =
    (await metric('a', /outcome="rejected_concurrency"/)) +
    (await metric('b', /outcome="rejected_concurrency"/));
  const result = await callThroughProxy({ rate: 6, calls: 30, holdMs: 4000, timeoutMs: 40_000 });
  assert.equal(result.failedCalls, 0, result.errors);
  const records = await answeredSince(before, countBefore);
  // Answered intervals lie inside the leases: their overlap can only under-count the leases held.
  const events = records.flatMap((record) => [
    { at: Date.parse(record.answeredAt!), delta: 1 },
    { at: Date.parse(record.endedAt), delta: -1 },
  ]);
  events.sort((x, y) => x.at - y.at || x.delta - y.delta);
  let live = 0;
  let peak = 0;
  for (const event of events) {
    live += event.delta;
    peak = Math.max(peak, live);
  }
  const refused =
    (await metric('a', /outcome="rejected_concurrency"/)) +
    (await metric('b', /outcome="rejected_concurrency"/)) -
    refusedBefore;
  console.log(
    `cluster concurrency: peak ${peak} of cap ${MAX_CALLS}, ${records.length} answered, ${refused} node refusals`,
  );
  assert.ok(peak <= MAX_CALLS, `peak ${peak} over the cap ${MAX_CALLS}`);
  assert.ok(peak >= MAX_CALLS - 1, `the cap was reached (peak ${peak})`);
  assert.ok(refused > 0, 'calls beyond the cap were refused');
  assert.ok(new Set(records.map((record) => record.node)).size === 2, 'both nodes held calls');
});

test('registry: any node lists every call; DELETE and DTMF on the other node reach the owner; the caller gets BYE', {
  skip,
  timeout: 60_000,
}, async () => {
  const sipp = startSipp({
    scenario: join(FIXTURES, 'uac_proxy_wait_bye.xml'),
    remote: cluster!.proxy,
    localPort: await freePort(),
    calls: 1,
    timeoutMs: 30_000,
    extraArgs: ['-recv_timeout', '20000'],
  });
  try {
    const listed = await waitFor(async () => {
      const body = (await (await api('a', 'GET', '/v1/calls')).json()) as {
        calls: Array<{ id: string; node?: string; state: string; from: string }>;
      };
      return body.calls.find((call) => call.from === 'sipp' && call.state === 'answered');
    }, 'the call listed on node a');
    const owner = listed.node === 'node-a' ? 'a' : 'b';
    const other: NodeName = owner === 'a' ? 'b' : 'a';
    const onOther = (await (await api(other, 'GET', '/v1/calls')).json()) as {
      calls: Array<{ id: string; node?: string }>;
    };
    assert.equal(
      onOther.calls.find((call) => call.id === listed.id)?.node,
      `node-${owner}`,
      'listed with its owner',
    );
    const dtmf = await api(other, 'POST', `/v1/calls/${listed.id}/dtmf`, { digits: '1' });
    assert.equal(dtmf.status, 204, `DTMF forwarded: ${await dtmf.text()}`);
    const hangup = await api(other, 'DELETE', `/v1/calls/${listed.id}`);
    assert.equal(hangup.status, 204, `hang-up forwarded: ${await hangup.text()}`);
    const result = await sipp.result;
    assert.equal(result.successfulCalls, 1, `the caller got BYE\n${result.errors}`);
    const ended = await waitFor(
      async () => cluster!.records(owner).find((record) => record.id === listed.id),
      'record',
    );
    assert.equal(ended.end.cause, 'api_hangup');
    const gone = await api(other, 'DELETE', `/v1/calls/${listed.id}`);
    assert.equal(gone.status, 404);
  } finally {
    await sipp.stop();
  }
});

test('a node killed with SIGKILL: its slots free themselves within the lease TTL, the other node takes the calls', {
  skip,
  timeout: 60_000,
}, async () => {
  // Hold calls on both nodes, then kill node b without a goodbye.
  const holding = startSipp({
    scenario: join(FIXTURES, 'uac_proxy.xml'),
    remote: cluster!.proxy,
    localPort: await freePort(),
    rate: 8,
    calls: HELD_CALLS,
    timeoutMs: 40_000,
    extraArgs: ['-d', '30000'],
  });
  try {
    const full = await waitFor(
      async () => {
        const body = (await (await api('a', 'GET', '/v1/calls')).json()) as {
          calls: Array<{ node?: string }>;
        };
        const onB = body.calls.filter((call) => call.node === 'node-b').length;
        return body.calls.length >= HELD_CALLS && onB > 0 ? onB : undefined;
      },
      'calls held on both nodes',
      20_000,
    );
    process.kill(cluster!.pid('node-b'), 'SIGKILL');
    const killedAt = Date.now();
    const freed = await waitFor(
      async () => {
        const body = (await (await api('a', 'GET', '/v1/calls')).json()) as {
          calls: Array<{ node?: string }>;
        };
        return body.calls.every((call) => call.node !== 'node-b') ? Date.now() - killedAt : undefined;
      },
      "node b's calls gone from the registry",
      LEASE_TTL_MS + 5000,
    );
    console.log(
      `cluster kill -9: ${full} calls of node b released after ${freed} ms (lease TTL ${LEASE_TTL_MS} ms)`,
    );
    assert.ok(freed <= LEASE_TTL_MS + 1500, `released after ${freed} ms`);
    // Kamailio's probe now fails for node b: new calls go to node a, into the freed slots.
    const more = await callThroughProxy({ rate: 4, calls: 4, holdMs: 200, timeoutMs: 20_000 });
    assert.equal(more.successfulCalls, 4, `calls after the kill all answered by node a\n${more.errors}`);
  } finally {
    await holding.stop();
  }
});
