/**
 * TLS files in the config: read at load relative to the file naming them, carried in the
 * snapshot with absolute paths; every unusable one fails with file, path and line, and never
 * with key material; a renewed certificate on disk makes a reload a change.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, before, describe, it } from 'node:test';
import { ConfigManager, loadConfig } from '../../src/config/index.js';
import { FakeClock } from '../../src/util/index.js';
import { type Leaf, pkiForSuite, skipWithoutOpenssl } from '../helpers/test-pki.js';

describe('TLS files in the config', { skip: skipWithoutOpenssl }, () => {
  const certs = pkiForSuite();
  let other: Leaf;

  const dirs: string[] = [];
  before(() => {
    other = certs.pki.issue('other', { san: ['DNS:other.example'] });
  });
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A gateway dir with `certs/` holding the leaf, CA and the other key, and one trunk file. */
  function layout(gatewayYaml: string, trunkYaml: string): { dir: string; gatewayFile: string } {
    const dir = mkdtempSync(join(tmpdir(), 'patchbay-tls-config-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'certs'));
    mkdirSync(join(dir, 'sip-profiles'));
    copyFileSync(certs.localhost.certFile, join(dir, 'certs', 'gateway.crt'));
    copyFileSync(certs.localhost.keyFile, join(dir, 'certs', 'gateway.key'));
    copyFileSync(other.keyFile, join(dir, 'certs', 'other.key'));
    copyFileSync(certs.pki.ca.certFile, join(dir, 'sip-profiles', 'carrier-ca.pem'));
    const gatewayFile = join(dir, 'gateway.yaml');
    writeFileSync(gatewayFile, gatewayYaml);
    writeFileSync(join(dir, 'sip-profiles', 'carrier.yaml'), trunkYaml);
    return { dir, gatewayFile };
  }

  const TRUNK = [
    'name: carrier',
    'outbound:',
    '  gateways:',
    '    - { host: sbc.carrier.example, port: 5061, transport: tls, tlsCaFile: carrier-ca.pem }',
    '',
  ].join('\n');

  it('reads listener and gateway files relative to the file naming them, into the snapshot', async () => {
    const { dir, gatewayFile } = layout(
      [
        'listen:',
        '  - transport: tls',
        '    host: 127.0.0.1',
        '    tls: { certFile: certs/gateway.crt, keyFile: certs/gateway.key }',
        '',
      ].join('\n'),
      TRUNK,
    );
    const result = await loadConfig(gatewayFile, {});
    assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.issues));
    const listen = result.value.gateway.listen[0];
    assert.equal(listen?.transport, 'tls');
    if (listen?.transport !== 'tls') return;
    assert.equal(listen.port, 5061, 'TLS listens on 5061 by default');
    assert.equal(listen.tls.certFile, join(dir, 'certs', 'gateway.crt'));
    assert.equal(result.value.tlsFiles.get(listen.tls.keyFile), certs.localhost.key);
    const gateway = result.value.trunks.get('carrier')?.outbound?.gateways[0];
    assert.equal(gateway?.tlsCaFile, join(dir, 'sip-profiles', 'carrier-ca.pem'));
    assert.equal(result.value.tlsFiles.get(gateway?.tlsCaFile ?? ''), certs.pki.ca.cert);
  });

  it('names the file, path and line of every unusable file, without key material', async () => {
    const { dir, gatewayFile } = layout(
      [
        'listen:',
        '  - transport: tls',
        '    tls:',
        '      certFile: certs/gateway.crt',
        '      keyFile: certs/other.key',
        '      caFile: certs/missing.pem',
        '      requireClientCert: true',
        '',
      ].join('\n'),
      TRUNK.replace('carrier-ca.pem', '../certs/gateway.key'),
    );
    const result = await loadConfig(gatewayFile, {});
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.deepEqual(
      result.issues.map((issue) => `${issue.file.slice(dir.length + 1)}:${issue.line} ${issue.path}`),
      [
        'gateway.yaml:5 listen[0].tls.keyFile',
        'gateway.yaml:6 listen[0].tls.caFile',
        'sip-profiles/carrier.yaml:4 outbound.gateways[0].tlsCaFile',
      ],
    );
    const messages = result.issues.map((issue) => issue.message).join('\n');
    assert.match(messages, /other\.key is not the private key of .*gateway\.crt/);
    assert.match(messages, /cannot read .*missing\.pem: ENOENT/);
    assert.match(messages, /gateway\.key: not a PEM certificate/);
    assert.doesNotMatch(messages, /PRIVATE KEY|BEGIN/);
  });

  it("reads a TLS registrar's CA file relative to its trunk file; refuses TLS settings on a registrar over UDP", async () => {
    const registering = (transport: string) =>
      [
        'name: carrier',
        'outbound:',
        '  gateways: [{ host: sbc.carrier.example }]',
        '  register:',
        '    registrar: reg.carrier.example',
        '    username: u',
        '    password: p',
        `    transport: ${transport}`,
        '    tlsCaFile: carrier-ca.pem',
        '',
      ].join('\n');
    const { dir, gatewayFile } = layout(
      'listen:\n  - { transport: udp }\n  - transport: tls\n    tls: { certFile: certs/gateway.crt, keyFile: certs/gateway.key }\n',
      registering('tls'),
    );
    const result = await loadConfig(gatewayFile, {});
    assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.issues));
    const register = result.value.trunks.get('carrier')?.outbound?.register;
    assert.equal(register?.tlsCaFile, join(dir, 'sip-profiles', 'carrier-ca.pem'));
    assert.equal(register?.tlsVerify, true);
    assert.equal(result.value.tlsFiles.get(register?.tlsCaFile ?? ''), certs.pki.ca.cert);
    writeFileSync(join(dir, 'sip-profiles', 'carrier.yaml'), registering('udp'));
    const refused = await loadConfig(gatewayFile, {});
    assert.equal(refused.ok, false);
    if (refused.ok) return;
    assert.deepEqual(
      refused.issues.map((issue) => `${issue.line} ${issue.path} ${issue.message}`),
      ['9 outbound.register.tlsCaFile tlsCaFile needs transport: tls'],
    );
  });

  it('refuses TLS settings on a non-TLS gateway, and a TLS gateway without a TLS listener', async () => {
    const { dir, gatewayFile } = layout(
      'listen:\n  - { transport: udp }\n',
      'name: lab\noutbound:\n  gateways:\n    - { host: a.example, tlsVerify: false }\n',
    );
    const refused = await loadConfig(gatewayFile, {});
    assert.equal(refused.ok, false);
    if (!refused.ok) assert.match(refused.issues[0]?.message ?? '', /tlsVerify needs transport: tls/);
    writeFileSync(join(dir, 'sip-profiles', 'carrier.yaml'), TRUNK);
    const noListener = await loadConfig(gatewayFile, {});
    assert.equal(noListener.ok, false);
    if (!noListener.ok)
      assert.match(noListener.issues[0]?.message ?? '', /trunk 'carrier' dials over TLS: add a listen entry/);
  });

  it('a reload that finds a renewed certificate is a change, with the same config text', async () => {
    const { dir, gatewayFile } = layout(
      'listen:\n  - transport: tls\n    tls: { certFile: certs/gateway.crt, keyFile: certs/gateway.key }\n',
      TRUNK,
    );
    const manager = await ConfigManager.open({ gatewayFile, env: {}, clock: new FakeClock() });
    try {
      const unchanged = await manager.reload();
      assert.ok(unchanged.ok && !unchanged.changed);
      const renewed = certs.pki.issue('renewed', { san: ['DNS:localhost'] });
      writeFileSync(join(dir, 'certs', 'gateway.crt'), readFileSync(renewed.certFile));
      writeFileSync(join(dir, 'certs', 'gateway.key'), readFileSync(renewed.keyFile));
      const result = await manager.reload();
      assert.ok(result.ok && result.changed);
      assert.equal(manager.current.tlsFiles.get(join(dir, 'certs', 'gateway.crt')), renewed.cert);
    } finally {
      manager.close();
    }
  });
});
