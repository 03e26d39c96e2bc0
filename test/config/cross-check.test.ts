/**
 * Checks between the gateway file and the trunk files: a transport a trunk dials, registers
 * or takes calls over needs a listener, and a route's trunk must be one calls arrive on.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';

describe('checks across the gateway and trunk files', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** Writes the gateway file and the trunk files; returns `file:line path: message` of each issue. */
  async function issuesOf(gatewayYaml: string, trunks: Record<string, string>): Promise<string[]> {
    const dir = mkdtempSync(join(tmpdir(), 'patchbay-cross-check-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'sip-profiles'));
    for (const [name, yaml] of Object.entries(trunks)) writeFileSync(join(dir, 'sip-profiles', name), yaml);
    writeFileSync(join(dir, 'gw.yaml'), gatewayYaml);
    const result = await loadConfig(join(dir, 'gw.yaml'), {});
    if (result.ok) return [];
    return result.issues.map((i) => `${i.file.slice(dir.length + 1)}:${i.line} ${i.path}: ${i.message}`);
  }

  const UDP_ONLY = 'listen:\n  - { transport: udp, host: 127.0.0.1 }\n';
  const UDP_TCP = `${UDP_ONLY}  - { transport: tcp, host: 127.0.0.1 }\n`;

  it("names each outbound gateway whose transport the gateway file does not listen on, at the trunk's line", async () => {
    const trunk = [
      'name: carrier',
      'outbound:',
      '  gateways:',
      '    - { host: a.example }',
      '    - { host: b.example, transport: tcp }',
      '    - { host: c.example, transport: tls }',
      '',
    ].join('\n');
    assert.deepEqual(await issuesOf(UDP_ONLY, { 'carrier.yaml': trunk }), [
      "sip-profiles/carrier.yaml:5 outbound.gateways[1].transport: trunk 'carrier' dials over TCP: add a listen entry with transport: tcp to gw.yaml (its Contact takes the carrier's in-dialog requests)",
      "sip-profiles/carrier.yaml:6 outbound.gateways[2].transport: trunk 'carrier' dials over TLS: add a listen entry with transport: tls to gw.yaml (its Contact takes the carrier's in-dialog requests)",
    ]);
    const tcpOnly = 'listen:\n  - { transport: tcp, host: 127.0.0.1 }\n';
    const [udp] = await issuesOf(tcpOnly, { 'carrier.yaml': trunk.replace(/\n {4}- \{ host: [bc].*/g, '') });
    assert.match(
      udp ?? '',
      /^sip-profiles\/carrier\.yaml:4 outbound\.gateways\[0\]\.transport: .* dials over UDP/,
    );
  });

  it('names a registration over a transport without a listener, the default udp included', async () => {
    const trunk = (transport: string) =>
      `name: reg\noutbound:\n  gateways: [{ host: a.example }]\n  register:\n    registrar: a.example\n    username: u\n    password: p\n${transport}`;
    assert.deepEqual(await issuesOf(UDP_ONLY, { 'reg.yaml': trunk('    transport: tcp\n') }), [
      "sip-profiles/reg.yaml:8 outbound.register.transport: trunk 'reg' registers over TCP: add a listen entry with transport: tcp to gw.yaml (the registrar sends calls to its Contact)",
    ]);
    const tcpOnly = 'listen:\n  - { transport: tcp, host: 127.0.0.1 }\n';
    const issues = await issuesOf(tcpOnly, {
      'reg.yaml': trunk('').replace('[{ host: a.example }]', '[{ host: a.example, transport: tcp }]'),
    });
    assert.deepEqual(
      issues.map((i) => i.split(': ')[0]),
      ['sip-profiles/reg.yaml:5 outbound.register.transport'],
    );
  });

  it('names an inbound transport written without a listener; the default list means any listener', async () => {
    const trunk = 'name: pbx\ninbound:\n  allowedCidrs: [192.0.2.0/24]\n';
    assert.deepEqual(await issuesOf(UDP_TCP, { 'pbx.yaml': trunk }), []);
    assert.deepEqual(await issuesOf(UDP_TCP, { 'pbx.yaml': `${trunk}  transports: [udp, tls]\n` }), [
      'sip-profiles/pbx.yaml:4 inbound.transports[1]: no call can arrive over tls without a listener: add a listen entry with transport: tls to gw.yaml or drop tls here',
    ]);
  });

  it('names a route whose trunk takes no calls (neither inbound nor register)', async () => {
    const routes = (trunk: string) =>
      `${UDP_ONLY}routes:\n  - match: "*"\n    trunk: ${trunk}\n    target: { url: builtin:echo }\n`;
    const trunks = {
      'out.yaml': 'name: out\noutbound:\n  gateways: [{ host: a.example }]\n',
      'in.yaml': 'name: in\ninbound:\n  allowedCidrs: [192.0.2.0/24]\n',
      'reg.yaml':
        'name: reg\noutbound:\n  gateways: [{ host: a.example }]\n  register: { registrar: a.example, username: u, password: p }\n',
    };
    assert.deepEqual(await issuesOf(routes('in'), trunks), []);
    assert.deepEqual(await issuesOf(routes('reg'), trunks), []);
    assert.deepEqual(await issuesOf(routes('out'), trunks), [
      "gw.yaml:5 routes[0].trunk: trunk 'out' takes no calls (it has neither inbound nor outbound.register): the route can never match",
    ]);
    assert.deepEqual(await issuesOf(routes('gone'), trunks), [
      "gw.yaml:5 routes[0].trunk: unknown trunk 'gone' (known: in, out, reg)",
    ]);
  });
});
