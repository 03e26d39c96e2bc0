/**
 * Checks between the gateway file and the trunk files: a transport a trunk dials, registers
 * or takes calls over needs a listener; with mutual TLS, a trunk that takes TLS needs names to
 * match client certificates against, and such names need a listener that asks for
 * certificates; a route's trunk must be one calls arrive on.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { pkiForSuite, skipWithoutOpenssl } from '../helpers/test-pki.js';

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
    assert.deepEqual(await issuesOf(UDP_ONLY, { 'reg.yaml': trunk('    transport: tls\n') }), [
      "sip-profiles/reg.yaml:8 outbound.register.transport: trunk 'reg' registers over TLS: add a listen entry with transport: tls to gw.yaml (the registrar sends calls to its Contact)",
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

  describe('mutual TLS', { skip: skipWithoutOpenssl }, () => {
    const certs = pkiForSuite();
    const listeners = (requireClientCert: boolean) => {
      const { certFile, keyFile } = certs.localhost;
      const ca = requireClientCert ? `, caFile: ${certs.pki.ca.certFile}, requireClientCert: true` : '';
      return `${UDP_ONLY}  - transport: tls\n    host: 127.0.0.1\n    tls: { certFile: ${certFile}, keyFile: ${keyFile}${ca} }\n`;
    };
    const pbx = 'name: pbx\ninbound:\n  allowedCidrs: [192.0.2.0/24]\n';

    it('names a trunk written to take TLS whose client certificate no name could match', async () => {
      assert.deepEqual(await issuesOf(listeners(true), { 'pbx.yaml': `${pbx}  transports: [udp, tls]\n` }), [
        "sip-profiles/pbx.yaml:4 inbound.transports[1]: trunk 'pbx' takes calls over TLS, where clients must show a certificate (requireClientCert), but has no name to match it against: set inbound.tlsClientNames or drop tls here",
      ]);
      const named = `${pbx}  transports: [tls]\n  tlsClientNames: [sbc.pbx.example]\n`;
      assert.deepEqual(await issuesOf(listeners(true), { 'pbx.yaml': named }), []);
      const dialled = `${pbx}  transports: [tls]\noutbound:\n  gateways: [{ host: sbc.pbx.example, transport: tls }]\n`;
      assert.deepEqual(
        await issuesOf(listeners(true), { 'pbx.yaml': dialled }),
        [],
        'its gateway host names it',
      );
      assert.deepEqual(
        await issuesOf(listeners(true), { 'pbx.yaml': pbx }),
        [],
        'the default list is not checked',
      );
      assert.deepEqual(await issuesOf(listeners(false), { 'pbx.yaml': `${pbx}  transports: [tls]\n` }), []);
    });

    it('names tlsClientNames that nothing would check: no listener asks for certificates, or the trunk refuses TLS', async () => {
      const named = `${pbx}  tlsClientNames: [sbc.pbx.example]\n`;
      assert.deepEqual(await issuesOf(listeners(false), { 'pbx.yaml': named }), [
        'sip-profiles/pbx.yaml:4 inbound.tlsClientNames: no TLS listener asks clients for a certificate, so these names would be checked against nothing: set requireClientCert: true on the tls listen entry of gw.yaml or drop tlsClientNames',
      ]);
      assert.deepEqual(await issuesOf(listeners(true), { 'pbx.yaml': `${named}  transports: [udp]\n` }), [
        'sip-profiles/pbx.yaml:4 inbound.tlsClientNames: tlsClientNames are checked on calls over TLS: add tls to transports or drop tlsClientNames',
      ]);
      const wildcard = `${pbx}  tlsClientNames: ["*.pbx.example"]\n`;
      assert.deepEqual(await issuesOf(listeners(true), { 'pbx.yaml': wildcard }), [
        'sip-profiles/pbx.yaml:4 inbound.tlsClientNames[0]: a host name or an IP address, as the certificate names it (no wildcard, no port)',
      ]);
    });
  });
});
