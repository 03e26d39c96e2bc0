import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The compiled CLI, as the `patchbay` bin runs it (tests run from dist/test/cli/).
const cli = fileURLToPath(new URL('../../src/cli/index.js', import.meta.url));

function patchbay(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 20_000 });
}

test('--help lists every command and exits 0; no command exits 2', () => {
  const help = patchbay('--help');
  assert.equal(help.status, 0);
  for (const name of ['check-config', 'replay']) assert.match(help.stdout, new RegExp(`\\b${name}\\b`));
  assert.equal(patchbay().status, 2);
});

test('an unknown command is refused with the usage on stderr', () => {
  const result = patchbay('frobnicate');
  assert.equal(result.status, 2);
  assert.match(result.stderr, /unknown command 'frobnicate'/);
  assert.match(result.stderr, /usage: patchbay/);
});

test('check-config prints every error of a broken trunk file with its line, exit 1', () => {
  const result = patchbay('check-config', 'fixtures/config/broken/sip-profiles-bad.yaml');
  assert.equal(result.status, 1);
  const located = result.stderr
    .split('\n')
    .filter((line) => /^fixtures\/config\/broken\/.+:\d+:\d+ /.test(line));
  assert.ok(located.length >= 5, `expected several located errors, got:\n${result.stderr}`);
});
