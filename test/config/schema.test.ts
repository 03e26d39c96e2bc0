/** Values the schema refuses because they would load and then never work or never apply. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gatewayFileSchema, parseConfigText, trunkSchema } from '../../src/config/index.js';

const trunk = (extra: string): string => `name: t\noutbound:\n  gateways: [{host: a.example}]\n${extra}`;

function issuesOf(text: string): string[] {
  const result = parseConfigText(text, 't.yaml', trunkSchema, {});
  return result.ok ? [] : result.issues.map((i) => `${i.line} ${i.path}: ${i.message}`);
}

describe('trunk ranges', () => {
  it('media.srtpSuites: known suites, each once, and only where the trunk encrypts', () => {
    const media = (lines: string) => trunk(`media:\n${lines}`);
    assert.deepEqual(
      issuesOf(
        media('  encryption: required\n  srtpSuites: [AES_256_CM_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_80]\n'),
      ),
      [],
    );
    assert.deepEqual(issuesOf(media('  encryption: optional\n  srtpSuites: []\n')), [
      '6 media.srtpSuites: Too small: expected array to have >=1 items',
    ]);
    assert.deepEqual(
      issuesOf(
        media('  encryption: required\n  srtpSuites: [AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_80]\n'),
      ),
      ['6 media.srtpSuites: a suite is listed twice'],
    );
    assert.equal(
      issuesOf(media('  encryption: required\n  srtpSuites: [AES_192_CM_HMAC_SHA1_80]\n')).length,
      1,
    );
    assert.deepEqual(issuesOf(media('  srtpSuites: [AES_CM_128_HMAC_SHA1_80]\n')), [
      '5 media.srtpSuites: srtpSuites needs encryption optional or required',
    ]);
  });

  it('passHeaders: header names, each once, none carrying credentials or already handed on', () => {
    assert.deepEqual(issuesOf(trunk('passHeaders: [User-to-User, X-Customer-Id]\n')), []);
    assert.deepEqual(issuesOf(trunk('passHeaders: [X-A, x-a]\n')), ['4 passHeaders: each header once']);
    assert.deepEqual(issuesOf(trunk('passHeaders: [Authorization]\n')), [
      '4 passHeaders[0]: Authorization is not passed: it carries credentials',
    ]);
    assert.deepEqual(issuesOf(trunk('passHeaders: [p-asserted-identity]\n')), [
      '4 passHeaders[0]: p-asserted-identity is not passed: it is already sipPAssertedIdentity (trustPai)',
    ]);
    assert.equal(issuesOf(trunk('passHeaders: ["X Bad"]\n')).length, 1);
    assert.equal(issuesOf(trunk('passHeaders: [y]\n')).length, 1, 'a compact form (y is Identity)');
    assert.equal(issuesOf(trunk(`passHeaders: [X-${'a'.repeat(21)}]\n`)).length, 1, 'over 22 characters');
    const many = Array.from({ length: 17 }, (_, i) => `X-${i}`).join(', ');
    assert.equal(issuesOf(trunk(`passHeaders: [${many}]\n`)).length, 1, 'over 16 headers');
  });

  it('outbound.headers: context and billing headers only, each once, printable values', () => {
    const headers = (map: string) => issuesOf(trunk(`  headers: ${map}\n`));
    assert.deepEqual(
      headers(
        '{P-Charge-Info: "<sip:+15550100@carrier.example>", X-Account: "42", user-to-user: "ab;encoding=hex"}',
      ),
      [],
    );
    assert.equal(headers('{Via: "SIP/2.0/UDP evil.example"}').length, 1, 'a header the gateway writes');
    assert.equal(headers('{P-Asserted-Identity: "<sip:+1@x>"}').length, 1, 'caller ID has its own settings');
    assert.equal(headers('{X-A: "1", x-a: "2"}').length, 1, 'each once');
    assert.equal(headers('{X-A: ""}').length, 1, 'empty');
    assert.equal(headers('{X-A: "a\\r\\nVia: x"}').length, 1, 'CR/LF');
    const many = Array.from({ length: 17 }, (_, i) => `X-${i}: "1"`).join(', ');
    assert.equal(headers(`{${many}}`).length, 1, 'over 16');
  });

  it('probing.acceptedCodes are final answers: 1xx refused', () => {
    assert.deepEqual(issuesOf(trunk('probing:\n  acceptedCodes: [200, 404]\n')), []);
    assert.deepEqual(issuesOf(trunk('probing:\n  acceptedCodes: [183, 200]\n')), [
      '5 probing.acceptedCodes[0]: Too small: expected number to be >=200',
    ]);
  });

  it('health.windowMs holds at least one bucket', () => {
    assert.deepEqual(issuesOf(trunk('health:\n  windowMs: 60000\n  bucketMs: 60000\n')), []);
    assert.deepEqual(issuesOf(trunk('health:\n  windowMs: 30000\n  bucketMs: 60000\n')), [
      '5 health.windowMs: windowMs must be at least bucketMs (the window holds whole buckets)',
    ]);
    assert.deepEqual(issuesOf(trunk('health:\n  windowMs: 30000\n')), [
      '5 health.windowMs: windowMs must be at least bucketMs (the window holds whole buckets)',
    ]);
  });

  it('a critical health threshold lies past warn in the direction that is worse for the metric', () => {
    const health = (metric: string, warn: number, critical: number) =>
      trunk(`health:\n  ${metric}: { warn: ${warn}, critical: ${critical} }\n`);
    assert.deepEqual(issuesOf(health('asr', 0.5, 0.2)), []);
    assert.deepEqual(issuesOf(health('pddMs', 3000, 9000)), []);
    assert.deepEqual(
      [
        ...issuesOf(health('asr', 0.3, 0.5)),
        ...issuesOf(health('ccr', 0.7, 0.7)),
        ...issuesOf(health('acdSec', 10, 30)),
        ...issuesOf(health('mos', 3.1, 3.6)),
        ...issuesOf(health('pddMs', 8000, 4000)),
        ...issuesOf(health('astMs', 6000, 6000)),
      ],
      [
        '5 health.asr.critical: critical must be below warn: a lower asr is worse',
        '5 health.ccr.critical: critical must be below warn: a lower ccr is worse',
        '5 health.acdSec.critical: critical must be below warn: a lower acdSec is worse',
        '5 health.mos.critical: critical must be below warn: a lower mos is worse',
        '5 health.pddMs.critical: critical must be above warn: a higher pddMs is worse',
        '5 health.astMs.critical: critical must be above warn: a higher astMs is worse',
      ],
    );
    // Only one side given: the other keeps its default, and must still agree with it.
    assert.deepEqual(issuesOf(trunk('health:\n  asr: { warn: 0.2 }\n')), [
      '5 health.asr.critical: critical must be below warn: a lower asr is worse',
    ]);
  });
});

describe('gateway addresses', () => {
  function gatewayIssues(text: string): string[] {
    const result = parseConfigText(text, 'gw.yaml', gatewayFileSchema, {});
    return result.ok ? [] : result.issues.map((i) => `${i.line} ${i.path}: ${i.message}`);
  }

  it('publicAddress is an IP address: it is the SDP c= address', () => {
    assert.deepEqual(gatewayIssues('publicAddress: 203.0.113.5\n'), []);
    assert.deepEqual(gatewayIssues('publicAddress: "2001:db8::5"\n'), []);
    for (const bad of ['1.2.3.4:5060', 'sbc.example.com', '1.2.3.999'])
      assert.deepEqual(gatewayIssues(`publicAddress: "${bad}"\n`), [
        '1 publicAddress: an IPv4 or IPv6 address, without a port',
      ]);
  });

  it('listen[].host and api.host are an IP address or an RFC 1123 host name', () => {
    const good =
      'listen:\n  - { transport: udp, host: "::" }\n  - { transport: tcp, host: localhost }\napi:\n  host: api.internal.example\n';
    assert.deepEqual(gatewayIssues(good), []);
    const bad =
      'listen:\n  - { transport: udp, host: "10.0.0.1:5060" }\n  - { transport: tcp, host: "-bad.example" }\napi:\n  host: "my host"\n';
    assert.deepEqual(gatewayIssues(bad), [
      '2 listen[0].host: an IP address or a host name (RFC 1123), without a port',
      '3 listen[1].host: an IP address or a host name (RFC 1123), without a port',
      '5 api.host: an IP address or a host name (RFC 1123), without a port',
    ]);
    assert.deepEqual(gatewayIssues('api:\n  host: ""\n'), [
      '2 api.host: empty: set an address or leave the key out',
    ]);
  });

  it('a first listener given by name needs publicAddress: its address would go into SDP c= lines', () => {
    const byName = 'listen:\n  - { transport: udp, host: localhost }\n';
    assert.deepEqual(gatewayIssues(byName), [
      '2 listen[0].host: SDP c= lines carry this address when publicAddress is absent: give an IP address or set publicAddress',
    ]);
    assert.deepEqual(gatewayIssues(`${byName}publicAddress: 127.0.0.1\n`), []);
  });

  it('the control API bounds its connections: a header timeout within the request timeout, 0.1 s to an hour', () => {
    const { api } = gatewayFileSchema.parse({});
    assert.deepEqual(
      [api.maxConnections, api.headerTimeoutSec, api.requestTimeoutSec, api.idleTimeoutSec],
      [256, 10, 30, 5],
    );
    assert.deepEqual(gatewayIssues('api:\n  headerTimeoutSec: 0.3\n  requestTimeoutSec: 0.3\n'), []);
    assert.deepEqual(gatewayIssues('api:\n  headerTimeoutSec: 40\n'), [
      '2 api.headerTimeoutSec: must not exceed requestTimeoutSec: the request timeout runs over the headers too',
    ]);
    assert.deepEqual(gatewayIssues('api:\n  idleTimeoutSec: 0\n  maxConnections: 0\n'), [
      '2 api.idleTimeoutSec: Too small: expected number to be >=0.1',
      '3 api.maxConnections: Too small: expected number to be >=1',
    ]);
    assert.deepEqual(gatewayIssues('api:\n  requestTimeoutSec: 3601\n'), [
      '2 api.requestTimeoutSec: Too big: expected number to be <=3600',
    ]);
  });

  it("an outbound gateway's host is an IP address or a host name, a final dot allowed", () => {
    const host = (name: string) => issuesOf(`name: t\noutbound:\n  gateways: [{host: "${name}"}]\n`);
    assert.deepEqual([...host('sip.carrier.example.'), ...host('192.0.2.1'), ...host('2001:db8::1')], []);
    for (const bad of ['a..b', '1.2.3.999', 'sip.example:5060'])
      assert.deepEqual(host(bad), ['3 outbound.gateways[0].host: a DNS name or an IP address'], bad);
  });
});

describe('cluster.takeover.snapshotSecret', () => {
  const cluster = (secret: string) =>
    `cluster:\n  redis: redis://127.0.0.1:6379\n  takeover:\n    enabled: true\n    snapshotSecret: "${secret}"\n`;
  const issues = (text: string, env: Record<string, string> = {}) => {
    const result = parseConfigText(text, 'gw.yaml', gatewayFileSchema, env);
    return result.ok ? [] : result.issues.map((i) => `${i.line} ${i.path}: ${i.message}`);
  };

  // biome-ignore lint/suspicious/noTemplateCurlyInString: the config file's own ${NAME} reference
  const secretRef = '${PB_SNAPSHOT_SECRET}';
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the config file's own ${NAME} reference
  const oldSecretRef = '${PB_OLD_SECRET}';

  it('is a secret of at least 32 characters, given from the environment', () => {
    assert.deepEqual(issues(cluster(secretRef), { PB_SNAPSHOT_SECRET: 'x'.repeat(32) }), []);
    assert.deepEqual(issues(cluster(secretRef), { PB_SNAPSHOT_SECRET: 'short' }), [
      '5 cluster.takeover.snapshotSecret: at least 32 characters (for example `openssl rand -base64 32`)',
    ]);
  });

  it('previousSnapshotSecrets open what older secrets sealed, so they need a snapshotSecret', () => {
    const previous = `\n    previousSnapshotSecrets: ["${oldSecretRef}"]\n`;
    const env = { PB_SNAPSHOT_SECRET: 'x'.repeat(32), PB_OLD_SECRET: 'y'.repeat(32) };
    assert.deepEqual(issues(cluster(secretRef).trimEnd() + previous, env), []);
    const without = `cluster:\n  redis: redis://127.0.0.1:6379\n  takeover:\n    enabled: true${previous}`;
    assert.deepEqual(issues(without, env), [
      '5 cluster.takeover.previousSnapshotSecrets: previousSnapshotSecrets needs a snapshotSecret',
    ]);
  });
});
