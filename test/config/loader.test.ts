import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import {
  defaultConfig,
  gatewayFileSchema,
  gatewayJsonSchema,
  loadConfig,
  loadSipProfiles,
  loadTrunkFile,
  parseConfigText,
  schemaFileText,
  trunkJsonSchema,
  trunkSchema,
} from '../../src/config/index.js';

/** Tests run from the repository root (tsx and the compiled dist/ run alike). */
const fixtures = `${resolve('fixtures/config')}/`;
const goodEnv = { API_TOKEN: 'token-of-sixteen-chars', CARRIER_A_PASSWORD: 's3cret' };

describe('config loader', () => {
  it('reports every error of the broken trunk file with path and line:column', async () => {
    const result = await loadTrunkFile(`${fixtures}broken/sip-profiles-bad.yaml`, {});
    assert.equal(result.ok, false);
    if (result.ok) return;
    const found = result.issues.map((i) => `${i.line}:${i.col} ${i.path}`);
    assert.deepEqual(found, [
      '5:7 inbound.allowedCidrs[1]', // bad CIDR
      '6:21 inbound.numbers[1]', // bad regex pattern
      '7:24 inbound.unknownSourceAction', // not 403|drop
      '13:13 outbound.gateways[1].port', // wrong type
      '14:24 outbound.failoverCodes[1]', // 486 never fails over
      '17:15 outbound.auth.password', // missing ${MISSING_SECRET}
      '18:3 outbound.retries', // unknown key
      '20:9 cps.rate', // negative
    ]);
    const byPath = new Map(result.issues.map((i) => [i.path, i.message]));
    assert.match(byPath.get('outbound.auth.password') ?? '', /MISSING_SECRET is not set/);
    assert.match(byPath.get('outbound.retries') ?? '', /unknown key 'retries'/);
    assert.match(
      byPath.get('outbound.failoverCodes[1]') ?? '',
      /486 must never fail over: the callee is busy/,
    );
    assert.ok(result.issues.every((i) => i.file.endsWith('sip-profiles-bad.yaml')));
  });

  it('reports every error of a broken gateway file, cross-field rules included, and its profiles', async () => {
    const result = await loadConfig(`${fixtures}broken-gateway/patchbay.yaml`, {});
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.deepEqual(
      result.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`),
      [
        '2:16 listen[0].transport: transport must be udp, tcp or tls (got "sctp")',
        '6:58 listen[1].tls.caFile: caFile is what client certificates are checked against: it needs requireClientCert: true',
        '9:12 rtp.portMax: portMin must be below portMax',
        '10:11 logLevel: Invalid option: expected one of "trace"|"debug"|"info"|"warn"|"error"|"fatal"',
        '11:16 publicAddress: empty: set an address or leave the key out',
        "12:1 colour: unknown key 'colour'",
        '16:12 routes[0].target.url: ws://, wss:// or builtin:echo',
        '18:19 routes[0].target.sampleRate: sampleRate is 8000, 16000 or 24000',
        '22:35 routes[1].target.auth.secret: Too small: expected string to have >=16 characters',
        '26:19 routes[2].target.sampleRate: the twilio dialect is 8000 Hz µ-law only: drop sampleRate or use dialect stereo or exotel',
        "27:71 routes[2].cps.overflow.rerouteTo: a route's rerouteTo is the bot to stream to instead: ws://, wss:// or builtin:echo",
        '30:12 routes[3].target.url: ws://, wss:// or builtin:echo',
        // The trunk files are checked too, in the sipProfilesDir the broken file names.
        `1:1 : cannot read directory: ENOENT: no such file or directory, scandir '${fixtures}broken-gateway/nowhere'`,
      ],
    );
  });

  it('checks the trunk files when the gateway file fails, in the sipProfilesDir it names if readable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patchbay-loader-'));
    try {
      for (const sub of ['trunks', 'sip-profiles']) {
        mkdirSync(join(dir, sub));
        writeFileSync(join(dir, sub, 'bad.yaml'), `name: ${sub}\ninbound:\n  allowedCidrs: [10.0.0.0/33]\n`);
      }
      const gatewayFile = join(dir, 'gw.yaml');
      const issuesWith = async (text: string) => {
        writeFileSync(gatewayFile, text);
        const result = await loadConfig(gatewayFile, {});
        return result.ok
          ? []
          : result.issues.map((i) => `${i.file.slice(dir.length + 1)}:${i.line} ${i.path}`);
      };
      assert.deepEqual(await issuesWith('logLevel: loud\nsipProfilesDir: trunks\n'), [
        'gw.yaml:1 logLevel',
        'trunks/bad.yaml:3 inbound.allowedCidrs[0]',
      ]);
      assert.deepEqual(await issuesWith('api: { port: 1, port: 2 }\nsipProfilesDir: trunks\n'), [
        'gw.yaml:1 api.port',
        'trunks/bad.yaml:3 inbound.allowedCidrs[0]',
      ]);
      // Not a directory name: the default one is checked.
      assert.deepEqual(await issuesWith('sipProfilesDir: [trunks]\n'), [
        'gw.yaml:1 sipProfilesDir',
        'sip-profiles/bad.yaml:3 inbound.allowedCidrs[0]',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports YAML syntax errors with their position', async () => {
    const result = await loadTrunkFile(`${fixtures}broken/syntax.yaml`, {});
    assert.equal(result.ok, false);
    if (!result.ok) assert.match(result.issues[0]?.message ?? '', /^YAML: /);
  });

  it('applies defaults and substitutes environment references only in string values', async () => {
    const result = await loadConfig(`${fixtures}good/patchbay.yaml`, goodEnv);
    assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.issues));
    const trunk = result.value.trunks.get('carrier-a');
    assert.equal(trunk?.outbound?.auth?.password, 's3cret');
    assert.deepEqual(trunk?.outbound?.failoverCodes, [408, 480, 500, 502, 503, 504]);
    // No port: the gateway's targets come from NAPTR/SRV (RFC 3263), so none is filled in.
    assert.equal(trunk?.outbound?.gateways[0]?.port, undefined);
    assert.equal(result.value.gateway.dns.servers, undefined);
    assert.equal(result.value.gateway.dns.cache.maxStaleSec, 86_400);
    assert.equal(trunk?.probing.failuresToMarkDown, 3);
    assert.equal(result.value.gateway.api.bearerToken, goodEnv.API_TOKEN);
    assert.equal(result.value.gateway.routes[1]?.target.dialect, 'twilio');
    assert.ok(Object.isFrozen(result.value.gateway.routes[0]?.target));
    assert.equal(result.value.files.length, 2);

    const keys = parseConfigText(
      `name: x\ninbound:\n  allowedCidrs: ["10.0.0.0/8"]\n  numbers: ["\${N}"]\n  auth: {username: u, password: "$\${LITERAL}\${P}"}\n`,
      'f',
      trunkSchema,
      { N: '+44*', P: `\${N}` },
    );
    assert.ok(keys.ok);
    assert.deepEqual(keys.value.inbound?.numbers, ['+44*']);
    assert.equal(keys.value.inbound?.auth?.password, `\${LITERAL}\${N}`); // escape kept literal, no re-scan
  });

  it('a reference to a variable named like an Object.prototype member is a variable that is not set', () => {
    for (const env of [{}, process.env]) {
      const result = parseConfigText(
        `name: x\ninbound:\n  allowedCidrs: ["10.0.0.0/8"]\n  auth: {username: "\${__proto__}", password: "\${constructor}"}\n`,
        'f.yaml',
        trunkSchema,
        env,
      );
      assert.equal(result.ok, false);
      if (result.ok) continue;
      assert.deepEqual(
        result.issues.map((issue) => [issue.path, issue.message]),
        [
          ['inbound.auth.username', 'environment variable __proto__ is not set'],
          ['inbound.auth.password', 'environment variable constructor is not set'],
        ],
      );
    }
  });

  it('a key named __proto__ is an unknown key, not a hidden section the schema reads through', () => {
    const result = parseConfigText(
      'name: x\n__proto__:\n  inbound:\n    allowedCidrs: ["0.0.0.0/0"]\noutbound:\n  gateways: [{host: 192.0.2.1}]\n',
      'f.yaml',
      trunkSchema,
      {},
    );
    assert.equal(result.ok, false, 'a trunk took its inbound section from __proto__');
    if (!result.ok)
      assert.deepEqual(
        result.issues.map((issue) => [issue.path, issue.line, issue.message]),
        [['__proto__', 2, "unknown key '__proto__'"]],
      );
  });

  it('accepts DNS servers as address[:port] and reports bad ones and a TTL floor above the ceiling', () => {
    const good = parseConfigText(
      'dns:\n  servers: ["127.0.0.1:5353", "10.0.0.2", "[::1]:53", "::1"]\n',
      'gateway.yaml',
      gatewayFileSchema,
      {},
    );
    assert.ok(good.ok, good.ok ? '' : JSON.stringify(good.issues));
    assert.deepEqual(good.value.dns.servers, ['127.0.0.1:5353', '10.0.0.2', '[::1]:53', '::1']);
    const bad = parseConfigText(
      'dns:\n  servers: ["dns.example", "127.0.0.1:0", "[::1]:99999"]\n  cache: { minTtlSec: 60, maxTtlSec: 30 }\n',
      'gateway.yaml',
      gatewayFileSchema,
      {},
    );
    assert.equal(bad.ok, false);
    if (bad.ok) return;
    assert.deepEqual(
      bad.issues.map((i) => `${i.line}:${i.col} ${i.path}`),
      ['2:13 dns.servers[0]', '2:28 dns.servers[1]', '2:43 dns.servers[2]', '3:38 dns.cache.maxTtlSec'],
    );
    assert.match(bad.issues[0]?.message ?? '', /an IP address with an optional port/);
  });

  it('limits.overload: defaults, a share above 1 and a section without any threshold refused with their paths', () => {
    const good = parseConfigText(
      'limits:\n  overload: { mediaClockLateShare: 0.1 }\n',
      'g.yaml',
      gatewayFileSchema,
      {},
    );
    assert.ok(good.ok, good.ok ? '' : JSON.stringify(good.issues));
    assert.deepEqual(good.value.limits.overload, {
      mediaClockLateShare: 0.1,
      windowSec: 5,
      retryAfterSec: 5,
    });
    const bad = parseConfigText(
      'limits:\n  overload: { mediaClockLateShare: 1.5, retryAfterSec: 0 }\n',
      'g.yaml',
      gatewayFileSchema,
      {},
    );
    assert.equal(bad.ok, false);
    if (bad.ok) return;
    assert.deepEqual(
      bad.issues.map((i) => i.path),
      ['limits.overload.mediaClockLateShare', 'limits.overload.retryAfterSec'],
    );
    const empty = parseConfigText('limits:\n  overload: { windowSec: 2 }\n', 'g.yaml', gatewayFileSchema, {});
    assert.equal(empty.ok, false);
    if (empty.ok) return;
    assert.match(
      empty.issues[0]?.message ?? '',
      /give at least one of eventLoopDelayP99Ms, mediaClockLateShare and eventLoopUtilization/,
    );
    assert.equal(empty.issues[0]?.path, 'limits.overload');
  });

  it('rejects 404, 486 and 603 as failover codes with an explanation', () => {
    const text = 'name: x\noutbound:\n  gateways: [{host: a}]\n  failoverCodes: [404, 503, 603]\n';
    const result = parseConfigText(text, 'f.yaml', trunkSchema, {});
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.deepEqual(
      result.issues.map((i) => i.path),
      ['outbound.failoverCodes[0]', 'outbound.failoverCodes[2]'],
    );
    assert.match(result.issues[0]?.message ?? '', /does not exist/);
  });

  it('rejects every 6xx as a failover code: a global failure (RFC 3261 §21.6) is the same on any gateway', () => {
    const text = 'name: x\noutbound:\n  gateways: [{host: a}]\n  failoverCodes: [600, 503, 604, 606]\n';
    const result = parseConfigText(text, 'f.yaml', trunkSchema, {});
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.deepEqual(
      result.issues.map((i) => i.path),
      ['outbound.failoverCodes[0]', 'outbound.failoverCodes[2]', 'outbound.failoverCodes[3]'],
    );
    assert.match(result.issues[0]?.message ?? '', /600 must never fail over: .*RFC 3261 §21\.6/);
  });

  it("reads a trunk's jitter buffer bounds and names a floor above the ceiling at its line", () => {
    const good = parseConfigText(
      'name: x\noutbound:\n  gateways: [{host: a}]\nmedia:\n  jitterBuffer: {minDelayMs: 60}\n',
      'f.yaml',
      trunkSchema,
      {},
    );
    assert.ok(good.ok);
    if (good.ok) assert.deepEqual(good.value.media.jitterBuffer, { minDelayMs: 60, maxDelayMs: 1000 });
    const bad = parseConfigText(
      'name: x\noutbound:\n  gateways: [{host: a}]\nmedia:\n  jitterBuffer: {minDelayMs: 300, maxDelayMs: 200}\n',
      'f.yaml',
      trunkSchema,
      {},
    );
    assert.equal(bad.ok, false);
    if (bad.ok) return;
    assert.deepEqual(
      bad.issues.map((i) => `${i.line} ${i.path} ${i.message}`),
      ['5 media.jitterBuffer.minDelayMs minDelayMs must not exceed maxDelayMs'],
    );
  });

  it('reads a registration trunk and caller-ID options, and names each bad value at its line', () => {
    const good = parseConfigText(
      [
        'name: reg',
        'trustPai: true',
        'outbound:',
        '  gateways: [{host: sip.carrier.example}]',
        `  register: {registrar: "sip.carrier.example:5080", username: u, password: "\${P}"}`,
        '  callerId:',
        '    assertedIdentity: "+15551230000"',
        '    privacy: [id]',
        '    diversion: {identity: "sip:+15559990000@carrier.example;user=phone"}',
        '',
      ].join('\n'),
      'reg.yaml',
      trunkSchema,
      { P: 's3cret' },
    );
    assert.ok(good.ok, good.ok ? '' : JSON.stringify(good.issues));
    assert.deepEqual(good.value.outbound?.register, {
      registrar: 'sip.carrier.example:5080',
      username: 'u',
      password: 's3cret',
      expires: 3600,
      transport: 'udp',
      keepAliveSec: 25,
      tlsVerify: true,
    });
    assert.equal(good.value.outbound?.callerId.diversion?.reason, 'unconditional');
    assert.equal(good.value.outbound?.callerId.remotePartyId, false);
    assert.equal(good.value.trustPai, true);

    const bad = parseConfigText(
      [
        'name: reg',
        'outbound:',
        '  gateways: [{host: a}]',
        '  register: {registrar: "sip:host", username: u, password: p, expires: 0}',
        '  callerId:',
        '    assertedIdentity: "sip:a@b\\r\\nX-Injected: 1"',
        '    privacy: [none, id]',
        '    diversion: {identity: "<sip:a@b>", reason: bored}',
        '',
      ].join('\n'),
      'reg.yaml',
      trunkSchema,
      {},
    );
    assert.equal(bad.ok, false);
    if (bad.ok) return;
    assert.deepEqual(
      bad.issues.map((i) => `${i.line} ${i.path}`),
      [
        '4 outbound.register.registrar',
        '4 outbound.register.expires',
        '6 outbound.callerId.assertedIdentity',
        '7 outbound.callerId.privacy',
        '8 outbound.callerId.diversion.identity',
        '8 outbound.callerId.diversion.reason',
      ],
    );
    assert.match(bad.issues[2]?.message ?? '', /a SIP URI .* or an E\.164 number/);
  });

  it('names a missing required key at its parent', async () => {
    const missing = parseConfigText('name: x\noutbound:\n  maxAttempts: 2\n', 'f.yaml', trunkSchema, {});
    assert.equal(missing.ok, false);
    if (!missing.ok) {
      assert.equal(missing.issues[0]?.path, 'outbound.gateways');
      assert.equal(missing.issues[0]?.line, 3);
      assert.match(missing.issues[0]?.message ?? '', /missing required key/);
    }
  });

  it('collects errors from all files of a sip-profiles directory', async () => {
    const result = await loadSipProfiles(`${fixtures}broken`, {});
    assert.equal(result.ok, false);
    if (!result.ok) {
      const files = new Set(result.issues.map((i) => i.file.split('/').pop()));
      assert.deepEqual([...files].sort(), ['sip-profiles-bad.yaml', 'syntax.yaml']);
    }
  });

  it('the committed JSON Schemas are up to date (regenerate: npx tsx src/config/generate-schema.ts)', () => {
    assert.equal(readFileSync('sip-profiles/schema.json', 'utf8'), schemaFileText(trunkJsonSchema()));
    assert.equal(
      readFileSync('sip-profiles/gateway.schema.json', 'utf8'),
      schemaFileText(gatewayJsonSchema()),
    );
  });

  it('the example trunks validate', async () => {
    const result = await loadSipProfiles('sip-profiles', {
      EXAMPLE_CARRIER_PASSWORD: 'a',
      OFFICE_PBX_PASSWORD: 'b',
      EXAMPLE_REGISTRATION_PASSWORD: 'c',
      EXAMPLE_SECURE_TRUNK_PASSWORD: 'd',
    });
    assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.issues));
    const secure = result.value.get('secure-carrier')?.value;
    assert.equal(secure?.media.encryption, 'required');
    assert.equal(secure?.outbound?.auth?.realm, 'carrier.example');
    assert.equal(secure?.outbound?.callerId?.assertedIdentity, '+15550123');
  });

  it('the embedded default listens on loopback and routes everything to the demo bot', () => {
    const config = defaultConfig();
    assert.deepEqual(
      config.gateway.listen.map((l) => `${l.transport}:${l.host}:${l.port}`),
      ['udp:127.0.0.1:5060', 'tcp:127.0.0.1:5060'],
    );
    assert.equal(config.gateway.routes[0]?.match, '*');
    assert.equal(config.gateway.routes[0]?.target.url, 'builtin:echo');
    assert.deepEqual(config.trunks.get('local')?.inbound?.allowedCidrs, ['127.0.0.0/8', '::1/128']);
  });
});
