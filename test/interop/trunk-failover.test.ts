/**
 * What ends an attempt, on the wire, against SIPp carriers behind a real `patchbay start`:
 * - "ringing" sends 180 at once and 200 after 3 s, past the trunk's 1 s attempt timeout: the
 *   call must stay with it (a CANCEL would fail SIPp's call) and never ring the callee again
 *   through the spare gateway;
 * - "busy" refuses with 503 and Retry-After: 30 (RFC 3261 §21.5.4): the first call fails over
 *   to the spare, and the next call goes to the spare without asking "busy" again.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { type GatewayProcess, placeCall, startGatewayProcess } from './helpers/gateway-process.js';
import { freePort, type SippHandle, skipWithoutSipp, startSipp } from './helpers/sipp.js';

const skip = skipWithoutSipp();
const FIXTURES = join(import.meta.dirname, '../../../fixtures/sipp');
const RING_MS = 3000;

interface Attempt {
  gateway: string;
  outcome: string;
}

const trunkYaml = (name: string, first: { name: string; port: number }, spare: number) =>
  [
    `name: ${name}`,
    'outbound:',
    '  gateways:',
    `    - { name: ${first.name}, host: 127.0.0.1, port: ${first.port}, priority: 1 }`,
    `    - { name: spare, host: 127.0.0.1, port: ${spare}, priority: 2 }`,
    '  attemptTimeoutMs: 1000',
    'probing: { enabled: false }',
    '',
  ].join('\n');

test('a ringing carrier keeps its call past the attempt timeout; a 503 Retry-After keeps the next call off it', {
  skip,
  timeout: 60_000,
}, async () => {
  const ports = { ringing: await freePort(), busy: await freePort(), spare: await freePort() };
  const sipp = (port: number, scenario: string, args: string[] = []): SippHandle =>
    startSipp({ scenario: join(FIXTURES, scenario), localPort: port, timeoutMs: 55_000, extraArgs: args });
  const carriers = [
    sipp(ports.ringing, 'carrier_ring_answer.xml', ['-d', String(RING_MS)]),
    sipp(ports.busy, 'carrier_503_retry_after.xml'),
    sipp(ports.spare, 'carrier_answer.xml'),
  ];
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGatewayProcess({
      botUrl: 'builtin:echo',
      trunks: {
        ring: trunkYaml('ring', { name: 'ringing', port: ports.ringing }, ports.spare),
        overload: trunkYaml('overload', { name: 'busy', port: ports.busy }, ports.spare),
      },
    });
    const process = gateway;
    const attemptsOf = async (id: string): Promise<string[]> => {
      const records = await process.recordsWhen((all) => all.some((r) => r['id'] === id), 15_000);
      const record = records.find((r) => r['id'] === id) ?? assert.fail(`no record of ${id}`);
      return (record['attempts'] as Attempt[]).map(({ gateway, outcome }) => `${gateway} ${outcome}`);
    };

    const rung = await placeCall(process, 'ring');
    assert.deepEqual(
      await attemptsOf(rung),
      ['ring/ringing 200'],
      'answered where it rang, no second ringing',
    );

    const refused = await placeCall(process, 'overload');
    assert.deepEqual(await attemptsOf(refused), ['overload/busy 503', 'overload/spare 200']);
    const next = await placeCall(process, 'overload');
    assert.deepEqual(await attemptsOf(next), ['overload/spare 200'], 'busy asked us to wait 30 s');

    const [ringing, busy] = await Promise.all(carriers.map((carrier) => carrier.stop()));
    assert.equal(ringing?.failedCalls, 0, 'no CANCEL reached the ringing carrier');
    assert.equal(busy?.createdCalls, 1, 'one INVITE reached the busy carrier');
  } finally {
    await gateway?.stop();
    await Promise.all(carriers.map((carrier) => carrier.stop()));
  }
});
