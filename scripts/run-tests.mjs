#!/usr/bin/env node
// Runs every compiled test file with node's built-in test runner, in one run so the
// runner prints one summary. Interop tests (real SIPp, baresip, Redis...) live under
// test/interop and run after the unit tests in the same invocation.
// Usage: node scripts/run-tests.mjs [filter-substring]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

function collect(dir) {
  let out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(collect(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const filter = process.argv[2];
const all = collect('dist/test').filter((f) => !filter || f.includes(filter));
const unit = all.filter((f) => !f.includes('/interop/'));
const interop = all.filter((f) => f.includes('/interop/'));
// --test-force-exit: a test that timed out may leave a socket or a child behind; the run must
// still end with its summary instead of waiting on them. blocking-stdio.mjs keeps that exit from
// losing the last results of a file.
const blockingStdio = pathToFileURL(join(import.meta.dirname, 'blocking-stdio.mjs')).href;
const result = spawnSync(
  process.execPath,
  ['--import', blockingStdio, '--test', '--test-concurrency=1', '--test-force-exit', ...unit, ...interop],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
