/**
 * RFC 3263 server location against a real DNS server: dnsmasq on a loopback port serves a
 * NAPTR record for `trunk.test` pointing at `_sip._udp.trunk.test`, whose two SRV targets are
 * a SIPp carrier frozen with SIGSTOP (priority 10: its socket is bound but nothing answers)
 * and a live SIPp carrier (priority 20). The trunk's first gateway, `missing.test`, does not
 * exist (NXDOMAIN). Through a real `patchbay start`:
 * 1. the first call fails over from the missing name (dns_failure) to the frozen target and,
 *    at the attempt timeout (not Timer B), to the live one, which answers;
 * 2. OPTIONS probing marks the frozen target down while its sibling stays up, and /v1/trunks
 *    shows both targets; the next call goes straight to the live target, whose setup time is
 *    the baseline the first call's is judged against;
 * 3. with dnsmasq stopped and the answers expired, calls still reach the live target on the
 *    expired answers, which the log says once per name.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type DnsmasqHandle, skipWithoutDnsmasq, startDnsmasq } from './helpers/dnsmasq.js';
import { type GatewayProcess, placeCall, startGatewayProcess } from './helpers/gateway-process.js';
import { freePort, type SippHandle, skipWithoutSipp, startSipp } from './helpers/sipp.js';

const skip = skipWithoutSipp() || skipWithoutDnsmasq();
const CARRIER_ANSWER = join(import.meta.dirname, '../../../fixtures/sipp/carrier_answer.xml');
const ATTEMPT_TIMEOUT_MS = 2000;
const PROBING = { intervalMs: 1000, timeoutMs: 1000, failuresToMarkDown: 3, successesToMarkUp: 1, jitter: 0 };

interface Attempt {
  gateway: string;
  outcome: string;
}
interface CallRecordView {
  id: string;
  setupMs?: number;
  attempts: Attempt[];
}
interface TrunkHealth {
  gatewayId: string;
  liveness: string;
}

/**
 * True once something holds the UDP port and SIPp is still running 200 ms later (one that
 * found the port taken has exited by then); false if `exited` settles first or 5 s pass.
 */
async function udpBound(port: number, exited: Promise<unknown>): Promise<boolean> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  for (let attempt = 0; attempt < 50 && !gone; attempt++) {
    const free = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
    });
    if (!free) {
      await delay(200);
      return !gone;
    }
    await delay(100);
  }
  return false;
}

/**
 * A SIPp carrier holding its UDP port. freePort's port is the kernel's ephemeral one, which
 * another test's socket can take before SIPp binds it: then SIPp exits, and it starts again on
 * a new port (three tries).
 */
async function boundCarrier(): Promise<{ sipp: SippHandle; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const sipp = startSipp({ scenario: CARRIER_ANSWER, localPort: port, timeoutMs: 80_000 });
    if (await udpBound(port, sipp.result)) return { sipp, port };
    const { stderr } = await sipp.stop();
    if (attempt === 3) throw new Error(`SIPp never held UDP port ${port}: ${stderr.slice(-500)}`);
  }
}

test('named gateway: NAPTR -> SRV failover at the attempt timeout, per-target health, stale answers when DNS dies', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const dnsPort = await freePort();
  const carriers: SippHandle[] = [];
  let dns: DnsmasqHandle | undefined;
  let gateway: GatewayProcess | undefined;
  try {
    const frozen = await boundCarrier();
    carriers.push(frozen.sipp);
    const live = await boundCarrier();
    carriers.push(live.sipp);
    const [frozenPort, livePort] = [frozen.port, live.port];
    process.kill(frozen.sipp.pid ?? assert.fail('no SIPp pid'), 'SIGSTOP');
    dns = await startDnsmasq(dnsPort, {
      naptr: ['trunk.test,10,10,S,SIP+D2U,,_sip._udp.trunk.test'],
      srv: [
        `_sip._udp.trunk.test,frozen.trunk.test,${frozenPort},10,1`,
        `_sip._udp.trunk.test,live.trunk.test,${livePort},20,1`,
      ],
      hosts: ['frozen.trunk.test,127.0.0.1,1', 'live.trunk.test,127.0.0.1,1'],
    });
    gateway = await startGatewayProcess({
      botUrl: 'builtin:echo',
      extraGatewayYaml: [
        'dns:',
        `  servers: ["${dns.server}"]`,
        '  timeoutMs: 500',
        '  tries: 1',
        '  cache: { minTtlSec: 1, negativeTtlSec: 1 }',
      ].join('\n'),
      trunks: {
        named: [
          'name: named',
          'outbound:',
          '  gateways:',
          '    - { name: missing, host: missing.test, priority: 1 }',
          '    - { name: carrier, host: trunk.test, priority: 2 }',
          `  attemptTimeoutMs: ${ATTEMPT_TIMEOUT_MS}`,
          '  maxAttempts: 3',
          'codecs: [PCMU, PCMA]',
          `probing: ${JSON.stringify(PROBING)}`,
          '',
        ].join('\n'),
      },
    });
    const api = gateway.apiUrl;
    const started = gateway;
    const ids = {
      missing: 'named/missing/missing.test:5060',
      frozen: `named/carrier/frozen.trunk.test:${frozenPort}`,
      live: `named/carrier/live.trunk.test:${livePort}`,
    };
    const place = () => placeCall(started, 'named');
    /** The call's record, once written (the live carrier hangs up 1 s after answering). */
    const recordOf = async (id: string): Promise<CallRecordView> => {
      for (let i = 0; i < 100; i++) {
        const found = started.records().find((r) => r['id'] === id);
        if (found) return found as unknown as CallRecordView;
        await delay(100);
      }
      throw new Error(`no call record for ${id}`);
    };
    const health = async (): Promise<Map<string, string>> => {
      const body = (await (await fetch(`${api}/v1/trunks`)).json()) as { trunks: TrunkHealth[] };
      return new Map(body.trunks.map((h) => [h.gatewayId, h.liveness]));
    };
    const attemptsOf = (record: CallRecordView) => record.attempts.map((a) => [a.gateway, a.outcome]);

    // 1. NXDOMAIN, then the frozen SRV target until the attempt timeout, then the live one.
    const first = await recordOf(await place());
    assert.deepEqual(attemptsOf(first), [
      [ids.missing, 'dns_failure'],
      [ids.frozen, 'timeout'],
      [ids.live, '200'],
    ]);

    // 2. Probing: the frozen target down, its sibling up; then a call goes straight to it.
    let view = new Map<string, string>();
    for (let i = 0; i < 100 && view.get(ids.frozen) !== 'down'; i++) {
      await delay(100);
      view = await health();
    }
    assert.equal(view.get(ids.frozen), 'down', `/v1/trunks: ${JSON.stringify([...view])}`);
    assert.equal(view.get(ids.live), 'up');
    assert.equal(view.get(ids.missing), 'down', 'a name without an address fails its probes');
    const direct = await recordOf(await place());
    assert.deepEqual(attemptsOf(direct), [[ids.live, '200']]);
    const baselineMs = direct.setupMs ?? assert.fail('no setup time');
    const firstMs = first.setupMs ?? assert.fail('no setup time');
    t.diagnostic(`setup: ${firstMs.toFixed(0)} ms via failover, ${baselineMs.toFixed(0)} ms direct`);
    assert.ok(firstMs >= ATTEMPT_TIMEOUT_MS, `the frozen target held the call ${firstMs} ms`);
    assert.ok(
      firstMs <= ATTEMPT_TIMEOUT_MS + baselineMs + 1000,
      `failover after the attempt timeout: ${firstMs} ms against ${ATTEMPT_TIMEOUT_MS} + ${baselineMs} ms`,
    );
    // Labels name the configured gateways; the SRV targets are in the records and /v1/trunks.
    const metrics = await (await fetch(`${api}/metrics`)).text();
    assert.match(
      metrics,
      /patchbay_call_attempts_total\{trunk="named",gateway="missing",status="dns_failure"\} 1/,
    );
    assert.match(metrics, /patchbay_call_attempts_total\{trunk="named",gateway="carrier",status="408"\} 1/);
    assert.match(metrics, /patchbay_call_attempts_total\{trunk="named",gateway="carrier",status="200"\} 2/);
    assert.match(metrics, /patchbay_trunk_score\{trunk="named",gateway="carrier"\} 1/);
    assert.ok(!metrics.includes('trunk.test'), 'no DNS name in a label');

    // 3. DNS gone: the expired answers carry the calls, said once per name.
    await dns.stop();
    await delay(1500);
    for (let call = 0; call < 2; call++) {
      const stale = await recordOf(await place());
      assert.deepEqual(attemptsOf(stale), [[ids.live, '200']]);
    }
    const staleLines = gateway
      .logs()
      .split('\n')
      .filter((line) => line.includes('serving the expired answer'));
    const names = staleLines.map((line) => {
      const { type, name } = JSON.parse(line) as { type: string; name: string };
      return `${type} ${name}`;
    });
    t.diagnostic(`expired answers served (logged once each): ${names.join(', ')}`);
    assert.ok(names.includes('SRV _sip._udp.trunk.test'), names.join(', '));
    assert.equal(new Set(names).size, names.length, `each name said once: ${names.join(', ')}`);
    assert.equal(gateway.child.exitCode, null, 'the gateway is still running');
  } finally {
    await gateway?.stop();
    await dns?.stop();
    await Promise.all(carriers.map((carrier) => carrier.stop()));
  }
});
