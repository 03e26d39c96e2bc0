import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CachingDns } from '../../src/trunks/index.js';
import { FakeClock, type Logger, silentLogger } from '../../src/util/index.js';
import { DEFAULT_DNS_CACHE, FakeDns } from './helpers/fake-dns.js';

/** A logger that keeps its lines as `level message`. */
function recordingLogger(lines: string[]): Logger {
  const logger: Logger = {
    debug: (_obj, msg) => lines.push(`debug ${msg}`),
    info: (_obj, msg) => lines.push(`info ${msg}`),
    warn: (_obj, msg) => lines.push(`warn ${msg}`),
    error: (_obj, msg) => lines.push(`error ${msg}`),
    child: () => logger,
  };
  return logger;
}

function setup(config = DEFAULT_DNS_CACHE, logger = silentLogger) {
  const clock = new FakeClock();
  const client = new FakeDns();
  const dns = new CachingDns(client, { clock, logger, config });
  return { clock, client, dns };
}

describe('CachingDns', () => {
  it('keeps an A answer for its TTL on the injected clock, then asks again', async () => {
    const { clock, client, dns } = setup();
    client.aRecords.set('sbc.test', [
      { address: '192.0.2.1', ttl: 120 },
      { address: '192.0.2.2', ttl: 60 },
    ]);
    const first = await dns.a.query('sbc.test');
    assert.ok(first.ok);
    assert.equal(first.expiresAtMs, 60_000, 'the smallest TTL of the answer');
    clock.advance(59_999);
    await dns.a.query('sbc.test');
    assert.equal(client.count('A sbc.test'), 1);
    clock.advance(1);
    await dns.a.query('sbc.test');
    assert.equal(client.count('A sbc.test'), 2);
  });

  it('holds TTLs within [minTtlSec, maxTtlSec]; NAPTR and SRV (no TTL from node:dns) for minTtlSec', async () => {
    const config = { ...DEFAULT_DNS_CACHE, minTtlSec: 30, maxTtlSec: 600 };
    const { client, dns } = setup(config);
    client.aRecords.set('short.test', [{ address: '192.0.2.1', ttl: 0 }]);
    client.aRecords.set('long.test', [{ address: '192.0.2.2', ttl: 604_800 }]);
    client.srvRecords.set('_sip._udp.x.test', [{ name: 'a.x.test', port: 5060, priority: 1, weight: 1 }]);
    assert.equal((await dns.a.query('short.test')).expiresAtMs, 30_000);
    assert.equal((await dns.a.query('long.test')).expiresAtMs, 600_000);
    assert.equal((await dns.srv.query('_sip._udp.x.test')).expiresAtMs, 30_000);
  });

  it('remembers NXDOMAIN for negativeTtlSec and asks again after', async () => {
    const { clock, client, dns } = setup({ ...DEFAULT_DNS_CACHE, negativeTtlSec: 20 });
    const missing = await dns.a.query('gone.test');
    assert.deepEqual(missing, { ok: false, failure: 'not_found', code: 'ENOTFOUND', expiresAtMs: 20_000 });
    clock.advance(19_000);
    await dns.a.query('gone.test');
    assert.equal(client.count('A gone.test'), 1);
    client.aRecords.set('gone.test', [{ address: '192.0.2.9', ttl: 60 }]);
    clock.advance(1000);
    assert.equal((await dns.a.query('gone.test')).ok, true);
  });

  it('serves the expired answer while the server fails, says so once, and stops after maxStaleSec', async () => {
    const lines: string[] = [];
    const config = { ...DEFAULT_DNS_CACHE, negativeTtlSec: 10, maxStaleSec: 100 };
    const { clock, client, dns } = setup(config, recordingLogger(lines));
    client.aRecords.set('sbc.test', [{ address: '192.0.2.1', ttl: 60 }]);
    await dns.a.query('sbc.test');
    client.serverError = 'ESERVFAIL';
    clock.advance(60_000);
    const stale = await dns.a.query('sbc.test');
    assert.deepEqual(stale, {
      ok: true,
      records: [{ address: '192.0.2.1', ttl: 60 }],
      stale: true,
      expiresAtMs: 70_000,
    });
    clock.advance(5000);
    await dns.a.query('sbc.test'); // within negativeTtlSec: not asked again
    assert.equal(client.count('A sbc.test'), 2);
    for (let i = 0; i < 5; i++) {
      clock.advance(10_000);
      assert.equal((await dns.a.query('sbc.test')).ok, true);
    }
    assert.equal(client.count('A sbc.test'), 7);
    assert.deepEqual(lines, ['warn DNS server failing: serving the expired answer until it answers again']);

    client.serverError = undefined;
    clock.advance(10_000);
    const fresh = await dns.a.query('sbc.test');
    assert.ok(fresh.ok && !fresh.stale);
    assert.equal(lines.at(-1), 'info DNS answers again');

    // Answered at 125 s: expires at 185 s, may be served stale until 285 s. Failing at 285 s,
    // there is nothing left to serve; the failure is remembered until 295 s.
    client.serverError = 'ETIMEOUT';
    clock.advance(160_000);
    const gone = await dns.a.query('sbc.test');
    assert.deepEqual(gone, { ok: false, failure: 'server_failure', code: 'ETIMEOUT', expiresAtMs: 295_000 });
  });

  it('never serves a stale answer after NXDOMAIN: the name is gone', async () => {
    const { clock, client, dns } = setup();
    client.aRecords.set('sbc.test', [{ address: '192.0.2.1', ttl: 60 }]);
    await dns.a.query('sbc.test');
    client.aRecords.delete('sbc.test');
    clock.advance(60_000);
    assert.equal((await dns.a.query('sbc.test')).ok, false);
  });

  it('asks once for concurrent lookups of one name', async () => {
    const { client, dns } = setup();
    client.aRecords.set('sbc.test', [{ address: '192.0.2.1', ttl: 60 }]);
    const answers = await Promise.all([dns.a.query('sbc.test'), dns.a.query('sbc.test')]);
    assert.deepEqual(
      answers.map((a) => a.ok),
      [true, true],
    );
    assert.equal(client.count('A sbc.test'), 1);
  });

  it('keeps at most maxEntries names per record type, dropping the least recently used', async () => {
    const { client, dns } = setup({ ...DEFAULT_DNS_CACHE, maxEntries: 16 });
    for (let i = 0; i < 16; i++) client.aRecords.set(`n${i}.test`, [{ address: '192.0.2.1', ttl: 60 }]);
    client.aRecords.set('extra.test', [{ address: '192.0.2.1', ttl: 60 }]);
    for (let i = 0; i < 16; i++) await dns.a.query(`n${i}.test`);
    await dns.a.query('n0.test'); // n0 used again: n1 is now the oldest
    await dns.a.query('extra.test');
    await dns.a.query('n0.test');
    await dns.a.query('n1.test');
    assert.equal(client.count('A n0.test'), 1);
    assert.equal(client.count('A n1.test'), 2);
  });

  it('turns odd error codes into a bounded code', async () => {
    const { client, dns } = setup();
    client.errors.set('A odd.test', 'weird code from somewhere');
    assert.deepEqual(await dns.a.query('odd.test'), {
      ok: false,
      failure: 'server_failure',
      code: 'EOTHER',
      expiresAtMs: 30_000,
    });
  });
});
