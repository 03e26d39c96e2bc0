/** `patchbay check-config`: every error as file:line:col path: message, exit 1; a summary and 0 when valid. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { checkConfigMain } from '../../src/config/index.js';

/** Tests run from the repository root (tsx and the compiled dist/ run alike). */
const fixtures = `${resolve('fixtures/config')}/`;
const goodEnv = { API_TOKEN: 'token-of-sixteen-chars', CARRIER_A_PASSWORD: 's3cret' };

describe('checkConfigMain', () => {
  function capture() {
    let text = '';
    const write = (chunk: string) => {
      text += chunk;
      return true;
    };
    const stream = { write } as unknown as NodeJS.WritableStream;
    return { stream, text: () => text };
  }

  it('prints file:line:col path: message for each error and exits 1', async () => {
    const out = capture();
    const err = capture();
    const code = await checkConfigMain([`${fixtures}broken/sip-profiles-bad.yaml`], {
      stdout: out.stream,
      stderr: err.stream,
      env: {},
    });
    assert.equal(code, 1);
    assert.match(err.text(), /sip-profiles-bad\.yaml:13:13 outbound\.gateways\[1\]\.port: /);
    assert.match(err.text(), /8 error\(s\)/);
  });

  it('exits 0 with a summary for a valid gateway file, and prints help', async () => {
    const out = capture();
    const err = capture();
    const io = { stdout: out.stream, stderr: err.stream, env: goodEnv };
    assert.equal(await checkConfigMain([`${fixtures}good/patchbay.yaml`], io), 0, err.text());
    assert.match(out.text(), /ok: .*2 route\(s\), 1 trunk\(s\)/);
    assert.equal(await checkConfigMain(['--help'], io), 0);
    assert.match(out.text(), /examples:/);
    assert.equal(await checkConfigMain([], io), 2);
  });

  it('a trunk file with an undefined YAML alias prints its line and exits 1, not a stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patchbay-check-config-'));
    try {
      const file = join(dir, 'carrier.yaml');
      writeFileSync(file, 'name: carrier\ninbound:\n  allowedCidrs: *cidrs\n');
      const out = capture();
      const err = capture();
      const code = await checkConfigMain([file], { stdout: out.stream, stderr: err.stream, env: {} });
      assert.equal(code, 1);
      assert.equal(
        err.text(),
        `${file}:3:17 inbound.allowedCidrs: YAML: Unresolved alias (the anchor must be set before the alias): cidrs\n1 error(s)\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
