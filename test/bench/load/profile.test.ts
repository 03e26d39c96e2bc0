/**
 * The load bench's profile summary: self time inside the window only, the media clock's
 * blocked wait set apart from the busy time, and compiled frames named by their source line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { type CpuProfile, summariseProfile } from '../../../bench/load/profile.js';

const DIST = join(import.meta.dirname, '../../..');
const compiled = (path: string): string => pathToFileURL(join(DIST, path)).href;

/** One sample per entry of `samples` (a node id), each lasting 1 ms, from 1,000,000 µs. */
function profile(samples: number[]): CpuProfile {
  return {
    nodes: [
      { id: 1, callFrame: { functionName: '(idle)', url: '' } },
      {
        id: 2,
        callFrame: { functionName: '#waitUntil', url: compiled('src/media/media-clock.js'), lineNumber: 110 },
      },
      { id: 3, callFrame: { functionName: 'doSend', url: 'node:dgram', lineNumber: 686 } },
      { id: 4, callFrame: { functionName: 'pull', url: compiled('src/not-built/fake.js'), lineNumber: 9 } },
    ],
    startTime: 1_000_000,
    samples,
    timeDeltas: samples.map(() => 1000),
  };
}

test('profile summary: window only, the clock wait apart from busy, by file and by function', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patchbay-profile-test-'));
  try {
    const path = join(dir, 'CPU.1.2.3.0.001.cpuprofile');
    // 2 idle, 3 waiting, 1 dgram, 2 pull in the window; the pull after it is not counted.
    writeFileSync(path, JSON.stringify(profile([1, 1, 2, 2, 2, 3, 4, 4, 4, 4])));
    const summary = summariseProfile(path, { startUs: 1_001_000, endUs: 1_009_000 });
    assert.equal(summary.idleMs, 2);
    assert.equal(summary.clockWaitMs, 3);
    assert.equal(summary.busyMs, 3);
    assert.deepEqual(
      summary.top.map((row) => [row.file, row.selfMs, Math.round(row.percent)]),
      [
        ['src/not-built/fake.ts', 2, 67],
        ['node:dgram', 1, 33],
      ],
    );
    // No map beside the fake file: its compiled line (10) is kept.
    assert.deepEqual(
      summary.topFunctions.map((row) => row.function),
      ['pull src/not-built/fake.ts:10', 'doSend node:dgram:687'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
