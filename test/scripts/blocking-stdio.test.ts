import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

const BLOCKING_STDIO = pathToFileURL(join(import.meta.dirname, '../../../scripts/blocking-stdio.mjs')).href;
const TESTS = 12;

/**
 * A file of tests with long names (so their results fill the pipe to the runner), the last one
 * failing, run the way scripts/run-tests.mjs runs the suite: each file in its own process,
 * forced to exit when its tests end.
 */
function runForced(dir: string): string {
  const file = join(dir, 'many.test.mjs');
  writeFileSync(
    file,
    [
      "import { test } from 'node:test';",
      "const name = (i) => 'case ' + i + ' ' + 'x'.repeat(20000);",
      `for (let i = 1; i < ${TESTS}; i++) test(name(i), () => {});`,
      `test(name(${TESTS}), () => { throw new Error('the last case fails'); });`,
    ].join('\n'),
  );
  const run = spawnSync(
    process.execPath,
    [
      '--import',
      BLOCKING_STDIO,
      '--test',
      '--test-concurrency=1',
      '--test-force-exit',
      '--test-reporter=tap',
      file,
    ],
    // Not as a file of this run: a fresh runner of its own.
    { encoding: 'utf8', maxBuffer: 64 * 2 ** 20, env: { ...process.env, NODE_TEST_CONTEXT: undefined } },
  );
  assert.equal(run.status, 1, 'the failing case fails the run');
  return run.stdout;
}

test('the runner hears every verdict of a file that is forced to exit, the failing last one too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patchbay-force-exit-'));
  try {
    // Without the preload, every one of these runs lost verdicts on this machine.
    for (let run = 0; run < 5; run++) {
      const tap = runForced(dir);
      assert.equal(tap.match(/^ok \d+ - case/gm)?.length, TESTS - 1, `run ${run}: passing verdicts`);
      assert.match(tap, new RegExp(`^not ok ${TESTS} - case ${TESTS} `, 'm'), `run ${run}: the failure`);
      assert.match(tap, /the last case fails/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
