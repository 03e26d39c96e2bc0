import assert from 'node:assert/strict';
import type { NaptrRecord } from 'node:dns';
import { describe, it } from 'node:test';
import { type OutboundGatewayConfig, trunkSchema } from '../../src/config/index.js';
import { MAX_TARGETS_PER_GATEWAY, type ServerLocator } from '../../src/trunks/index.js';
import { FakeClock } from '../../src/util/index.js';
import { FakeDns, fakeLocator } from './helpers/fake-dns.js';

function gateway(fields: Record<string, unknown>): OutboundGatewayConfig {
  const trunk = trunkSchema.parse({ name: 't', outbound: { gateways: [fields] } });
  return trunk.outbound?.gateways[0] ?? assert.fail('no gateway');
}

function naptr(service: string, replacement: string, order: number, preference = 10): NaptrRecord {
  return { flags: 'S', service, regexp: '', replacement, order, preference };
}

function setup(): { dns: FakeDns; locator: ServerLocator } {
  const dns = new FakeDns();
  return { dns, locator: fakeLocator(new FakeClock(), dns) };
}

describe('ServerLocator (RFC 3263)', () => {
  it('follows the NAPTR record for the configured transport to its SRV name (§4.1)', async () => {
    const { dns, locator } = setup();
    dns.naptrRecords.set('carrier.test', [
      naptr('SIPS+D2T', '_sips._tcp.carrier.test', 10),
      naptr('SIP+D2T', '_sip._tcp.tcp-pool.carrier.test', 20),
      naptr('SIP+D2U', '_sip._udp.udp-pool.carrier.test', 30, 20),
      naptr('SIP+D2U', '_sip._udp.preferred.carrier.test', 30, 10),
    ]);
    dns.srvRecords.set('_sip._udp.preferred.carrier.test', [
      { name: 'u1.carrier.test', port: 5070, priority: 1, weight: 1 },
    ]);
    dns.srvRecords.set('_sip._tcp.tcp-pool.carrier.test', [
      { name: 't1.carrier.test', port: 5080, priority: 1, weight: 1 },
    ]);
    const udp = await locator.targets(gateway({ host: 'carrier.test' }));
    assert.deepEqual(udp.ok && udp.targets, [
      { host: 'u1.carrier.test', port: 5070, priority: 1, weight: 1 },
    ]);
    const tcp = await locator.targets(gateway({ host: 'Carrier.Test.', transport: 'tcp' }));
    assert.deepEqual(tcp.ok && tcp.targets, [
      { host: 't1.carrier.test', port: 5080, priority: 1, weight: 1 },
    ]);
    assert.deepEqual(dns.asked, [
      'NAPTR carrier.test',
      'SRV _sip._udp.preferred.carrier.test',
      'SRV _sip._tcp.tcp-pool.carrier.test',
    ]);
  });

  it('without a NAPTR record for the transport, asks _sip._udp / _sip._tcp of the name', async () => {
    const { dns, locator } = setup();
    dns.naptrRecords.set('carrier.test', [naptr('SIP+D2T', '_sip._tcp.carrier.test', 10)]);
    dns.addService('carrier.test', [
      { host: 'b.carrier.test', port: 5062, priority: 20, weight: 1, address: '192.0.2.2' },
      { host: 'a.carrier.test', port: 5061, priority: 10, weight: 1, address: '192.0.2.1' },
    ]);
    const answer = await locator.targets(gateway({ host: 'carrier.test' }));
    assert.ok(answer.ok);
    assert.deepEqual(
      answer.targets.map((t) => `${t.priority} ${t.host}:${t.port}`),
      ['10 a.carrier.test:5061', '20 b.carrier.test:5062'],
    );
    assert.equal(dns.count('SRV _sip._udp.carrier.test'), 1);
    assert.equal(answer.expiresAtMs, 10_000, 'SRV and NAPTR answers are kept minTtlSec');
  });

  it('over TLS: SIPS+D2T to _sips._tcp, and an address or a name without SRV on 5061', async () => {
    const { dns, locator } = setup();
    dns.naptrRecords.set('carrier.test', [
      naptr('SIP+D2U', '_sip._udp.carrier.test', 10),
      naptr('SIPS+D2T', '_sips._tcp.secure.carrier.test', 20),
    ]);
    dns.srvRecords.set('_sips._tcp.secure.carrier.test', [
      { name: 's1.carrier.test', port: 5063, priority: 1, weight: 1 },
    ]);
    const named = await locator.targets(gateway({ host: 'carrier.test', transport: 'tls' }));
    assert.deepEqual(named.ok && named.targets, [
      { host: 's1.carrier.test', port: 5063, priority: 1, weight: 1 },
    ]);
    const plain = await locator.targets(gateway({ host: 'plain.test', transport: 'tls' }));
    assert.deepEqual(plain.ok && plain.targets, [{ host: 'plain.test', port: 5061, priority: 0, weight: 1 }]);
    assert.equal(dns.count('SRV _sips._tcp.plain.test'), 1);
    const address = await locator.targets(gateway({ host: '192.0.2.7', transport: 'tls' }));
    assert.deepEqual(address.ok && address.targets, [
      { host: '192.0.2.7', port: 5061, priority: 0, weight: 1 },
    ]);
  });

  it('with no SRV records, the name itself at 5060 (§4.2)', async () => {
    const { locator } = setup();
    const answer = await locator.targets(gateway({ host: 'plain.test' }));
    assert.deepEqual(answer.ok && answer.targets, [
      { host: 'plain.test', port: 5060, priority: 0, weight: 1 },
    ]);
  });

  it('an explicit port, an IP address or localhost is one target and asks no NAPTR or SRV', async () => {
    const { dns, locator } = setup();
    for (const [fields, target] of [
      [
        { host: 'sbc.test', port: 5080 },
        { host: 'sbc.test', port: 5080 },
      ],
      [{ host: '192.0.2.7' }, { host: '192.0.2.7', port: 5060 }],
      [
        { host: '2001:db8::7', port: 5090 },
        { host: '2001:db8::7', port: 5090 },
      ],
      [{ host: 'localhost' }, { host: 'localhost', port: 5060 }],
    ] as const) {
      const answer = await locator.targets(gateway(fields));
      assert.deepEqual(answer.ok && answer.targets, [{ ...target, priority: 0, weight: 1 }]);
    }
    assert.deepEqual(dns.asked, []);
    assert.deepEqual(await locator.address('localhost', 5060), { ok: true, address: '127.0.0.1' });
    assert.deepEqual(await locator.address('192.0.2.7', 5060), { ok: true, address: '192.0.2.7' });
    assert.deepEqual(dns.asked, []);
  });

  it('resolves a target by A, else AAAA; a failing server is not asked for AAAA', async () => {
    const { dns, locator } = setup();
    dns.aaaaRecords.set('v6.test', [{ address: '2001:db8::1', ttl: 60 }]);
    dns.aRecords.set('v4.test', [{ address: '192.0.2.4', ttl: 60 }]);
    dns.errors.set('A broken.test', 'ESERVFAIL');
    assert.deepEqual(await locator.address('v6.test', 5060), { ok: true, address: '2001:db8::1' });
    assert.deepEqual(await locator.address('v4.test', 5060), { ok: true, address: '192.0.2.4' });
    assert.deepEqual(await locator.address('broken.test', 5060), {
      ok: false,
      detail: 'A broken.test: ESERVFAIL',
    });
    assert.deepEqual(await locator.address('none.test', 5060), {
      ok: false,
      detail: 'A/AAAA none.test: ENOTFOUND',
    });
    assert.equal(dns.count('AAAA v4.test') + dns.count('AAAA broken.test'), 0);
  });

  it('gives every address of a name, those that failed at that port in the last minute last (§4.2, §4.3)', async () => {
    const dns = new FakeDns();
    const clock = new FakeClock();
    const locator = fakeLocator(clock, dns);
    dns.aRecords.set(
      'sbc.test',
      ['192.0.2.1', '192.0.2.2', '192.0.2.3'].map((address) => ({ address, ttl: 600 })),
    );
    const addresses = async (port: number) => {
      const answer = await locator.addresses('sbc.test', port);
      return answer.ok ? answer.addresses : answer.detail;
    };
    assert.deepEqual(await addresses(5060), ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    locator.failed('192.0.2.1', 5060);
    clock.advance(1000);
    locator.failed('192.0.2.2', 5060);
    assert.deepEqual(await addresses(5060), ['192.0.2.3', '192.0.2.1', '192.0.2.2']);
    assert.deepEqual(
      await addresses(5070),
      ['192.0.2.1', '192.0.2.2', '192.0.2.3'],
      'another port is another server',
    );
    assert.deepEqual(await locator.address('sbc.test', 5060), { ok: true, address: '192.0.2.3' });
    clock.advance(59_000);
    assert.deepEqual(await addresses(5060), ['192.0.2.1', '192.0.2.3', '192.0.2.2']);
    clock.advance(1000);
    assert.deepEqual(await addresses(5060), ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
  });

  it('reports a failing SRV lookup and a "." target (RFC 2782: no service here)', async () => {
    const { dns, locator } = setup();
    dns.errors.set('SRV _sip._udp.down.test', 'ETIMEOUT');
    dns.srvRecords.set('_sip._udp.none.test', [{ name: '.', port: 0, priority: 0, weight: 0 }]);
    const down = await locator.targets(gateway({ host: 'down.test' }));
    assert.deepEqual(down.ok ? 'ok' : down.detail, 'SRV _sip._udp.down.test: ETIMEOUT');
    const none = await locator.targets(gateway({ host: 'none.test' }));
    assert.deepEqual(none.ok ? 'ok' : none.detail, 'SRV _sip._udp.none.test: no service');
  });

  it(`keeps the ${MAX_TARGETS_PER_GATEWAY} most preferred SRV targets`, async () => {
    const { dns, locator } = setup();
    dns.srvRecords.set(
      '_sip._udp.big.test',
      Array.from({ length: 40 }, (_, i) => ({
        name: `s${i}.big.test`,
        port: 5060,
        priority: 40 - i,
        weight: 1,
      })),
    );
    const answer = await locator.targets(gateway({ host: 'big.test' }));
    assert.ok(answer.ok);
    assert.equal(answer.targets.length, MAX_TARGETS_PER_GATEWAY);
    assert.equal(Math.max(...answer.targets.map((t) => t.priority)), MAX_TARGETS_PER_GATEWAY);
  });
});
