import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type GatewayFileConfig, gatewayFileSchema, parseConfigText } from '../../src/config/index.js';
import { startOnlyChanges } from '../../src/gateway/reload-scope.js';

function gatewayFile(text: string): GatewayFileConfig {
  const parsed = parseConfigText(text, 'gateway.yaml', gatewayFileSchema, {});
  assert.ok(parsed.ok, JSON.stringify(parsed));
  return parsed.value;
}

const TLS_LISTEN = (certFile: string, requireClientCert: boolean) =>
  `listen:\n  - { transport: udp, port: 5060 }\n  - transport: tls\n    port: 5061\n    tls: { certFile: ${certFile}, keyFile: key.pem, requireClientCert: ${requireClientCert} }\n`;

test('a reload names the start-only settings it changed, and nothing it applies', () => {
  const before = gatewayFile(`${TLS_LISTEN('cert.pem', false)}rtp: { portMin: 20000, portMax: 30000 }\n`);
  assert.deepEqual(startOnlyChanges(before, before), []);
  // New certificate files and new limits apply on reload: nothing to restart for.
  const renewed = gatewayFile(
    `${TLS_LISTEN('cert-2027.pem', false)}rtp: { portMin: 20000, portMax: 30000 }\nlimits: { maxCalls: 10 }\n`,
  );
  assert.deepEqual(startOnlyChanges(before, renewed), []);
  // Mutual TLS, the RTP range and the log level are fixed at start.
  const changed = gatewayFile(
    `${TLS_LISTEN('cert.pem', true)}rtp: { portMin: 20000, portMax: 40000 }\nmedia: { workers: 2 }\nlogLevel: debug\napi: { bearerToken: a-secret-token-of-length }\n`,
  );
  const names = startOnlyChanges(before, changed);
  assert.deepEqual(names, ['listen', 'rtp', 'media', 'api', 'logLevel']);
  assert.ok(!JSON.stringify(names).includes('secret'), 'names only, never values');
});
