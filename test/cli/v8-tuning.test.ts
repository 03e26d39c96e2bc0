import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { INLINING_FLAGS, inliningFlags } from '../../src/cli/v8-tuning.js';

const tuning = new URL('../../src/cli/v8-tuning.js', import.meta.url).href;

test('the inlining budget is raised unless the operator gave node the flag', () => {
  assert.deepEqual(inliningFlags([]), [
    '--max-inlined-bytecode-size=700',
    '--max-inlined-bytecode-size-cumulative=3000',
  ]);
  assert.deepEqual(inliningFlags(['--max-inlined-bytecode-size=900', '--cpu-prof']), [
    '--max-inlined-bytecode-size-cumulative=3000',
  ]);
  // V8 takes underscores for dashes; the cumulative flag is not the single one.
  assert.deepEqual(inliningFlags(['--max_inlined_bytecode_size_cumulative=100']), [
    '--max-inlined-bytecode-size=700',
  ]);
  assert.equal(Object.keys(INLINING_FLAGS).length, 2);
});

/**
 * A worker thread (where the media runs) makes a hot call to a function of about 560 bytes of
 * bytecode: over V8's default inlining limit, under ours. TurboFan's trace says whether it was
 * turned away.
 */
function turnedAway(tune: boolean): number {
  const script = `
    import { setFlagsFromString } from 'node:v8';
    import { Worker } from 'node:worker_threads';
    import { tuneV8 } from '${tuning}';
    if (${tune}) tuneV8([]);
    setFlagsFromString('--trace-turbo-inlining');
    new Worker(\`
      let body = 'let s = 0;';
      for (let i = 0; i < 45; i++) body += 's = (s + a[' + (i % 8) + '] * ' + (i + 1) + ') | 0;';
      const weigh = new Function('a', body + 'return s;');
      const call = (a) => weigh(a) + 1;
      const a = new Int32Array(8).fill(3);
      let total = 0;
      for (let i = 0; i < 2e6; i++) total += call(a);
      if (total === 0) console.log('unreachable');\`, { eval: true });`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.split('\n').filter((line) => line.startsWith('Cannot consider')).length;
}

test('the raised budget reaches TurboFan in a worker thread', () => {
  assert.ok(turnedAway(false) > 0, 'under the defaults the function is too large to inline');
  assert.equal(turnedAway(true), 0);
});
