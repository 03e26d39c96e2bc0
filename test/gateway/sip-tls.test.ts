/**
 * The config's side of SIP over TLS: which checks a new outbound connection gets (a trunk
 * gateway's CA, tlsVerify and host; else the system CAs and the address), and that a reload
 * hands the transport new listener credentials only when they changed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gatewayFileSchema, makeSnapshot, type PatchbayConfig, trunkSchema } from '../../src/config/index.js';
import {
  gatewayDestination,
  listenSpecs,
  reloadTlsCredentials,
  tlsClientPolicy,
} from '../../src/gateway/sip-tls.js';
import type { TlsCredentials } from '../../src/sip/transport/tls.js';
import { silentLogger } from '../../src/util/index.js';

function config(certPem: string): PatchbayConfig {
  const gateway = gatewayFileSchema.parse({
    listen: [
      { transport: 'tls', host: '127.0.0.1', tls: { certFile: '/pki/gw.crt', keyFile: '/pki/gw.key' } },
    ],
  });
  const carrier = trunkSchema.parse({
    name: 'carrier',
    outbound: {
      gateways: [
        { host: 'SBC.carrier.example', port: 5061, transport: 'tls', tlsCaFile: '/pki/carrier-ca.pem' },
        { host: '192.0.2.9', port: 5061, transport: 'tls', tlsVerify: false },
      ],
    },
  });
  const files = new Map([
    ['/pki/gw.crt', certPem],
    ['/pki/gw.key', 'KEY'],
    ['/pki/carrier-ca.pem', 'CARRIER CA'],
  ]);
  const registered = trunkSchema.parse({
    name: 'registered',
    outbound: {
      gateways: [{ host: 'sbc.other.example' }],
      register: {
        registrar: 'reg.other.example:5062',
        username: 'u',
        password: 'p',
        transport: 'tls',
        tlsCaFile: '/pki/other-ca.pem',
      },
    },
  });
  files.set('/pki/other-ca.pem', 'OTHER CA');
  return makeSnapshot(gateway, [carrier, registered], [], [], files);
}

describe('gateway TLS settings', () => {
  it('checks a trunk gateway with its own CA and host name, others against the system CAs', () => {
    const snapshot = config('CERT');
    const destination = { transport: 'tls' as const, port: 5061 };
    // An SRV target's address: verified as the gateway's domain (RFC 5922 §4).
    const resolved = gatewayDestination('tls', '203.0.113.5', 5063, 'SBC.carrier.example');
    assert.deepEqual(tlsClientPolicy(snapshot, resolved), {
      serverName: 'SBC.carrier.example',
      verify: true,
      ca: 'CARRIER CA',
    });
    assert.equal(gatewayDestination('udp', '203.0.113.5', 5060, 'sbc').serverName, undefined);
    assert.deepEqual(tlsClientPolicy(snapshot, { ...destination, address: '192.0.2.9' }), {
      serverName: '192.0.2.9',
      verify: false,
    });
    assert.deepEqual(tlsClientPolicy(snapshot, { ...destination, address: '198.51.100.4' }), {
      serverName: '198.51.100.4',
      verify: true,
    });
  });

  it("checks a TLS registrar with its trunk's CA and its host name", () => {
    const registrar = gatewayDestination('tls', '203.0.113.8', 5062, 'reg.other.example');
    assert.deepEqual(tlsClientPolicy(config('CERT'), registrar), {
      serverName: 'reg.other.example',
      verify: true,
      ca: 'OTHER CA',
    });
  });

  it('listens with the PEM text the snapshot carries', () => {
    assert.deepEqual(listenSpecs(config('CERT')), [
      {
        transport: 'tls',
        address: '127.0.0.1',
        port: 5061,
        tls: { cert: 'CERT', key: 'KEY', requireClientCert: false },
      },
    ]);
  });

  it('hands new credentials to the transport on reload only when they changed', () => {
    const handed: TlsCredentials[] = [];
    const transport = { setTlsCredentials: (credentials: TlsCredentials) => void handed.push(credentials) };
    reloadTlsCredentials(transport, config('CERT'), config('CERT'), silentLogger);
    assert.equal(handed.length, 0);
    reloadTlsCredentials(transport, config('RENEWED'), config('CERT'), silentLogger);
    assert.equal(handed[0]?.cert, 'RENEWED');
  });
});
