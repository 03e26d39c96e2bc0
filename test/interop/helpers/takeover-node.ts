/**
 * The takeover interop tests' nodes on a real Redis: a link once it is ready, and a node's
 * CallTakeover over its store (a claimed snapshot of `view()` resumes; `options` override).
 */
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { type CallSnapshots, RedisLink } from '../../../src/cluster/index.js';
import type { ResumeContext } from '../../../src/gateway/call-resume.js';
import { CallTakeover, type CallTakeoverOptions } from '../../../src/gateway/call-takeover.js';
import { SystemClock, silentLogger } from '../../../src/util/index.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits `ms` while each of `beats` runs every 50 ms, as live nodes' heartbeats do (every
 * deadAfterMs / 5): a node silent meanwhile is dead to them. Had no node beaten at all, Redis
 * would take the silence for its own outage and count nobody dead.
 */
export async function beatingFor(ms: number, ...beats: Array<() => Promise<unknown>>): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (const beat of beats) await beat();
    await sleep(Math.max(0, Math.min(50, end - performance.now())));
  }
}

/** A link to the Redis on `port`, ready (the caller closes it). */
export async function readyLink(port: number): Promise<RedisLink> {
  const client = new Redis({ port, host: '127.0.0.1' });
  const link = new RedisLink(client);
  for (let waited = 0; !link.up; waited += 20) {
    if (waited > 3000) throw new Error('redis client not ready');
    await sleep(20);
  }
  return link;
}

export function takeoverOn(
  snapshots: CallSnapshots,
  nodeId: string,
  deadAfterMs: number,
  options: Partial<CallTakeoverOptions> = {},
): CallTakeover {
  const clock = new SystemClock();
  return new CallTakeover({
    snapshots,
    config: { enabled: true, deadAfterMs, snapshotIntervalMs: 100, previousSnapshotSecrets: [] },
    nodeId,
    clock,
    logger: silentLogger,
    resumeContext: () =>
      ({
        config: {
          trunks: new Map([['proxy', { codecs: ['PCMU'], media: { encryption: 'none' } }]]),
          gateway: { routes: [] },
        },
        clock,
        mediaAddress: '127.0.0.9',
        frameMs: 20,
        nodeId,
      }) as unknown as ResumeContext,
    liveCalls: () => [],
    room: () => 10,
    draining: () => false,
    overloaded: () => false,
    adopt: () => assert.fail('nothing to resume'),
    unusable: () => assert.fail('nothing to resume'),
    ...options,
  });
}
