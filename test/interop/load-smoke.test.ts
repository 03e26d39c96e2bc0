/**
 * The load bench (bench/load) in small: 5 calls through a real `patchbay start` process (run
 * under --cpu-prof, so the profile summary is exercised too) and through the bare forwarder,
 * a short window each, with the Node instrument and with the native one. Checks that no frame
 * is lost either way and that every figure the bench reports is a number; timings are the
 * bench's business, not this test's.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type LoadInstrument, NodeInstrument } from '../../bench/load/instrument.js';
import { NativeInstrument } from '../../bench/load/native.js';
import { profilesIn, summariseProfile } from '../../bench/load/profile.js';
import {
  closeEverything,
  type DirectionFigures,
  measureStep,
  type StepFigures,
} from '../../bench/load/step.js';

const CALLS = 5;
/**
 * The gateway runs profiled on a shared 2-core machine: its event loop stalls for tens of ms at
 * times, and the adaptive jitter buffer would conceal a frame that a stall made late. Floored at
 * 100 ms, a missing frame means the gateway lost it, not that the machine was busy.
 */
const OPTIONS = { warmupSec: 1, windowSec: 4, cps: 50, jitterFloorMs: 100 };

let bot: LoadInstrument;
before(async () => {
  bot = await NodeInstrument.start();
});
after(async () => {
  await bot.close();
  await closeEverything();
});

function assertDirection(name: string, figures: DirectionFigures): void {
  // 5 calls x about 10 tagged frames/s (one in 4 of a spurt, spurts ~80 % of the talk) x 4 s,
  // less what a busy machine shifts out of the window.
  assert.ok(figures.sent >= CALLS * 5 * 4, `${name}: ${figures.sent} tagged frames sent`);
  assert.equal(figures.missing, 0, `${name}: ${figures.missing} of ${figures.sent} tagged frames missing`);
  for (const key of ['p50Ms', 'p99Ms', 'maxMs', 'late'] as const)
    assert.ok(Number.isFinite(figures[key]), `${name}.${key} is ${figures[key]}`);
}

function assertStep(step: StepFigures): void {
  assert.equal(step.failed, 0, `${step.system}: failed calls`);
  for (const key of ['cpuMsPerCallSecond', 'cpuPercent', 'rssMiB', 'rssKiBPerCall', 'loopLagP99Ms'] as const)
    assert.ok(Number.isFinite(step[key]), `${step.system}.${key} is ${step[key]}`);
  assert.ok(step.cpuMsPerCallSecond > 0, `${step.system} used no CPU`);
  assert.ok(
    Number.isFinite(step.instrument.cpuPercent),
    `the instrument's CPU: ${step.instrument.cpuPercent}`,
  );
  assertDirection(`${step.system} caller->bot`, step.callerToBot);
  assertDirection(`${step.system} bot->caller`, step.botToCaller);
}

test('5 calls through patchbay (profiled) and through the bare forwarder: no loss, every figure a number', async () => {
  const profileDir = mkdtempSync(join(tmpdir(), 'patchbay-load-smoke-'));
  try {
    const patchbay = await measureStep('patchbay', CALLS, bot, { ...OPTIONS, profileDir });
    assertStep(patchbay);
    const playout = patchbay.playout;
    assert.ok(
      playout && Number.isFinite(playout.underrunsPerCall) && Number.isFinite(playout.trimmedFramesPerCall),
      `the calls' playout figures: ${JSON.stringify(playout)}`,
    );
    // One per thread: the calls' media runs in the media workers' threads.
    const profiles = profilesIn(profileDir);
    assert.ok(profiles.length > 0, 'the gateway wrote a .cpuprofile');
    const summary = summariseProfile(profiles, patchbay.window);
    assert.ok(summary.busyMs > 0 && summary.top.length > 0, 'the profile has self time');
    assert.ok(
      summary.top.some((row) => row.file.startsWith('src/')),
      `gateway sources in the top files: ${summary.top.map((row) => row.file).join(', ')}`,
    );
    const functions = summary.topFunctions.map((row) => row.function);
    assert.ok(
      functions.some((name) => /src\/.*\.ts:\d+$/.test(name)) &&
        !functions.some((name) => name.startsWith('#waitUntil')),
      `gateway functions by source line, the clock's wait apart: ${functions.join(', ')}`,
    );
    assertStep(await measureStep('forwarder', CALLS, bot, OPTIONS));
  } finally {
    rmSync(profileDir, { recursive: true, force: true });
  }
});

test('5 calls through patchbay with media.workers: 2: no loss, every figure a number', async () => {
  assertStep(await measureStep('patchbay', CALLS, bot, { ...OPTIONS, mediaWorkers: 2 }));
});

test('5 calls through patchbay and the forwarder with the native instrument: no loss, every figure a number', async () => {
  const native = await NativeInstrument.start();
  try {
    const patchbay = await measureStep('patchbay', CALLS, native, { ...OPTIONS, mediaWorkers: 1 });
    assertStep(patchbay);
    assert.equal(patchbay.instrument.kind, 'native');
    assert.equal(patchbay.instrument.receiveDrops, 0, "the instrument's own socket dropped echoes");
    assertStep(await measureStep('forwarder', CALLS, native, OPTIONS));
  } finally {
    await native.close();
  }
});
